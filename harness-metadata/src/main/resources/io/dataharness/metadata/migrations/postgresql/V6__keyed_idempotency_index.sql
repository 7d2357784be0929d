-- DataHarness metadata store, schema version 6 (PostgreSQL): the unique index on idempotency keys
-- holds only the versions that have a key. A commit without one (an appender's, a benchmark's)
-- then adds no entry to it: one index insertion and about 60 bytes of WAL less per commit. The
-- uniqueness is the same (a null key never conflicted), and lookups by key (`idempotency_key = ?`)
-- use the partial index.
--
-- Idempotent, as every migration: a store that has it already changes nothing. On a store with
-- many versions, building the index blocks commits for as long as one scan of the versions table
-- takes (about 0.1 s per million versions, with the table in cache).
CREATE UNIQUE INDEX IF NOT EXISTS harness_versions_idempotency_key
  ON harness_versions (table_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
DROP INDEX IF EXISTS harness_versions_idempotency;
