/* drivetribe--1.7--1.8.sql: projections your team writes in SQL (issue 21) */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION drivetribe UPDATE TO '1.8'" to load this file. \quit

------------------------------------------------------------------------
-- The registry (docs/projections.md).  A projection is a handler
-- function of its registrant, handler(events drivetribe.events[]), fed the
-- whole log once (the backfill, in batches) and then every new event:
-- inline, in the writer's transaction, or asynchronously after commit.
-- Functions are kept as their qualified signature text and roles as
-- regrole, not as regprocedure: pg_upgrade refuses a cluster whose tables
-- have regprocedure columns, and both forms survive pg_dump by name.
------------------------------------------------------------------------
CREATE TABLE drivetribe.projection_registry (
    name               text PRIMARY KEY
                       CHECK (name OPERATOR(pg_catalog.~) '^[a-z_][a-z0-9_]{0,62}$'),
    owner              regrole NOT NULL,
    handler            text NOT NULL,
    reset_handler      text,
    kinds              text[],
    mode               text NOT NULL CHECK (mode OPERATOR(pg_catalog.=) ANY (ARRAY['inline', 'async'])),
    state              text NOT NULL
                       CHECK (state OPERATOR(pg_catalog.=) ANY (ARRAY['backfilling', 'live', 'failed', 'paused'])),
    cursor_txid        pg_catalog.xid8 NOT NULL DEFAULT '0',
    cursor_seq         bigint NOT NULL DEFAULT 0,
    floor_seq          bigint NOT NULL DEFAULT 0,
    applied            bigint NOT NULL DEFAULT 0,
    last_batch_events  bigint,
    last_batch_seconds double precision,
    last_batch_at      timestamptz,
    failed_seq         bigint,
    last_error         text,
    created_at         timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('drivetribe.projection_registry', '');
COMMENT ON TABLE drivetribe.projection_registry IS
  'internal (projections): every registered projection, its handler, mode, state and position in the log (read_log()''s cursor); written only by the projection functions';
COMMENT ON COLUMN drivetribe.projection_registry.name IS 'the projection''s name (lower case, digits, underscores)';
COMMENT ON COLUMN drivetribe.projection_registry.owner IS 'the role that registered it: its handler runs as this role';
COMMENT ON COLUMN drivetribe.projection_registry.handler IS 'handler(events drivetribe.events[]) RETURNS void, its qualified signature';
COMMENT ON COLUMN drivetribe.projection_registry.reset_handler IS 'a () RETURNS void function reset_projection() runs first, or NULL';
COMMENT ON COLUMN drivetribe.projection_registry.kinds IS 'the event kinds the handler gets (NULL: every kind)';
COMMENT ON COLUMN drivetribe.projection_registry.mode IS 'inline (in the writer''s transaction) or async (after commit)';
COMMENT ON COLUMN drivetribe.projection_registry.state IS 'backfilling, live, failed or paused';
COMMENT ON COLUMN drivetribe.projection_registry.cursor_txid IS 'the txid of the last event read (read_log()''s cursor)';
COMMENT ON COLUMN drivetribe.projection_registry.cursor_seq IS 'the seq of the last event read (read_log()''s cursor)';
COMMENT ON COLUMN drivetribe.projection_registry.floor_seq IS 'events at or below this seq are not the async reader''s (applied inline before a switch)';
COMMENT ON COLUMN drivetribe.projection_registry.applied IS 'events read from the log for it, in all';
COMMENT ON COLUMN drivetribe.projection_registry.last_batch_events IS 'events read by its last batch';
COMMENT ON COLUMN drivetribe.projection_registry.last_batch_seconds IS 'how long its last batch took';
COMMENT ON COLUMN drivetribe.projection_registry.last_batch_at IS 'when its last batch committed';
COMMENT ON COLUMN drivetribe.projection_registry.failed_seq IS 'the seq of the batch its handler failed on (state failed)';
COMMENT ON COLUMN drivetribe.projection_registry.last_error IS 'its handler''s last error';
COMMENT ON COLUMN drivetribe.projection_registry.created_at IS 'when it was registered';

CREATE TABLE drivetribe.projectors (
    role regrole PRIMARY KEY
);
SELECT pg_catalog.pg_extension_config_dump('drivetribe.projectors', '');
COMMENT ON TABLE drivetribe.projectors IS
  'internal (projections): the roles grant_projector() allows to register projections';
COMMENT ON COLUMN drivetribe.projectors.role IS 'a role (and its members) that may register projections';

------------------------------------------------------------------------
-- C entry points: none is SECURITY DEFINER (each checks its caller and
-- switches to the extension's owner only to read the log or write the
-- registry; a handler always runs as its registrant).
------------------------------------------------------------------------
CREATE FUNCTION drivetribe_internal.projection_register(name text, handler regprocedure,
                                               kinds text[], mode text,
                                               reset_handler regprocedure)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_projection_register';
COMMENT ON FUNCTION drivetribe_internal.projection_register(text, regprocedure, text[], text, regprocedure) IS
  'internal (projections): create_projection()''s checks and registration, in state backfilling';

CREATE FUNCTION drivetribe_internal.projection_step(name text, cut boolean DEFAULT true)
RETURNS bigint
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_projection_step';
COMMENT ON FUNCTION drivetribe_internal.projection_step(text, boolean) IS
  'internal (projections): one batch of the log after the projection''s cursor to its handler (cut: only events no running transaction can precede); returns the events read';

CREATE FUNCTION drivetribe_internal.projection_handover(name text)
RETURNS boolean
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_projection_handover';
COMMENT ON FUNCTION drivetribe_internal.projection_handover(text) IS
  'internal (projections): when at most one batch is left, waits for the writers in progress (SHARE lock on the registry), applies the rest and makes the projection live; false when more is left';

CREATE FUNCTION drivetribe_internal.projection_note_error(name text, error text)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_projection_note_error';
COMMENT ON FUNCTION drivetribe_internal.projection_note_error(text, text) IS
  'internal (projections): what stopped a backfill, kept for the projections view';

CREATE FUNCTION drivetribe_internal.projection_reset(name text)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_projection_reset';
COMMENT ON FUNCTION drivetribe_internal.projection_reset(text) IS
  'internal (projections): waits for the writers in progress, runs the reset function as the registrant and puts the projection back to the start of the log';

CREATE FUNCTION drivetribe_internal.projection_alter(name text, mode text)
RETURNS boolean
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_projection_alter';
COMMENT ON FUNCTION drivetribe_internal.projection_alter(text, text) IS
  'internal (projections): alter_projection()''s switch; true when the projection must then be caught up and handed over (async to inline)';

CREATE FUNCTION drivetribe_internal.projection_running(name text)
RETURNS boolean
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_projection_running';
COMMENT ON FUNCTION drivetribe_internal.projection_running(text) IS
  'internal (projections): whether a session is backfilling the projection now (the projections view shows a backfill nobody runs as paused)';

CREATE FUNCTION drivetribe.drop_projection(name text)
RETURNS void
LANGUAGE c VOLATILE
AS 'MODULE_PATHNAME', 'drivetribe_drop_projection';
COMMENT ON FUNCTION drivetribe.drop_projection(text) IS
  'forget a projection (its registrant or a superuser): no handler is called for it again; its tables stay';

------------------------------------------------------------------------
-- The procedures a psql user calls: they commit after every batch
------------------------------------------------------------------------
-- (No SET search_path: a procedure with a SET clause cannot commit.  Both
-- run as their caller, and every name in them is qualified.)
CREATE PROCEDURE drivetribe.resume_projection(name text)
LANGUAGE plpgsql
AS $$
DECLARE
  batch  pg_catalog.int8;
  n      pg_catalog.int8;
  total  pg_catalog.int8 := 0;
  t0     pg_catalog.timestamptz := pg_catalog.clock_timestamp();
  shown  pg_catalog.timestamptz := pg_catalog.clock_timestamp();
  done   boolean;
  waits  pg_catalog.int8 := 0;
  err_state text;
  err_text text;
  err_detail text;
  err_hint text;
  err_context text;
BEGIN
  LOOP
    -- a handler's error is kept for the projections view, then raised
    BEGIN
      n := drivetribe_internal.projection_step(resume_projection.name);
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS err_state = RETURNED_SQLSTATE, err_text = MESSAGE_TEXT,
                              err_detail = PG_EXCEPTION_DETAIL, err_hint = PG_EXCEPTION_HINT,
                              err_context = PG_EXCEPTION_CONTEXT;
    END;
    IF err_state IS NOT NULL THEN
      PERFORM drivetribe_internal.projection_note_error(resume_projection.name, err_text);
      COMMIT;
      RAISE EXCEPTION USING ERRCODE = err_state, MESSAGE = err_text,
        DETAIL = pg_catalog.concat_ws(E'\n', NULLIF(err_detail, ''), err_context),
        HINT = COALESCE(NULLIF(err_hint, ''),
                                   pg_catalog.format('Fix the handler, then CALL drivetribe.resume_projection(%L).',
                                                     resume_projection.name));
    END IF;
    -- (read after the first call: the setting exists once the library is loaded)
    batch := pg_catalog.current_setting('drivetribe.projection_batch_size')::pg_catalog.int8;
    COMMIT;
    total := total OPERATOR(pg_catalog.+) n;
    IF pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) shown
         OPERATOR(pg_catalog.>=) '5 seconds'::pg_catalog.interval THEN
      RAISE NOTICE 'projection %: % events read, % events/s', resume_projection.name, total,
        pg_catalog.round(total OPERATOR(pg_catalog./)
          GREATEST(EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) t0), 0.001));
      shown := pg_catalog.clock_timestamp();
    END IF;
    CONTINUE WHEN n OPERATOR(pg_catalog.>=) batch;
    -- The handover's SHARE lock waits for the writers in progress, and
    -- writers that come meanwhile queue behind it: never for more than
    -- 100 ms (a prepared transaction, or a long one, holds the registry's
    -- lock until it ends); then the backfill goes on and tries again.
    BEGIN
      PERFORM pg_catalog.set_config('lock_timeout', '100ms', true);
      done := drivetribe_internal.projection_handover(resume_projection.name);
    EXCEPTION WHEN lock_not_available THEN
      done := false;
      waits := waits OPERATOR(pg_catalog.+) 1;
    END;
    EXIT WHEN done;
    COMMIT;
    IF waits OPERATOR(pg_catalog.>) 0 AND waits OPERATOR(pg_catalog.%) 50 OPERATOR(pg_catalog.=) 0 THEN
      RAISE NOTICE 'projection %: the handover has waited % times for a transaction that wrote events',
        resume_projection.name, waits
        USING HINT = 'pg_locks shows who holds drivetribe.projection_registry.';
    END IF;
    PERFORM pg_catalog.pg_sleep(0.2);   -- more than a batch left, or writers in the way
  END LOOP;
  COMMIT;
  RAISE NOTICE 'projection % is live: % events read', resume_projection.name, total;
