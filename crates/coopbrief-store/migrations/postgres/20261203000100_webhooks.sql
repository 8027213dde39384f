-- Webhooks: a report's (and a schedule's) notify target, and the deliveries outbox.
-- The secret is stored sealed (AES-256-GCM under the data service's webhook key, a random
-- nonce each): "v1." and the base64 of nonce and ciphertext. A dump alone does not reveal it.
ALTER TABLE reports ADD COLUMN notify_url TEXT;
ALTER TABLE reports ADD COLUMN notify_secret TEXT;
ALTER TABLE report_schedules ADD COLUMN notify_url TEXT;
ALTER TABLE report_schedules ADD COLUMN notify_secret TEXT;

-- One row per event of a report (succeeded, failed, issued), written in the transaction of
-- the report's change. Its id (UUIDv7) is the webhook-id, the same for every attempt.
CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    report_id       TEXT COLLATE "C" NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'GIVEN_UP')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- Unix milliseconds: when the next attempt is due (while PENDING).
    next_attempt_at BIGINT NOT NULL,
    -- Unix milliseconds: a sender holds the row until then (two replicas never send one attempt).
    claimed_until   BIGINT,
    last_error      TEXT,
    delivered_at    TEXT,
    created_at      TEXT NOT NULL
);

CREATE INDEX deliveries_by_report ON deliveries (report_id, id);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'PENDING';
