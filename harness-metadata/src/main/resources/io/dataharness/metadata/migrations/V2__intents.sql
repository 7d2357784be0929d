-- DataHarness metadata store, schema version 2: write-ahead intents.
-- An intent lives in harness_intents from the version that opened it (opened_version) to the one
-- that completed it (completed_version, null while open); intent ids are single-use per table.
-- harness_sources.intent_id names the open intent covering a source, so that a commit, which
-- already locks the rows of the sources it changes, enforces intents without another query.
-- Existing stores have no intents: every new column starts null.

CREATE TABLE harness_intents (
  table_id BIGINT NOT NULL,
  intent_id VARCHAR(256) NOT NULL,
  kind VARCHAR(128) NOT NULL,
  owner VARCHAR(256) NOT NULL,
  sources VARCHAR NOT NULL,
  fencing_tokens VARCHAR NOT NULL,
  payload VARCHAR,
  opened_version BIGINT NOT NULL,
  opened_at TIMESTAMP WITH TIME ZONE NOT NULL,
  completed_version BIGINT,
  PRIMARY KEY (table_id, intent_id)
);
-- readers look for the intents open at a version: few are open, many were completed
CREATE INDEX harness_intents_completed ON harness_intents (table_id, completed_version);

ALTER TABLE harness_sources ADD COLUMN intent_id VARCHAR(256);