END
$$;
COMMENT ON PROCEDURE drivetribe.resume_projection(text) IS
  'backfill a projection from its position to the end of the log, a committed batch at a time, then hand it over to live maintenance (CALL it outside a transaction block)';

CREATE PROCEDURE drivetribe.reset_projection(name text)
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM drivetribe_internal.projection_reset(reset_projection.name);
  COMMIT;
  CALL drivetribe.resume_projection(reset_projection.name);
END
$$;
COMMENT ON PROCEDURE drivetribe.reset_projection(text) IS
  'run a projection''s reset function (as its registrant), then backfill it again from the start of the log (CALL it outside a transaction block)';

CREATE PROCEDURE drivetribe.alter_projection(name text, mode text)
LANGUAGE plpgsql
AS $$
DECLARE
  catch_up boolean;
  waits    pg_catalog.int8 := 0;
BEGIN
  -- To async, a live projection waits for the writers in progress, and
  -- writers that come meanwhile queue behind it: never for more than
  -- 100 ms, then it tries again (as the handover does).  55P03 also comes
  -- from a projection whose row a backfill or the worker holds a moment.
  LOOP
    BEGIN
      PERFORM pg_catalog.set_config('lock_timeout', '100ms', true);
      catch_up := drivetribe_internal.projection_alter(alter_projection.name, alter_projection.mode);
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      waits := waits OPERATOR(pg_catalog.+) 1;
    END;
    COMMIT;
    IF waits OPERATOR(pg_catalog.%) 50 OPERATOR(pg_catalog.=) 0 THEN
      RAISE NOTICE 'projection %: the switch has waited % times for a transaction that wrote events, or for a backfill',
        alter_projection.name, waits
        USING HINT = 'pg_locks shows who holds drivetribe.projection_registry.';
    END IF;
    PERFORM pg_catalog.pg_sleep(0.1);
  END LOOP;
  COMMIT;
  IF catch_up THEN
    -- async to inline: from the worker's position to the end, then inline
    CALL drivetribe.resume_projection(alter_projection.name);
  END IF;
