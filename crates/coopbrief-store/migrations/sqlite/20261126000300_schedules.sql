-- Report schedules: a programme's briefing made once per closed period. The scheduler moves
-- `next_period` forward; the unique index on reports makes one report per (schedule, period)
-- however many data-service replicas run the scheduler at once.

CREATE TABLE report_schedules (
    id              TEXT PRIMARY KEY NOT NULL,
    programme       TEXT NOT NULL REFERENCES programmes (code) ON DELETE RESTRICT,
    cadence         TEXT NOT NULL CHECK (cadence IN ('monthly', 'quarterly', 'half-yearly', 'yearly')),
    time_zone       TEXT NOT NULL,
    lang            TEXT NOT NULL,
    template        TEXT NOT NULL DEFAULT '',
    pdf_standard    TEXT NOT NULL DEFAULT '',
    first_period    TEXT NOT NULL,
    grace_seconds   INTEGER NOT NULL DEFAULT 0,
    enabled         INTEGER NOT NULL DEFAULT 1,
    -- The next period to brief (the scheduler's cursor).
    next_period     TEXT NOT NULL,
    last_run_period TEXT,
    last_run_at     TEXT,
    -- Periods briefed late (after downtime or a pause), and periods left for the next tick.
    caught_up       INTEGER NOT NULL DEFAULT 0,
    backlog         INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE INDEX report_schedules_by_programme ON report_schedules (programme, id);

-- A report made by a schedule names it and the period it was made for. No foreign key: the
-- reports of a deleted schedule stay, still naming it.
ALTER TABLE reports ADD COLUMN schedule_id TEXT;
ALTER TABLE reports ADD COLUMN scheduled_period TEXT;

CREATE UNIQUE INDEX reports_by_schedule_period ON reports (schedule_id, scheduled_period)
    WHERE schedule_id IS NOT NULL;
CREATE INDEX reports_by_schedule ON reports (schedule_id, id) WHERE schedule_id IS NOT NULL;
