-- Cooperation data and report requests.
--
-- Each resource keeps its validated domain value as a JSON body, with the columns that
-- queries filter, order or join on pulled out beside it. Foreign keys keep references whole:
-- a partner or sector still in use cannot be deleted.

CREATE TABLE partners (
    code      TEXT PRIMARY KEY NOT NULL,
    position  INTEGER NOT NULL,
    body      TEXT NOT NULL,
    revision  INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE sectors (
    code      TEXT PRIMARY KEY NOT NULL,
    position  INTEGER NOT NULL,
    body      TEXT NOT NULL,
    revision  INTEGER NOT NULL DEFAULT 1
);

-- The programme itself; its records live in `records`.
CREATE TABLE programmes (
    code      TEXT PRIMARY KEY NOT NULL,
    position  INTEGER NOT NULL,
    body      TEXT NOT NULL,
    revision  INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE programme_partners (
    programme TEXT NOT NULL REFERENCES programmes (code) ON DELETE CASCADE,
    partner   TEXT NOT NULL REFERENCES partners (code) ON DELETE RESTRICT,
    position  INTEGER NOT NULL,
    PRIMARY KEY (programme, partner)
);

-- Indicators (with their values), activities, projects, contributions, assessments, directions.
CREATE TABLE records (
    programme    TEXT NOT NULL REFERENCES programmes (code) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('indicator', 'activity', 'project', 'contribution', 'assessment', 'direction')),
    code         TEXT NOT NULL,
    position     INTEGER NOT NULL,
    sector       TEXT REFERENCES sectors (code) ON DELETE RESTRICT,
    period_start TEXT,
    period_end   TEXT,
    body         TEXT NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (programme, kind, code)
);

CREATE INDEX records_by_period ON records (programme, kind, period_start, period_end);

CREATE TABLE reports (
    id               TEXT PRIMARY KEY NOT NULL,
    programme        TEXT NOT NULL REFERENCES programmes (code) ON DELETE RESTRICT,
    period           TEXT NOT NULL,
    lang             TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    page_count       INTEGER,
    byte_size        INTEGER,
    sha256           TEXT,
    template_version TEXT
);

CREATE INDEX reports_by_state ON reports (state, id);
CREATE INDEX reports_by_programme ON reports (programme, id);