END
$$;
COMMENT ON PROCEDURE drivetribe.alter_projection(text, text) IS
  'switch a projection between inline and async at any time, with no event missed or applied twice (CALL it outside a transaction block)';

CREATE PROCEDURE drivetribe.create_projection(name text, handler regprocedure,
                                              kinds text[] DEFAULT NULL,
                                              mode text DEFAULT 'inline',
                                              reset_handler regprocedure DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM drivetribe_internal.projection_register(create_projection.name, create_projection.handler,
                                         create_projection.kinds, create_projection.mode,
                                         create_projection.reset_handler);
  COMMIT;
  CALL drivetribe.resume_projection(create_projection.name);
END
$$;
COMMENT ON PROCEDURE drivetribe.create_projection(text, regprocedure, text[], text, regprocedure) IS
  'register a projection: handler(events drivetribe.events[]) of yours, fed the whole log in batches and then every new event of the kinds (NULL: all), inline or async; CALL it outside a transaction block';

------------------------------------------------------------------------
-- What an operator sees
------------------------------------------------------------------------
CREATE VIEW drivetribe.projections AS
SELECT r.name, r.owner, r.kinds, r.mode,
       -- a backfill no session runs now (cancelled, failed, a crash) is paused
       CASE WHEN r.state OPERATOR(pg_catalog.=) 'backfilling'
             AND NOT drivetribe_internal.projection_running(r.name)
            THEN 'paused' ELSE r.state END AS state,
       r.cursor_txid AS position_txid, r.cursor_seq AS position_seq,
       r.applied AS events_read,
       r.last_batch_events,
       CASE WHEN r.last_batch_seconds OPERATOR(pg_catalog.>) 0
            THEN r.last_batch_events OPERATOR(pg_catalog./) r.last_batch_seconds END AS last_batch_events_per_s,
       r.last_batch_at,
       CASE WHEN r.mode OPERATOR(pg_catalog.=) 'inline' AND r.state OPERATOR(pg_catalog.=) 'live'
            THEN 0 ELSE lag.events END AS lag_events,
       CASE WHEN r.mode OPERATOR(pg_catalog.=) 'inline' AND r.state OPERATOR(pg_catalog.=) 'live'
            THEN 0
            ELSE COALESCE(EXTRACT(epoch FROM pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) lag.oldest), 0)
       END AS lag_seconds,
       r.failed_seq, r.last_error
  FROM drivetribe.projection_registry r
  -- the log after its position: every kind (an index-only count on
  -- (txid, seq)), and the first of those, the oldest it has not read
  LEFT JOIN LATERAL (
    SELECT (SELECT pg_catalog.count(*) FROM ONLY drivetribe.events e
             WHERE ROW(e.txid, e.seq) OPERATOR(pg_catalog.>) ROW(r.cursor_txid, r.cursor_seq)
               AND e.seq OPERATOR(pg_catalog.>) r.floor_seq) AS events,
           (SELECT e.occurred_at FROM ONLY drivetribe.events e
             WHERE ROW(e.txid, e.seq) OPERATOR(pg_catalog.>) ROW(r.cursor_txid, r.cursor_seq)
               AND e.seq OPERATOR(pg_catalog.>) r.floor_seq
             ORDER BY e.txid, e.seq LIMIT 1) AS oldest
     WHERE NOT (r.mode OPERATOR(pg_catalog.=) 'inline' AND r.state OPERATOR(pg_catalog.=) 'live')) lag ON true
 -- a projector sees its own (its handlers' errors may hold its data); a
 -- superuser sees every one
 WHERE pg_catalog.pg_has_role(r.owner, 'USAGE');
COMMENT ON COLUMN drivetribe.projections.name IS 'the projection';
COMMENT ON COLUMN drivetribe.projections.owner IS 'its registrant: its handler runs as this role';
COMMENT ON COLUMN drivetribe.projections.kinds IS 'the event kinds it gets (NULL: every kind)';
COMMENT ON COLUMN drivetribe.projections.mode IS 'inline or async';
COMMENT ON COLUMN drivetribe.projections.state IS 'backfilling (a session backfills it now), paused (its backfill stopped: resume_projection() goes on), live, or failed (async: its handler failed; resume_projection() retries)';
COMMENT ON COLUMN drivetribe.projections.position_txid IS 'txid of the last event read (read_log()''s cursor)';
COMMENT ON COLUMN drivetribe.projections.position_seq IS 'seq of the last event read (read_log()''s cursor)';
COMMENT ON COLUMN drivetribe.projections.events_read IS 'events read from the log for it by backfills';
COMMENT ON COLUMN drivetribe.projections.last_batch_events IS 'events its last batch read';
COMMENT ON COLUMN drivetribe.projections.last_batch_events_per_s IS 'its last batch''s events per second';
COMMENT ON COLUMN drivetribe.projections.last_batch_at IS 'when its last batch committed';
COMMENT ON COLUMN drivetribe.projections.lag_events IS 'events of the log (of every kind) after its position it has still to read (0 for a live inline one: it gets every event as it is written)';
COMMENT ON COLUMN drivetribe.projections.lag_seconds IS 'how old the first of those is, in seconds (0 when none)';
COMMENT ON COLUMN drivetribe.projections.failed_seq IS 'the seq its handler failed on';
COMMENT ON COLUMN drivetribe.projections.last_error IS 'its handler''s last error';
COMMENT ON VIEW drivetribe.projections IS
  'every registered projection the current role is (or is a member of) the owner of (all for a superuser): owner, kinds, mode, state (backfilling, live, failed, paused), position in the log (read_log()''s cursor), lag in events and seconds, the last batch and the last error';

------------------------------------------------------------------------
-- drivetribe.status: a row per registered projection, and the worker
------------------------------------------------------------------------
CREATE FUNCTION drivetribe_internal.projection_status_rows()
RETURNS TABLE (area text, item text, value text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  async_live bigint;
BEGIN
  area := 'registered projection';
  FOR item, value, detail IN
    SELECT p.name, p.mode OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) p.state,
           CASE p.state
             -- (the error itself may hold the registrant's data: its owner
             -- sees it in drivetribe.projections)
             WHEN 'failed' THEN pg_catalog.format(
               'its handler failed at seq %s (drivetribe.projections shows %s the error).  Fix the handler, then CALL drivetribe.resume_projection(%L)',
               p.failed_seq, p.owner, p.name)
             WHEN 'paused' THEN pg_catalog.format(
               'its backfill stopped at seq %s, %s events behind.  CALL drivetribe.resume_projection(%L) goes on',
               p.position_seq, p.lag_events, p.name)
             WHEN 'backfilling' THEN pg_catalog.format('at seq %s, %s events to go', p.position_seq, p.lag_events)
             ELSE pg_catalog.format('%s events behind, the oldest %s s old; registered by %s',
                                    p.lag_events, pg_catalog.round(p.lag_seconds::numeric, 1), p.owner)
           END
      FROM drivetribe.projections p ORDER BY p.name
  LOOP
    RETURN NEXT;
  END LOOP;
  SELECT pg_catalog.count(*) INTO async_live FROM drivetribe.projection_registry r
   WHERE r.mode OPERATOR(pg_catalog.=) 'async' AND r.state OPERATOR(pg_catalog.=) 'live';
  IF async_live OPERATOR(pg_catalog.>) 0 THEN
    item := 'projection worker';
    SELECT coalesce(pg_catalog.string_agg('pid ' OPERATOR(pg_catalog.||) a.pid, ', '), 'not running') INTO value
      FROM pg_catalog.pg_stat_activity a
     WHERE a.backend_type OPERATOR(pg_catalog.=) 'drivetribe projection worker'
       AND a.datname OPERATOR(pg_catalog.=) pg_catalog.current_database();
    detail := CASE WHEN value OPERATOR(pg_catalog.<>) 'not running'
      THEN pg_catalog.format('applies the %s live async projections after commit', async_live)
      ELSE 'none needed now: the next write, or CALL drivetribe.resume_projection() of an async projection, starts one (it needs a free max_worker_processes slot)' END;
    RETURN NEXT;
  END IF;
END
$$;
COMMENT ON FUNCTION drivetribe_internal.projection_status_rows() IS
  'internal (drivetribe.status_rows, the status view): a row per registered projection (its mode, state, lag or error and what to do), and the projection worker while an async projection is live';
REVOKE ALL ON FUNCTION drivetribe_internal.projection_status_rows() FROM PUBLIC;

CREATE OR REPLACE FUNCTION drivetribe.status_rows()
RETURNS TABLE (area text, item text, value text, detail text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'SELECT * FROM drivetribe_internal.status_rows() UNION ALL SELECT * FROM drivetribe_internal.projection_status_rows()';

------------------------------------------------------------------------
-- Grants
------------------------------------------------------------------------
CREATE FUNCTION drivetribe_internal.projector_functions()
RETURNS regprocedure[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT ARRAY['drivetribe_internal.projection_register(text, regprocedure, text[], text, regprocedure)',
               'drivetribe_internal.projection_step(text, boolean)',
               'drivetribe_internal.projection_handover(text)',
               'drivetribe_internal.projection_note_error(text, text)',
               'drivetribe_internal.projection_reset(text)',
               'drivetribe_internal.projection_alter(text, text)',
               'drivetribe_internal.projection_running(text)',
               'drivetribe.alter_projection(text, text)',
               'drivetribe.reset_projection(text)',
               'drivetribe.drop_projection(text)',
               'drivetribe.create_projection(text, regprocedure, text[], text, regprocedure)',
               'drivetribe.resume_projection(text)']::pg_catalog.regprocedure[]
$$;
COMMENT ON FUNCTION drivetribe_internal.projector_functions() IS
  'internal (grants): the routines grant_projector() lets a role execute';

CREATE FUNCTION drivetribe.grant_projector(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  f regprocedure;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  INSERT INTO drivetribe.projectors VALUES (role) ON CONFLICT DO NOTHING;
  -- regrole's text form is the quoted role name; nothing else is spliced.
  EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA drivetribe, drivetribe_internal TO %s', role);
  EXECUTE pg_catalog.format('GRANT SELECT ON drivetribe.projections TO %s', role);
  FOR f IN SELECT * FROM pg_catalog.unnest(drivetribe_internal.projector_functions()) LOOP
    EXECUTE pg_catalog.format('GRANT EXECUTE ON ROUTINE %s TO %s', f, role);
  END LOOP;
END
$$;
COMMENT ON FUNCTION drivetribe.grant_projector(regrole) IS
  'let a role register projections of its own (handlers it owns, run as itself) and see drivetribe.projections';

CREATE FUNCTION drivetribe.revoke_projector(role regrole)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  f regprocedure;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  DELETE FROM drivetribe.projectors p WHERE p.role OPERATOR(pg_catalog.=) revoke_projector.role;
  EXECUTE pg_catalog.format('REVOKE SELECT ON drivetribe.projections FROM %s', role);
  FOR f IN SELECT * FROM pg_catalog.unnest(drivetribe_internal.projector_functions()) LOOP
    EXECUTE pg_catalog.format('REVOKE EXECUTE ON ROUTINE %s FROM %s', f, role);
  END LOOP;
END
$$;
COMMENT ON FUNCTION drivetribe.revoke_projector(regrole) IS
  'undo grant_projector() (the role''s projections stay registered and keep running as it; drop_projection() ends them)';

REVOKE ALL ON TABLE drivetribe.projection_registry, drivetribe.projectors FROM PUBLIC;
REVOKE ALL ON TABLE drivetribe.projections FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe_internal.projection_register(text, regprocedure, text[], text, regprocedure) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe_internal.projection_step(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe_internal.projection_handover(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.drop_projection(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe_internal.projection_note_error(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe_internal.projection_reset(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe_internal.projection_alter(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe_internal.projection_running(text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE drivetribe.alter_projection(text, text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE drivetribe.reset_projection(text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE drivetribe.create_projection(text, regprocedure, text[], text, regprocedure) FROM PUBLIC;
REVOKE ALL ON PROCEDURE drivetribe.resume_projection(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe_internal.projector_functions() FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.grant_projector(regrole) FROM PUBLIC;
REVOKE ALL ON FUNCTION drivetribe.revoke_projector(regrole) FROM PUBLIC;
