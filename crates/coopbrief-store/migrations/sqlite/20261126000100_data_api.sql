-- The cooperation data API: status filters, programme-specific sectors and idempotent creates.

-- A project's status, pulled out of its body for the `status` filter of List.
ALTER TABLE records ADD COLUMN status TEXT;
UPDATE records SET status = json_extract(body, '$.status') WHERE kind = 'project';
CREATE INDEX records_by_sector ON records (sector);

-- The programme a programme-specific sector belongs to; NULL for the shared taxonomy.
-- No foreign key: an import writes sectors before the programme that owns them.
ALTER TABLE sectors ADD COLUMN programme TEXT;
UPDATE sectors SET programme = json_extract(body, '$.programme');

-- AIP-155: the first result of each Create that carried a request id, returned again on retry.
CREATE TABLE request_ids (
    request_id TEXT PRIMARY KEY NOT NULL,
    method     TEXT NOT NULL,
    response   TEXT NOT NULL,
    created_at TEXT NOT NULL
);
