-- Projections registered in SQL (1.8, issue 21): the API's objects and
-- privileges, every refusal with its SQLSTATE (and nothing registered by
-- it), and the life of one projection through the internal steps the
-- procedures are made of (the procedures commit, which a pgTAP
-- transaction cannot: their CALL here is 2D000).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION drivetribe CASCADE;
SELECT plan(50);

-- the API
SELECT has_function('drivetribe', 'grant_projector', ARRAY['regrole'], 'grant_projector(regrole)');
SELECT has_function('drivetribe', 'revoke_projector', ARRAY['regrole'], 'revoke_projector(regrole)');
SELECT has_function('drivetribe', 'drop_projection', ARRAY['text'], 'drop_projection(text)');
SELECT ok(to_regprocedure(p) IS NOT NULL, 'procedure ' || p)
  FROM unnest(ARRAY['drivetribe.create_projection(text, regprocedure, text[], text, regprocedure)',
                    'drivetribe.resume_projection(text)', 'drivetribe.reset_projection(text)',
                    'drivetribe.alter_projection(text, text)']) p;
SELECT has_view('drivetribe', 'projections', 'the projections view');
SELECT columns_are('drivetribe', 'projections',
  ARRAY['name', 'owner', 'kinds', 'mode', 'state', 'position_txid', 'position_seq', 'events_read',
        'last_batch_events', 'last_batch_events_per_s', 'last_batch_at', 'lag_events', 'lag_seconds',
        'failed_seq', 'last_error'], 'the view''s columns');
SELECT is((SELECT count(*) FROM pg_proc p
            WHERE p.oid = ANY (drivetribe_internal.projector_functions())
              AND has_function_privilege('public', p.oid, 'EXECUTE')), 0::bigint,
          'PUBLIC may execute none of the projection routines');
SELECT ok(NOT has_table_privilege('public', 'drivetribe.projections', 'SELECT'),
          'PUBLIC may not read the projections view');

-- a world, a projector and its functions
SELECT drivetribe.register_user(1, 'ann'), drivetribe.register_user(2, 'bob'),
       drivetribe.create_tribe(1, 1, 'Cars'), drivetribe.post_article(1, 1, 1, 'Hello'),
       drivetribe.view_article(1, 2), drivetribe.view_article(1);
CREATE ROLE tap_projector;
CREATE ROLE tap_other;
SELECT drivetribe.grant_projector('tap_projector');
SELECT drivetribe.grant_writer('tap_projector');
CREATE SCHEMA tap AUTHORIZATION tap_projector;
SET ROLE tap_projector;
CREATE TABLE tap.views (article_id bigint PRIMARY KEY, n bigint NOT NULL);
CREATE FUNCTION tap.count(events drivetribe.events[]) RETURNS void LANGUAGE sql AS $$
  INSERT INTO tap.views AS v SELECT e.article_id, count(*) FROM unnest(events) e GROUP BY 1
  ON CONFLICT (article_id) DO UPDATE SET n = v.n + excluded.n $$;
CREATE FUNCTION tap.wrong(events bigint[]) RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION tap.appends(events drivetribe.events[]) RETURNS void LANGUAGE plpgsql AS $$
  BEGIN PERFORM drivetribe.view_article(1); END $$;
-- a step of a projection from inside a handler would clear the guard and
-- give a batch twice
CREATE FUNCTION tap.steps(events drivetribe.events[]) RETURNS void LANGUAGE plpgsql AS $$
  BEGIN PERFORM drivetribe_internal.projection_step('tap_v'); PERFORM drivetribe.view_article(1); END $$;
RESET ROLE;
CREATE FUNCTION public.not_theirs(events drivetribe.events[]) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SET ROLE tap_projector;

CREATE FUNCTION pg_temp.reg(name text, handler text, kinds text[] DEFAULT NULL, mode text DEFAULT 'inline')
RETURNS text LANGUAGE sql AS $$
  SELECT format('SELECT drivetribe_internal.projection_register(%L, %L, %L, %L, NULL)', name, handler, kinds, mode) $$;

-- refusals, each with its SQLSTATE
SELECT throws_ok(pg_temp.reg('Bad Name', 'tap.count(drivetribe.events[])'), '22023', NULL, 'a bad name: 22023');
SELECT throws_ok(pg_temp.reg('tap_v', 'tap.count(drivetribe.events[])', ARRAY['article_looked_at']),
                 '22023', 'unknown event kind "article_looked_at"', 'an unknown kind: 22023, named');
SELECT throws_ok(pg_temp.reg('tap_v', 'tap.count(drivetribe.events[])', ARRAY[]::text[]), '22023', NULL, 'empty kinds: 22023');
SELECT throws_ok(pg_temp.reg('tap_v', 'tap.count(drivetribe.events[])', NULL, 'sometimes'),
                 '22023', 'invalid projection mode "sometimes"', 'a bad mode: 22023, named');
SELECT throws_ok(pg_temp.reg('tap_v', 'tap.wrong(bigint[])'), '22023', NULL, 'a handler of the wrong signature: 22023');
SELECT throws_ok($$SELECT drivetribe_internal.projection_register('tap_v', NULL, NULL, 'inline', NULL)$$,
                 '22004', 'handler must not be null', 'a NULL handler: 22004');
SELECT throws_ok($$SELECT drivetribe_internal.projection_register(NULL, 'tap.count(drivetribe.events[])', NULL, 'inline', NULL)$$,
                 '22004', 'name must not be null', 'a NULL name: 22004');
