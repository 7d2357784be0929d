-- DataHarness metadata store, schema version 7 (PostgreSQL), after the statements of
-- ../V7__leases_on_sources.sql: harness_commit_states (version 4) reads the leases from the
-- sources' rows, and harness_abort(message) fails the statement that calls it with SQLSTATE DH001.
-- A commit statement calls it when it would otherwise commit half of its writes (a source's new
-- state without the table's new version): the transaction rolls back, and the client runs the
-- commit again statement by statement.

CREATE OR REPLACE FUNCTION harness_abort(message varchar) RETURNS boolean
  LANGUAGE plpgsql
AS $$
BEGIN
  RAISE EXCEPTION '%', message USING ERRCODE = 'DH001';
END
$$;

CREATE OR REPLACE FUNCTION harness_commit_states(
    p_namespace varchar, p_table varchar,
    c_operation varchar[], c_key varchar[], c_hash varchar[], c_summary varchar[],
    c_changes varchar[],
    s_commit int[], s_source varchar[], s_prev varchar[], s_next varchar[], s_owner varchar[],
    s_token bigint[])
  RETURNS TABLE (commit_position int, commit_version bigint, commit_schema_id int,
                 commit_time timestamptz)
  LANGUAGE plpgsql
  -- every statement looks rows up by key: its cached generic plan is as good as a custom one,
  -- and planning each call would cost more than running it
  SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
  v_table bigint;
  v_version bigint;
  v_schema int;
  v_at timestamptz;
  v_now timestamptz;
  v_found boolean[];
  v_bad boolean[];
  v_ok int[];
  r record;
BEGIN
  SELECT t.table_id INTO v_table FROM harness_tables t
    WHERE t.namespace = p_namespace AND t.table_name = p_table;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  -- lock the sources' rows (with their leases) in source id order (as every commit does),
  -- checking each as it comes
  FOR r IN
    SELECT u.j, u.pos, u.prev, u.owner, u.token, s.current_state, s.removed_version, s.intent_id,
           s.lock_owner AS held_by, s.fencing_token, s.lock_expires_at AS expires_at
      FROM unnest(s_commit, s_source, s_prev, s_owner, s_token)
             WITH ORDINALITY AS u(pos, source_id, prev, owner, token, j)
      JOIN harness_sources s ON s.table_id = v_table AND s.source_id = u.source_id
      ORDER BY u.source_id
      FOR UPDATE OF s
  LOOP
    v_found[r.j] := true;
    v_now := clock_timestamp(); -- the row is locked: its lock cannot change any more
    IF NOT coalesce(
        r.current_state = r.prev AND r.removed_version IS NULL AND r.intent_id IS NULL
        AND CASE WHEN r.owner IS NULL
                 THEN r.held_by IS NULL OR r.expires_at IS NULL OR r.expires_at <= v_now
                 ELSE r.held_by = r.owner AND r.fencing_token = r.token AND r.expires_at > v_now
            END, false) THEN
      v_bad[r.pos] := true;
    END IF;
  END LOOP;
  FOR j IN 1 .. coalesce(array_length(s_commit, 1), 0) LOOP
    IF v_found[j] IS NULL THEN
      v_bad[s_commit[j]] := true; -- no such source
    END IF;
  END LOOP;
  -- then the table's row
  SELECT t.current_version, t.current_schema_id, t.last_committed_at
    INTO v_version, v_schema, v_at
    FROM harness_tables t WHERE t.table_id = v_table FOR UPDATE;
  SELECT array_agg(i ORDER BY i) INTO v_ok
    FROM generate_series(1, coalesce(array_length(c_operation, 1), 0)) AS i
    WHERE v_bad[i] IS NULL
      AND (c_key[i] IS NULL
           OR NOT EXISTS (SELECT 1 FROM harness_versions v
                          WHERE v.table_id = v_table AND v.idempotency_key = c_key[i]));
  IF v_ok IS NULL THEN
    RETURN;
  END IF;
  v_at := greatest(v_at, clock_timestamp());
  INSERT INTO harness_versions (table_id, version, schema_id, committed_at, operation,
                                idempotency_key, request_hash, summary, changes)
    SELECT v_table, v_version + o.n, v_schema, v_at, c_operation[o.p], c_key[o.p], c_hash[o.p],
           c_summary[o.p], c_changes[o.p]
      FROM unnest(v_ok) WITH ORDINALITY AS o(p, n);
  INSERT INTO harness_source_states (table_id, source_id, version, state)
    SELECT v_table, u.source_id, v_version + o.n, u.next
      FROM unnest(v_ok) WITH ORDINALITY AS o(p, n)
      JOIN unnest(s_commit, s_source, s_next) AS u(pos, source_id, next)
        ON u.pos = o.p;
  UPDATE harness_sources s SET current_state = u.next
    FROM unnest(v_ok) AS o(p)
    JOIN unnest(s_commit, s_source, s_next) AS u(pos, source_id, next) ON u.pos = o.p
    WHERE s.table_id = v_table AND s.source_id = u.source_id;
  UPDATE harness_tables t
    SET current_version = v_version + array_length(v_ok, 1), last_committed_at = v_at
    WHERE t.table_id = v_table;
  RETURN QUERY
    SELECT o.p, v_version + o.n, v_schema, v_at FROM unnest(v_ok) WITH ORDINALITY AS o(p, n);
END
$$
;
