-- Cron cadences (`cron:<expression>`) beside the calendar ones, and a lease on outbox rows so
-- that several data-service replicas do not publish the same job.
--
-- SQLite cannot change a CHECK constraint in place, so `report_schedules` is rebuilt.

CREATE TABLE report_schedules_v2 (
    id              TEXT PRIMARY KEY NOT NULL,
    programme       TEXT NOT NULL REFERENCES programmes (code) ON DELETE RESTRICT,
    cadence         TEXT NOT NULL CHECK (cadence IN ('monthly', 'quarterly', 'half-yearly', 'yearly') OR cadence LIKE 'cron:%'),
    time_zone       TEXT NOT NULL,
    lang            TEXT NOT NULL,
    template        TEXT NOT NULL DEFAULT '',
    pdf_standard    TEXT NOT NULL DEFAULT '',
    first_period    TEXT NOT NULL,
    grace_seconds   INTEGER NOT NULL DEFAULT 0,
    enabled         INTEGER NOT NULL DEFAULT 1,
    next_period     TEXT NOT NULL,
    last_run_period TEXT,
    last_run_at     TEXT,
    caught_up       INTEGER NOT NULL DEFAULT 0,
    backlog         INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

INSERT INTO report_schedules_v2 SELECT id, programme, cadence, time_zone, lang, template, pdf_standard,
    first_period, grace_seconds, enabled, next_period, last_run_period, last_run_at, caught_up, backlog,
    created_at, updated_at FROM report_schedules;
DROP TABLE report_schedules;
ALTER TABLE report_schedules_v2 RENAME TO report_schedules;
CREATE INDEX report_schedules_by_programme ON report_schedules (programme, id);

-- Unix milliseconds until which a relay holds this row; NULL or past: free to claim.
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;

-- A counter every transaction that writes cooperation data moves: a cheap "has anything
-- changed?" for the cache of briefing data.
CREATE TABLE data_version (
    id      INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO data_version (id, version) VALUES (1, 0);