SELECT throws_ok(pg_temp.reg('tap_v', 'public.not_theirs(drivetribe.events[])'), '42501', NULL,
                 'a handler of another role: 42501');
SELECT throws_ok($$CALL drivetribe.create_projection('tap_v', 'tap.count(drivetribe.events[])')$$, '2D000', NULL,
                 'create_projection() in a transaction block: 2D000');
SELECT is((SELECT count(*) FROM drivetribe.projections), 0::bigint, 'no refusal registered anything');

-- a projection's life: register, backfill, handover, inline, async, inline
SELECT lives_ok(pg_temp.reg('tap_v', 'tap.count(drivetribe.events[])', ARRAY['article_viewed']), 'registered');
SELECT throws_ok(pg_temp.reg('tap_v', 'tap.count(drivetribe.events[])'), '42710', 'projection "tap_v" already exists',
                 'the name taken: 42710');
SELECT is((SELECT state FROM drivetribe.projections), 'paused', 'registered and not backfilled by anyone: paused');
SELECT is(drivetribe_internal.projection_step('tap_v', false), 6::bigint, 'one batch reads the whole log (6 events)');
SELECT is(drivetribe_internal.projection_handover('tap_v'), true, 'handed over');
SELECT results_eq('SELECT mode, state, lag_events FROM drivetribe.projections',
                  $$VALUES ('inline'::text, 'live'::text, 0::bigint)$$, 'inline and live, no lag');
SELECT is((SELECT n FROM tap.views WHERE article_id = 1), 2::bigint, 'the backfill counted both views');
RESET ROLE;
SELECT drivetribe.view_article(1, 1);
SET ROLE tap_projector;
SELECT is((SELECT n FROM tap.views WHERE article_id = 1), 3::bigint, 'a write applied it inline');
SELECT is(drivetribe_internal.projection_alter('tap_v', 'async'), false, 'to async: nothing to catch up');
RESET ROLE;
SET LOCAL drivetribe.projection_worker = off;
SELECT drivetribe.view_article(1, 2);
SET ROLE tap_projector;
SELECT is((SELECT n FROM tap.views WHERE article_id = 1), 3::bigint, 'async: the write did not apply it');
SELECT results_eq('SELECT mode, state, lag_events FROM drivetribe.projections',
                  $$VALUES ('async'::text, 'live'::text, 1::bigint)$$, 'async, one event behind');
SELECT is(drivetribe_internal.projection_alter('tap_v', 'inline'), true, 'back to inline: to be caught up');
SELECT is(drivetribe_internal.projection_step('tap_v', false), 8::bigint,
          'the catch-up reads from the switch''s cursor: this transaction''s 8 events, one above the floor');
SELECT is(drivetribe_internal.projection_handover('tap_v'), true, 'handed over inline again');
SELECT is((SELECT n FROM tap.views WHERE article_id = 1), 4::bigint, 'every view counted once');
SELECT throws_ok($$SELECT drivetribe_internal.projection_alter('tap_v', 'often')$$, '22023', NULL, 'alter to a bad mode: 22023');
SELECT throws_ok($$SELECT drivetribe_internal.projection_alter('tap_v', NULL)$$, '22004', NULL, 'alter to NULL: 22004');
SELECT throws_ok($$SELECT drivetribe_internal.projection_alter('tap_none', 'async')$$, '42704',
                 'projection "tap_none" does not exist', 'alter an unknown projection: 42704');
SELECT throws_ok($$SELECT drivetribe_internal.projection_reset('tap_v')$$, '55000',
                 'projection "tap_v" has no reset function', 'a reset without a reset function: 55000');

-- a handler that calls the write API fails the write: 55000, naming it
SELECT lives_ok(pg_temp.reg('tap_appends', 'tap.appends(drivetribe.events[])', ARRAY['user_renamed']), 'registered');
SELECT is(drivetribe_internal.projection_step('tap_appends', false), 8::bigint, 'its backfill reads the log (none of its kinds)');
SELECT is(drivetribe_internal.projection_handover('tap_appends'), true, 'live');
RESET ROLE;
SELECT throws_ok($$SELECT drivetribe.rename_user(2, 'robert')$$, '55000',
                 'drivetribe.view_article() cannot be called by the handler of projection "tap_appends"',
                 'a handler that appends: 55000, naming the projection');
SET ROLE tap_projector;
SELECT lives_ok(pg_temp.reg('tap_steps', 'tap.steps(drivetribe.events[])', ARRAY['tribe_renamed']), 'registered');
SELECT is(drivetribe_internal.projection_step('tap_steps', false), 8::bigint, 'its backfill reads the log (none of its kinds)');
SELECT is(drivetribe_internal.projection_handover('tap_steps'), true, 'live');
RESET ROLE;
SELECT throws_ok($$SELECT drivetribe.rename_tribe(1, 'Motors')$$, '55000',
                 'projection_step() cannot be called by the handler of projection "tap_steps"',
                 'a handler that steps a projection: 55000, naming it');
-- another role
SET ROLE tap_other;
SELECT throws_ok($$SELECT drivetribe.drop_projection('tap_v')$$, '42501', NULL, 'a stranger may not drop it: 42501');
RESET ROLE;
SELECT drivetribe.grant_projector('tap_other');
SET ROLE tap_other;
SELECT throws_ok($$SELECT drivetribe.drop_projection('tap_v')$$, '42501', 'projection "tap_v" belongs to role "tap_projector"',
                 'another projector may not drop it: 42501');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
