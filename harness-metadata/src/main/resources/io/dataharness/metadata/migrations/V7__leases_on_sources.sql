-- DataHarness metadata store, schema version 7: a source's lease lives on its harness_sources row.
-- The columns of harness_locks (one row per source, kept after release so that fencing tokens only
-- grow) move onto the source's row, and harness_locks is dropped. A commit then checks a source's
-- state and its lease on one row, under one row lock: the common commit, one source under its
-- lock, changes that row with the check in its own WHERE clause and touches one relation less.
--
-- A process of an earlier release still running against the store fails its next lock or commit
-- with "relation harness_locks does not exist" (it never writes around the new leases); restart it
-- on this release. Migrating rewrites every harness_sources row once.

-- Idempotent, as every migration: on a store that has it already, it changes nothing.
CREATE TABLE IF NOT EXISTS harness_locks (
  table_id BIGINT NOT NULL,
  source_id VARCHAR(128) NOT NULL,
  owner VARCHAR(256),
  fencing_token BIGINT NOT NULL,
  acquired_at TIMESTAMP WITH TIME ZONE,
  expires_at TIMESTAMP WITH TIME ZONE,
  PRIMARY KEY (table_id, source_id)
);
ALTER TABLE harness_sources ADD COLUMN IF NOT EXISTS lock_owner VARCHAR(256);
ALTER TABLE harness_sources ADD COLUMN IF NOT EXISTS fencing_token BIGINT DEFAULT 0 NOT NULL;
ALTER TABLE harness_sources ADD COLUMN IF NOT EXISTS lock_acquired_at TIMESTAMP WITH TIME ZONE;
ALTER TABLE harness_sources ADD COLUMN IF NOT EXISTS lock_expires_at TIMESTAMP WITH TIME ZONE;
UPDATE harness_sources
  SET (lock_owner, fencing_token, lock_acquired_at, lock_expires_at) =
    (SELECT l.owner, l.fencing_token, l.acquired_at, l.expires_at FROM harness_locks l
     WHERE l.table_id = harness_sources.table_id AND l.source_id = harness_sources.source_id)
  WHERE EXISTS (SELECT 1 FROM harness_locks l
                WHERE l.table_id = harness_sources.table_id
                  AND l.source_id = harness_sources.source_id);
DROP TABLE harness_locks;
