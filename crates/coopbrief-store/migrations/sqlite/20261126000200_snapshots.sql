-- The day each briefing-data snapshot was first seen. Briefings carry this date rather than
-- the day they were rendered, so the same data gives the same document whenever it is asked
-- for; changed data is a new snapshot with a new date.
CREATE TABLE snapshots (
    programme  TEXT NOT NULL,
    data_hash  TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (programme, data_hash)
);
