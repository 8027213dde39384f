-- Reliable report jobs: a CANCELLED state, idempotent requests, a transactional outbox, and
-- the facts that make a PDF reproducible (data hash, PDF standard).
--
-- SQLite cannot change a CHECK constraint in place, so `reports` is rebuilt with the new
-- state and the new columns, keeping every row.

CREATE TABLE reports_v2 (
    id               TEXT PRIMARY KEY NOT NULL,
    programme        TEXT NOT NULL REFERENCES programmes (code) ON DELETE RESTRICT,
    period           TEXT NOT NULL,
    lang             TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    page_count       INTEGER,
    byte_size        INTEGER,
    sha256           TEXT,
    template_version TEXT,
    -- sha256 of the briefing data the PDF was rendered from: equal data, equal bytes.
    data_hash        TEXT,
    -- '' for plain PDF, 'a-2b' for PDF/A-2b.
    pdf_standard     TEXT NOT NULL DEFAULT '',
    -- AIP-155: a retried CreateReport with the same request id returns this report.
    request_id       TEXT,
    -- How many times a worker handed back a PDF for it (more than one: a duplicate job).
    uploads          INTEGER NOT NULL DEFAULT 0
);

INSERT INTO reports_v2 (id, programme, period, lang, state, attempt, error, created_at, updated_at,
                        page_count, byte_size, sha256, template_version)
SELECT id, programme, period, lang, state, attempt, error, created_at, updated_at,
       page_count, byte_size, sha256, template_version
FROM reports;

DROP TABLE reports;
ALTER TABLE reports_v2 RENAME TO reports;

CREATE INDEX reports_by_state ON reports (state, id);
CREATE INDEX reports_by_programme ON reports (programme, id);
CREATE UNIQUE INDEX reports_by_request_id ON reports (request_id) WHERE request_id IS NOT NULL;

-- Jobs to publish. Written in the same transaction as the report; a relay publishes them
-- with publisher confirms and marks a row sent only on the broker's ack.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at    TEXT,
    tries      INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;

-- Existing unfinished reports get a job, so none is stranded by the upgrade.
INSERT INTO outbox (report_id, created_at)
SELECT id, updated_at FROM reports WHERE state IN ('QUEUED', 'RUNNING') ORDER BY id;
