#!/usr/bin/env bash
# The trending example (issue 21, item 5): examples/trending/trending.sql
# installed by a role that is not a superuser, on a generated community,
# checked against SQL written independently over drivetribe.events.
#
#  1. A small community (scripts/generate_community.sql, 3 days of history:
#     some activity lies before the window).  A role with LOGIN, CREATE on
#     the database and drivetribe.grant_projector(), nothing more, runs the
#     script: the schema, the projection registered and backfilled.  This
#     database has no pg_cron (it lives in cron.database_name only): the
#     script says so and goes on.
#  2. The buckets of the window are exactly the independent computation's
#     (activity events per tribe, UTC hour and article, over the current
#     hour and the 23 before it, of articles never deleted); nothing older
#     than the window was written; trending(tribe, 5) of every tribe is the
#     independent top 5 (score views + 5 comments + 10 bumps, then
#     article_id descending).
#  3. Live calls (view_article, bump, post_comment, post_article,
#     delete_article) from a session with TimeZone Asia/Kolkata (hours at
#     :30 there) and an empty search_path: trending() follows inside the
#     writer's transaction, a rolled-back call leaves nothing, a new
#     article enters, a deleted one leaves and stays out; the buckets are
#     still exactly the independent computation's.
#  4. Expiry: buckets of hours before the window (written behind the
#     handler's back) change no read; trending.expire(), run as the role,
#     deletes exactly them.
#  5. reset_projection('trending'), as the role: the same rows as before.
#  6. CALL alter_projection('trending', 'async'), as the role: writes
#     (views, a comment, a deletion) reach the buckets through the
#     projection worker, equal to the independent computation once its lag
#     is 0; and back to inline, still equal.
#  7. pg_cron, in a cluster of its own (PGPORT + 21, cron.database_name =
#     its database): the script run twice by a role with USAGE on schema
#     cron registers one job "trending-expire" of that role, in that
#     database, hourly, running SELECT trending.expire(); the projection
#     is registered once.
# Needs PGHOST/PGPORT/PGUSER (a superuser) of a running server with
# drivetribe installed, PGDATABASE a fresh database (scripts/test.sh).
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T0=$SECONDS
db=${PGDATABASE:-drivetribe_e2e}
role=dt_trending_$$
work=$(mktemp -d)
chmod 755 "$work"

