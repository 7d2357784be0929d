-- DataHarness metadata store, schema version 5: state checkpoints.
-- Every 1,000th version of a table, the process that committed it writes the states of all the
-- sources the version has, so that reading an old version takes that checkpoint and the changes of
-- the versions after it (harness_versions.changes) instead of one index probe per source. A version
-- without a checkpoint near it (older history, a committer killed before writing one) is read
-- source by source as before. Expiry removes the checkpoints of removed versions.

CREATE TABLE IF NOT EXISTS harness_state_checkpoints (
  table_id BIGINT NOT NULL,
  version BIGINT NOT NULL,
  states VARCHAR NOT NULL,
  PRIMARY KEY (table_id, version)
);
