-- Access control: bearer tokens (only their SHA-256 is kept) and the audit log of changes.

CREATE TABLE access_tokens (
    id          TEXT PRIMARY KEY NOT NULL,
    -- Who holds it ("alice", "worker-1"); unique among the tokens not revoked.
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin', 'worker')),
    -- Lowercase hex SHA-256 of the whole token; the token itself is never stored.
    token_hash  TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

CREATE UNIQUE INDEX access_tokens_active_name ON access_tokens (name) WHERE revoked_at IS NULL;

-- One row per successful change, newest last. Written after the change it records, not in
-- its transaction.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    role      TEXT NOT NULL,
    method    TEXT NOT NULL,
    resource  TEXT NOT NULL,
    -- What changed, as JSON.
    changes   TEXT NOT NULL
);
