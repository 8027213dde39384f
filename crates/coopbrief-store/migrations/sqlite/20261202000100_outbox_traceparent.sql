-- The W3C trace context (`traceparent`) of the request or scheduler run that wrote a job, so that
-- the relay publishes it in the same trace; NULL when traces are off.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
