-- Issued briefings: a report request's letterhead, the facts of its issued PDF, a schedule's
-- letterhead and issue mode, and the registers that number issued documents per office and year.

-- The parts of the letterhead a request (or its schedule) set, as JSON; NULL when none.
ALTER TABLE reports ADD COLUMN letterhead TEXT;
-- Set together, once, when the report is issued.
ALTER TABLE reports ADD COLUMN issued_office TEXT;
ALTER TABLE reports ADD COLUMN issued_year INTEGER;
ALTER TABLE reports ADD COLUMN issued_number INTEGER;
ALTER TABLE reports ADD COLUMN issued_symbol TEXT;
ALTER TABLE reports ADD COLUMN issued_date TEXT;
ALTER TABLE reports ADD COLUMN issued_at TEXT;
ALTER TABLE reports ADD COLUMN issued_signer TEXT;
ALTER TABLE reports ADD COLUMN issued_certificate TEXT;
ALTER TABLE reports ADD COLUMN issued_page_count INTEGER;
ALTER TABLE reports ADD COLUMN issued_byte_size INTEGER;
ALTER TABLE reports ADD COLUMN issued_sha256 TEXT;
-- No number is given twice (NULLs, the drafts, are distinct).
CREATE UNIQUE INDEX reports_issued_number ON reports (issued_office, issued_year, issued_number);

ALTER TABLE report_schedules ADD COLUMN letterhead TEXT;
ALTER TABLE report_schedules ADD COLUMN issue TEXT NOT NULL DEFAULT 'draft';

-- The last number each office gave in each calendar year. Its row is locked while a number is
-- being given, so numbers follow one another with no gap.
CREATE TABLE registers (
    office TEXT NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (office, year)
);

-- The programme's issuer and place became its letterhead's office, which needs a register code
-- and a symbol no old row has: they are dropped, and the briefing shows its placeholders.
UPDATE programmes SET body = json_remove(body, '$.issuer', '$.place')
 WHERE json_extract(body, '$.issuer') IS NOT NULL OR json_extract(body, '$.place') IS NOT NULL;

-- The approver role (issues briefings). SQLite cannot change a CHECK constraint in place, so
-- `access_tokens` is rebuilt.
CREATE TABLE access_tokens_v2 (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'approver', 'admin', 'worker')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
INSERT INTO access_tokens_v2 SELECT id, name, role, token_hash, created_by, created_at, revoked_at FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_v2 RENAME TO access_tokens;
CREATE UNIQUE INDEX access_tokens_active_name ON access_tokens (name) WHERE revoked_at IS NULL;