fail() { echo "trending_example: FAILED: $*"; exit 1; }
step() { printf 'trending_example: [%3d s] %s\n' $((SECONDS - T0)) "$*"; }
# the server under test (step 6 points PG* at a cluster of its own)
host=$PGHOST port=$PGPORT su=$PGUSER
q() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$su" -d "$db" "$@"; }     # as the superuser
r() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$host" -p "$port" -U "$role" -d "$db" "$@"; }   # as the role
cleanup() {
  # the role owns objects here: drop them, then the role
  q >/dev/null 2>&1 <<SQL || true
SELECT drivetribe.drop_projection('trending') FROM drivetribe.projections WHERE name = 'trending';
SELECT drivetribe.revoke_projector('$role');
DROP SCHEMA IF EXISTS trending CASCADE;
DROP OWNED BY $role;
DROP ROLE IF EXISTS $role;
SQL
  rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------- 1. install
step "a community of 3 days (scripts/generate_community.sql)"
q -c "CREATE EXTENSION IF NOT EXISTS drivetribe"
q -v users=80 -v tribes=6 -v articles=400 -v events=6000 -v days=3 -v batch=2000 \
  -f "$root/scripts/generate_community.sql" >/dev/null

q >/dev/null <<SQL
CREATE ROLE $role LOGIN;
GRANT CREATE ON DATABASE $db TO $role;
SELECT drivetribe.grant_projector('$role');
SQL
[ "$(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$role'")" = f ] || fail "the role is a superuser"
# nothing of the extension's data but through the projection
[ "$(q -c "SELECT has_table_privilege('$role', 'drivetribe.events', 'SELECT')
              OR has_table_privilege('$role', 'drivetribe.articles', 'SELECT')
              OR has_function_privilege('$role', 'drivetribe.view_article(bigint, bigint, uuid)', 'EXECUTE')")" = f ] ||
  fail "the role can read the log or write through the API"

t_install=$(q -c "SELECT now()")
step "trending.sql as role $role (grant_projector and CREATE on the database only)"
r -f "$root/examples/trending/trending.sql" >"$work/install.out" 2>&1 ||
  { cat "$work/install.out"; fail "trending.sql failed as a projector"; }
sed 's/^/    /' "$work/install.out"
grep -q 'pg_cron is not installed in database' "$work/install.out" ||
  fail "no word that pg_cron is absent from this database"
grep -q 'projection trending is live' "$work/install.out" || fail "the projection did not go live"
[ "$(q -c "SELECT format('%s %s %s', owner, mode, state) FROM drivetribe.projections WHERE name = 'trending'")" = "$role inline live" ] ||
  fail "projection trending: $(q -c "SELECT row(p.*) FROM drivetribe.projections p WHERE name = 'trending'")"

# ---------------------------------------------------------------- the check
# Written apart from the example: hours with date_trunc at UTC (the example
# uses date_bin), the window from now(), deletions looked up in the log.
q >/dev/null <<'SQL'
CREATE SCHEMA dt_check;
CREATE FUNCTION dt_check.window_start() RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT (date_trunc('hour', now() AT TIME ZONE 'UTC') - interval '23 hours') AT TIME ZONE 'UTC'
$$;
-- (materialized: refreshed once per check, read by every comparison)
CREATE MATERIALIZED VIEW dt_check.expected AS
SELECT e.tribe_id, date_trunc('hour', e.occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS bucket,
       e.article_id,
       count(*) FILTER (WHERE e.kind = 'article_viewed') AS views,
       count(*) FILTER (WHERE e.kind = 'article_bumped') AS bumps,
       count(*) FILTER (WHERE e.kind = 'comment_posted') AS comments
  FROM drivetribe.events e
 WHERE e.kind IN ('article_viewed', 'article_bumped', 'comment_posted')
   AND e.occurred_at >= dt_check.window_start()
   AND NOT EXISTS (SELECT FROM drivetribe.events d
                    WHERE d.kind = 'article_deleted' AND d.article_id = e.article_id)
 GROUP BY 1, 2, 3
WITH NO DATA;
CREATE VIEW dt_check.actual AS
SELECT b.tribe_id, b.bucket, b.article_id, b.views, b.bumps, b.comments
  FROM trending.buckets b WHERE b.bucket >= dt_check.window_start();
CREATE VIEW dt_check.differences AS
(SELECT 'missing' AS what, * FROM (SELECT * FROM dt_check.expected EXCEPT SELECT * FROM dt_check.actual) m)
UNION ALL
(SELECT 'extra', * FROM (SELECT * FROM dt_check.actual EXCEPT SELECT * FROM dt_check.expected) x);
-- the top n of a tribe, from the expected buckets
CREATE FUNCTION dt_check.top(tribe bigint, n int) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(string_agg(format('%s:%s/%s/%s/%s', article_id, v, b, c, v + 5 * c + 10 * b), ' '
                             ORDER BY v + 5 * c + 10 * b DESC, article_id DESC), '')
    FROM (SELECT * FROM (SELECT article_id, sum(views) v, sum(bumps) b, sum(comments) c
                           FROM dt_check.expected WHERE tribe_id = tribe GROUP BY article_id) g
           ORDER BY v + 5 * c + 10 * b DESC, article_id DESC LIMIT n) t
$$;
CREATE FUNCTION dt_check.trending(tribe bigint, n int) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(string_agg(format('%s:%s/%s/%s/%s', article_id, views, bumps, comments, score), ' '
                             ORDER BY ord), '')
    FROM trending.trending(tribe, n) WITH ORDINALITY AS t(article_id, views, bumps, comments, score, ord)
$$;
-- every tribe whose trending(t, n) is not the expected top n
CREATE FUNCTION dt_check.wrong_tops(n int) RETURNS SETOF text LANGUAGE sql STABLE AS $$
  SELECT format('tribe %s: trending %s, expected %s', t.tribe_id, dt_check.trending(t.tribe_id, n),
                dt_check.top(t.tribe_id, n))
    FROM drivetribe.tribes t
   WHERE dt_check.trending(t.tribe_id, n) IS DISTINCT FROM dt_check.top(t.tribe_id, n)
$$;
-- the rows of the buckets from one on, as one value
CREATE FUNCTION dt_check.fingerprint(since timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT md5(coalesce(string_agg(b::text, ',' ORDER BY b.tribe_id, b.bucket, b.article_id), ''))
    FROM trending.buckets b WHERE b.bucket >= since
$$;
SQL
same() {  # what: the window's buckets are the expected ones, and every tribe's top 5 too
  local d
  d=$(q -c "REFRESH MATERIALIZED VIEW dt_check.expected" -c "SELECT count(*) FROM dt_check.differences")
  if [ "$d" != 0 ]; then
    q -c "SELECT * FROM dt_check.differences ORDER BY 2, 3, 4 LIMIT 20"
    fail "$1: $d rows differ from the independent computation"
  fi
  d=$(q -c "SELECT count(*) FROM dt_check.wrong_tops(5)")
  if [ "$d" != 0 ]; then q -c "SELECT * FROM dt_check.wrong_tops(5)"; fail "$1: trending() of $d tribes differs"; fi
}

# ---------------------------------------------------------------- 2. the backfill
read -r rows outside older <<<"$(q -F' ' -c "SELECT (SELECT count(*) FROM dt_check.actual),
    (SELECT count(*) FROM drivetribe.events
      WHERE kind IN ('article_viewed', 'article_bumped', 'comment_posted') AND occurred_at < dt_check.window_start()),
    (SELECT count(*) FROM trending.buckets WHERE bucket < trending.window_start('$t_install'))")"
[ "$rows" -gt 50 ] || fail "only $rows buckets in the window"
[ "$outside" -gt 0 ] || fail "no activity before the window: the test proves nothing about skipping"
[ "$older" = 0 ] || fail "the backfill wrote $older buckets before the window"
same "after the backfill"
step "backfill: $rows buckets in the window, $outside events before it skipped, equal to the independent SQL; trending(t, 5) of every tribe too"

# ---------------------------------------------------------------- 3. live
read -r tribe art <<<"$(q -F' ' -c "SELECT t.tribe_id, (SELECT article_id FROM trending.trending(t.tribe_id, 1))
                                     FROM drivetribe.tribes t ORDER BY t.tribe_id LIMIT 1")"
[ -n "$art" ] || fail "tribe $tribe has nothing trending"
card() { q -c "SELECT format('%s %s %s %s', views, bumps, comments, score) FROM trending.trending($tribe, NULL) WHERE article_id = $1"; }
before=$(card "$art")
cid=$(q -c "SELECT max(comment_id) + 1 FROM drivetribe.comments")
newart=$(q -c "SELECT max(article_id) + 1 FROM drivetribe.articles")
# a writer's session as hostile as a session can be: hours at :30, no search_path
w() { PGOPTIONS="-c TimeZone=Asia/Kolkata -c search_path=" q "$@"; }
w >"$work/live.out" <<SQL
SELECT drivetribe.register_user(900001, 'trend tester');
BEGIN;
SELECT drivetribe.view_article($art, 900001);
SELECT format('inside: %s %s %s %s', views, bumps, comments, score) FROM trending.trending($tribe, NULL) WHERE article_id = $art;
ROLLBACK;
BEGIN;
SELECT drivetribe.view_article($art, 900001);
SELECT drivetribe.view_article($art);
SELECT drivetribe.bump($art, 900001);
SELECT drivetribe.post_comment($cid, $art, 900001, 'on the up');
SELECT format('committed: %s %s %s %s', views, bumps, comments, score) FROM trending.trending($tribe, NULL) WHERE article_id = $art;
COMMIT;
SQL
inside=$(sed -n 's/^inside: //p' "$work/live.out") committed=$(sed -n 's/^committed: //p' "$work/live.out")
read -r v b c s <<<"$before"
[ "$inside" = "$((v + 1)) $b $c $((s + 1))" ] || fail "inside the writer's transaction, a view: '$before' -> '$inside'"
[ "$committed" = "$((v + 2)) $((b + 1)) $((c + 1)) $((s + 2 + 10 + 5))" ] ||
  fail "two views, a bump, a comment: '$before' -> '$committed' ($(tr '\n' ' ' <"$work/live.out"))"
[ "$(card "$art")" = "$committed" ] || fail "after commit: $(card "$art"), expected $committed"
# a new article, viewed once more than the top's score, goes to the top;
# then deleted, it leaves
nviews=$(q -c "SELECT score + 1 FROM trending.trending($tribe, 1)")
w >/dev/null <<SQL
SELECT drivetribe.post_article($newart, 900001, $tribe, 'Just in: the hottest thing');
SELECT count(drivetribe.view_article($newart)) FROM pg_catalog.generate_series(1, $nviews);
SQL
[ "$(q -c "SELECT format('%s %s', article_id, views) FROM trending.trending($tribe, 1)")" = "$newart $nviews" ] ||
  fail "a new article with $nviews views is not at the top of tribe $tribe"
same "after live calls"
w -c "SELECT drivetribe.delete_article($newart)" -c "SELECT drivetribe.delete_article($art)" >/dev/null
[ "$(q -c "SELECT count(*) FROM trending.trending($tribe, NULL) WHERE article_id IN ($art, $newart)")" = 0 ] ||
  fail "a deleted article is still trending"
[ "$(q -c "SELECT count(*) FROM trending.buckets WHERE article_id IN ($art, $newart)")" = 0 ] ||
  fail "a deleted article kept buckets"
# a view that fails (55000: deleted) changes nothing
w -c "SELECT drivetribe.view_article($art)" >/dev/null 2>&1 && fail "a view of a deleted article succeeded"
same "after deletions"
step "live: a view seen inside the writer's transaction and gone with its rollback; +2 views +1 bump +1 comment = score +17; a new article to the top; deleted ones leave; still equal (writer in Asia/Kolkata, empty search_path)"

# ---------------------------------------------------------------- 4. expiry
# (fingerprints leave out the window's first hour as of the test's start:
# if the hour turns meanwhile, that hour leaves the window)
since="trending.window_start('$t_install') + interval '1 hour'"
fp=$(q -c "SELECT dt_check.fingerprint($since)")
top=$(q -c "SELECT dt_check.trending($tribe, 5)")
old=$(q -c "SELECT count(*) FROM trending.buckets WHERE bucket < trending.window_start(now())")
# buckets of hours before the window, as time leaves behind (the owner may
# write its table; the handler itself never writes them)
r >/dev/null <<SQL
INSERT INTO trending.buckets (tribe_id, bucket, article_id, views, bumps, comments)
SELECT $tribe, trending.window_start(now()) - h * interval '1 hour', a, 100000, 0, 0
  FROM generate_series(1, 3) h, generate_series(1, 5) a;
SQL
[ "$(q -c "SELECT dt_check.trending($tribe, 5)")" = "$top" ] || fail "buckets before the window changed trending()"
expired=$(r -c "SELECT trending.expire()")
[ "$expired" = $((old + 15)) ] || fail "trending.expire() deleted $expired rows, expected the 15 old ones (and $old)"
[ "$(q -c "SELECT count(*) FROM trending.buckets WHERE bucket < trending.window_start(now())")" = 0 ] ||
  fail "buckets before the window are left"
[ "$(q -c "SELECT dt_check.fingerprint($since)")" = "$fp" ] || fail "trending.expire() touched the window"
same "after expiry"
step "expiry: 15 buckets before the window ignored by trending(), then deleted by trending.expire() (as the role); the window untouched"

# ---------------------------------------------------------------- 5. reset
r -c "CALL drivetribe.reset_projection('trending')" >/dev/null 2>"$work/reset.err" ||
  { cat "$work/reset.err"; fail "reset_projection as the role"; }
[ "$(q -c "SELECT dt_check.fingerprint($since)")" = "$fp" ] || fail "reset_projection('trending') gave other rows"
[ "$(q -c "SELECT count(*) FROM trending.deleted_articles WHERE article_id IN ($art, $newart)")" = 2 ] ||
  fail "the deleted articles were not found again by the reset's backfill"
same "after reset_projection"
step "reset_projection('trending') as the role: the same rows"

# ---------------------------------------------------------------- 6. async
# the same handler after commit, by the projection worker, and back
r -c "CALL drivetribe.alter_projection('trending', 'async')" >/dev/null 2>"$work/alter.err" ||
  { cat "$work/alter.err"; fail "alter_projection('trending', 'async') as the role"; }
[ "$(q -c "SELECT mode || ' ' || state FROM drivetribe.projections WHERE name = 'trending'")" = "async live" ] ||
  fail "after the switch to async: $(q -c "SELECT row(p.*) FROM drivetribe.projections p WHERE name = 'trending'")"
read -r art2 <<<"$(q -c "SELECT article_id FROM trending.trending($tribe, 2) ORDER BY score LIMIT 1")"
w >/dev/null <<SQL
SELECT drivetribe.view_article($art2, 900001);
SELECT drivetribe.view_article($art2);
SELECT drivetribe.post_comment($((cid + 1)), $art2, 900001, 'async now');
SELECT count(drivetribe.view_article(a.article_id)) FROM drivetribe.articles a
 WHERE a.tribe_id = $tribe AND NOT a.deleted AND a.article_id % 3 = 0;
SQL
w -c "SELECT drivetribe.delete_article($art2)" >/dev/null
settled=
for _ in $(seq 1 100); do
  if [ "$(q -c "SELECT lag_events FROM drivetribe.projections WHERE name = 'trending'")" = 0 ]; then settled=1; break; fi
  sleep 0.1
done
[ -n "$settled" ] || fail "async: still behind after 10 s: $(q -c "SELECT row(p.*) FROM drivetribe.projections p WHERE name = 'trending'")"
[ "$(q -c "SELECT count(*) FROM trending.buckets WHERE article_id = $art2")" = 0 ] || fail "async: a deleted article kept buckets"
same "async"
r -c "CALL drivetribe.alter_projection('trending', 'inline')" >/dev/null 2>"$work/alter.err" ||
  { cat "$work/alter.err"; fail "alter_projection('trending', 'inline') as the role"; }
w -c "SELECT drivetribe.view_article(a.article_id) FROM drivetribe.articles a WHERE a.tribe_id = $tribe AND NOT a.deleted ORDER BY a.article_id DESC LIMIT 1" >/dev/null
same "back inline"
step "async (alter_projection as the role): views, a comment and a deletion applied by the worker, equal once its lag is 0; back inline, equal"

# ---------------------------------------------------------------- 7. pg_cron
if [ "$(q -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'")" != 1 ]; then
  step "pg_cron is not installed on this machine: the job is not checked"
  exit 0
fi
. "$root/test/e2e/lib/server.sh"
e2e_use_server_bindir
. "$root/scripts/cluster.sh"
cdb=trending_cron
dt_cluster_temp "${DT_TRENDING_CRON_PORT:-$((PGPORT + 21))}" "$cdb" test || fail "could not start a cluster of its own"
trap 'cleanup; dt__cleanup_temp' EXIT
[ "$(psql -X -At -d postgres -c "SHOW shared_preload_libraries")" = pg_cron ] || fail "pg_cron is not preloaded in the cluster"
c() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$cdb" "$@"; }
createdb "$cdb"
c >/dev/null <<SQL
CREATE EXTENSION pg_cron;
CREATE EXTENSION drivetribe;
SELECT drivetribe.register_user(1, 'one');
SELECT drivetribe.create_tribe(1, 1, 'one');
SELECT drivetribe.post_article(1, 1, 1, 'one');
SELECT drivetribe.view_article(1);
CREATE ROLE $role LOGIN;
GRANT CREATE ON DATABASE $cdb TO $role;
SELECT drivetribe.grant_projector('$role');
GRANT USAGE ON SCHEMA cron TO $role;
SQL
PGUSER=$role psql -X -q -v ON_ERROR_STOP=1 -d "$cdb" -f "$root/examples/trending/trending.sql" >"$work/cron1.out" 2>&1 ||
  { cat "$work/cron1.out"; fail "trending.sql with pg_cron"; }
PGUSER=$role psql -X -q -v ON_ERROR_STOP=1 -d "$cdb" -f "$root/examples/trending/trending.sql" >"$work/cron2.out" 2>&1 ||
  { cat "$work/cron2.out"; fail "trending.sql with pg_cron, again"; }
grep -q 'already registered' "$work/cron2.out" || fail "the second run did not find the projection: $(cat "$work/cron2.out")"
! grep -qi 'pg_cron' "$work/cron1.out" "$work/cron2.out" || fail "a word about pg_cron where it is usable: $(cat "$work/cron1.out")"
job=$(c -c "SELECT format('%s|%s|%s|%s|%s', jobname, schedule, command, database, username) FROM cron.job")
[ "$job" = "trending-expire|3 * * * *|SELECT trending.expire()|$cdb|$role" ] || fail "pg_cron jobs: $job"
[ "$(c -c "SELECT count(*) FROM drivetribe.projections WHERE name = 'trending'")" = 1 ] || fail "the projection is not registered once"
[ "$(c -c "SELECT views FROM trending.trending(1, 5)")" = 1 ] || fail "the one view is not trending in the cron cluster"
# the job's command, run as the role pg_cron runs it as
[ "$(PGUSER=$role c -c "SELECT trending.expire()")" = 0 ] || fail "the job's command"
step "pg_cron (a cluster of its own): the script run twice registers one job trending-expire ('3 * * * *', SELECT trending.expire(), as $role in $cdb) and the projection once"
echo "trending_example: ok in $((SECONDS - T0)) s"
