-- DataHarness metadata store, schema version 3: version expiry.
-- oldest_version is the first version the table keeps: 1 until expire_versions removes older ones.
-- expiry describes the last expiry (when, and the retention asked for), for the error of a read of
-- an expired version. Existing tables keep every version.

ALTER TABLE harness_tables ADD COLUMN oldest_version BIGINT DEFAULT 1 NOT NULL;
ALTER TABLE harness_tables ADD COLUMN expiry VARCHAR;
