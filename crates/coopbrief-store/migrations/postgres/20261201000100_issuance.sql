-- Issued briefings: a report request's letterhead, the facts of its issued PDF, a schedule's
-- letterhead and issue mode, and the registers that number issued documents per office and year.

-- The parts of the letterhead a request (or its schedule) set, as JSON; NULL when none.
ALTER TABLE reports ADD COLUMN letterhead TEXT;
-- Set together, once, when the report is issued.
ALTER TABLE reports ADD COLUMN issued_office TEXT;
ALTER TABLE reports ADD COLUMN issued_year BIGINT;
ALTER TABLE reports ADD COLUMN issued_number BIGINT;
ALTER TABLE reports ADD COLUMN issued_symbol TEXT;
ALTER TABLE reports ADD COLUMN issued_date TEXT;
ALTER TABLE reports ADD COLUMN issued_at TEXT;
ALTER TABLE reports ADD COLUMN issued_signer TEXT;
ALTER TABLE reports ADD COLUMN issued_certificate TEXT;
ALTER TABLE reports ADD COLUMN issued_page_count BIGINT;
ALTER TABLE reports ADD COLUMN issued_byte_size BIGINT;
ALTER TABLE reports ADD COLUMN issued_sha256 TEXT;
-- No number is given twice (NULLs, the drafts, are distinct).
CREATE UNIQUE INDEX reports_issued_number ON reports (issued_office, issued_year, issued_number);

ALTER TABLE report_schedules ADD COLUMN letterhead TEXT;
ALTER TABLE report_schedules ADD COLUMN issue TEXT NOT NULL DEFAULT 'draft';

-- The last number each office gave in each calendar year. Its row is locked while a number is
-- being given, so numbers follow one another with no gap.
CREATE TABLE registers (
    office TEXT COLLATE "C" NOT NULL,
    year   BIGINT NOT NULL,
    last   BIGINT NOT NULL,
    PRIMARY KEY (office, year)
);

-- The programme's issuer and place became its letterhead's office, which needs a register code
-- and a symbol no old row has: they are dropped, and the briefing shows its placeholders.
UPDATE programmes SET body = ((body::jsonb) - 'issuer' - 'place')::text
 WHERE ((body::jsonb) - 'issuer' - 'place') <> body::jsonb;

-- The approver role (issues briefings).
ALTER TABLE access_tokens DROP CONSTRAINT access_tokens_role_check;
ALTER TABLE access_tokens ADD CONSTRAINT access_tokens_role_check
    CHECK (role IN ('viewer', 'editor', 'approver', 'admin', 'worker'));
