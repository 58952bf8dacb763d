#!/usr/bin/env bash
# Reads from a hot standby (issue 12, item 5).  A primary of its own
# (PGPORT + 3) and a streaming standby (PGPORT + 4) made from it with
# pg_basebackup -R -X stream, both on Unix sockets of their own:
#
#  1. A world written through the API on the primary (users, tribes,
#     memberships, follows, articles, comments, bumps, views, renames,
#     deletes), then the standby is cloned and started; more is written on
#     the primary after that, then a hot article is hammered by 8 pgbench
#     sessions (views, bumps, unbumps, comments) so that its counts go to
#     counter stripes.  Meanwhile the standby is read (cards, feed pages)
#     while it replays.
#  2. What lags: as soon as the load stops, the standby (once it has
#     replayed the primary's current LSN) shows the hot article's exact
#     counts; its score is the one the primary had at that LSN (lagging
#     while stripes exist, until the primary's rank worker folds them and
#     that fold is replayed).  verify() is empty on the standby at that
#     point too (score exact or stripes pending).
#  3. Once the primary's rank worker has folded every stripe and the
#     standby has replayed the primary's LSN: every read, as text, is the
#     same on both: article(id) of every id, article_comments paged to the
#     end, has_bumped, article_view, user_stats, tribe_stats, feed(user)
#     paged to the end for every user, tribe_feed paged to the end for every
#     tribe, read_log() paged to the end; verify() is empty on both; a role
#     with grant_reader() and grant_log_reader() (1.7: read_log() and
#     log_horizon are no longer part of the read API) reads the same on the
#     standby.
#  4. The standby refuses writes: each of the 16 write functions (a call
#     that would append, a call that would change nothing, a retry with an
#     event_id) fails with 25006 read_only_sql_transaction and changes
#     nothing; so do fold_stripes(), rebuild() and heartbeat() (1.5; in
#     1.4 it failed with XX000); creating a
#     logical slot fails (no logical decoding on a PostgreSQL 15 standby);
#     no rank worker runs there; pg_cron's launcher (preloaded, jobs
#     replicated) does nothing on the standby and logs no error.
# Both clusters are stopped and removed at exit.
#
# env: DT_STANDBY_PRIMARY_PORT (default PGPORT + 3), DT_STANDBY_PORT
# (default PGPORT + 4), DT_STANDBY_SECONDS (hot load, default 4),
# DT_STANDBY_KEEP=1 (keep the work directory).
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
T0=$SECONDS
seconds=${DT_STANDBY_SECONDS:-4}

# the server under test's binaries (the clusters of our own must match)
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir

fail() { echo "standby: FAILED: $*"; exit 1; }
step() { printf 'standby: [%3d s] %s\n' $((SECONDS - T0)) "$*"; }

work=$(mktemp -d)
chmod 755 "$work"
. "$root/scripts/cluster.sh"
pport=${DT_STANDBY_PRIMARY_PORT:-$((PGPORT + 3))}
sport=${DT_STANDBY_PORT:-$((PGPORT + 4))}
sdir=
cleanup() {
  [ -f "$work/pids" ] && while read -r p; do kill "$p" 2>/dev/null || true; done <"$work/pids"
  # the standby first, then the primary (dt__cleanup_temp)
  [ -z "$sdir" ] || dt_cluster_remove "$sdir" || true
  dt__cleanup_temp
  if [ -n "${DT_STANDBY_KEEP:-}" ]; then echo "standby: kept $work"; else rm -rf "$work"; fi
}

DT_PG_CONF="max_wal_senders = 10
wal_keep_size = '256MB'" dt_cluster_temp "$pport" postgres test ||
  fail "could not start a primary of its own"
trap cleanup EXIT   # after dt_cluster_temp, which sets its own
pdir=$DT_CLUSTER_DIR
db=postgres
p() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$pdir" -p "$pport" -U postgres -d "$db" "$@"; }
s() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$sdir" -p "$sport" -U postgres -d "$db" "$@"; }

[ "$(p -c "SHOW wal_level")" != minimal ] || fail "the primary's wal_level is minimal"
p -c "SELECT 1 FROM pg_hba_file_rules WHERE type = 'local' AND 'replication' = ANY(database)" | grep -q 1 ||
  fail "the primary's pg_hba.conf has no 'local replication' line"

# ---------------------------------------------------------------- the world
# users 1..60, tribes 1..6 (owner = id), articles 1..160 (author a % 40 + 1,
# tribe a % 6 + 1), comments 1..400 on articles 1..50; article 1 is the hot
# one later.  public.ids: new comment ids for the hot load.
step "primary on port $pport: the world"
p >/dev/null <<'SQL'
CREATE EXTENSION drivetribe CASCADE;
SELECT count(drivetribe.register_user(u, 'user ' || u)) FROM generate_series(1, 60) u;
SELECT count(drivetribe.create_tribe(t, t, 'tribe ' || t)) FROM generate_series(1, 6) t;
SELECT count(drivetribe.join_tribe(u, t)) FROM generate_series(1, 60) u, generate_series(1, 6) t
 WHERE (u + t) % 3 = 0;
SELECT count(drivetribe.follow_user(u, f)) FROM generate_series(1, 60) u, generate_series(1, 60) f
 WHERE u <> f AND (u * 7 + f) % 17 = 0;
SELECT count(drivetribe.post_article(a, a % 40 + 1, a % 6 + 1, 'article ' || a)) FROM generate_series(1, 120) a;
SELECT count(drivetribe.post_comment(c, c % 50 + 1, c % 60 + 1, 'comment ' || c)) FROM generate_series(1, 400) c;
SELECT count(drivetribe.bump(a, u)) FROM generate_series(1, 120) a, generate_series(1, 60) u
 WHERE (a * u) % 11 = 0;
SELECT count(drivetribe.view_article(a, CASE WHEN v % 2 = 0 THEN v % 60 + 1 END))
  FROM generate_series(1, 120) a, generate_series(1, 20) v WHERE v <= a % 20;
SELECT drivetribe.rename_user(3, 'user three'), drivetribe.rename_tribe(2, 'tribe two'),
       drivetribe.edit_article(10, 'article ten, edited'),
       drivetribe.delete_article(7), drivetribe.delete_comment(5), drivetribe.unbump(11, 1),
       drivetribe.unfollow_user(1, 10), drivetribe.leave_tribe(3, 3);
CREATE SEQUENCE public.ids START 100000;
CREATE ROLE dt_reader LOGIN;
SELECT drivetribe.grant_reader('dt_reader');
SELECT drivetribe.grant_log_reader('dt_reader');

-- SPEC's ranking formula, written independently of the extension
CREATE FUNCTION public.spec_score(bumps bigint, comments bigint, views bigint, posted_at timestamptz)
RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT log10(greatest(10 * bumps + 5 * comments + views, 1)::float8)
         + extract(epoch FROM posted_at)::float8 / 45000
$$;

-- Every read a client makes, paged as a client pages, as text lines; one
-- snapshot for all of it (STABLE).
CREATE FUNCTION public.dump_reads() RETURNS SETOF text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  max_article bigint := (SELECT max(article_id) FROM drivetribe.events WHERE article_id IS NOT NULL);
  r record; a bigint; u bigint; t bigint; after_c bigint; after_s float8; after_a bigint;
  n int; page int; after_txid xid8; after_seq bigint;
BEGIN
  FOR a IN 1 .. max_article + 1 LOOP
    RETURN QUERY SELECT 'article ' || a || ' ' || c::text FROM drivetribe.article(a) c;
    RETURN QUERY SELECT 'has_bumped ' || a || ' ' || b || ' ' || drivetribe.has_bumped(a, b)
                   FROM generate_series(1, 12) b;
    after_c := NULL; page := 0;
    -- (1.7: article_comments of an unknown article is 23503)
    CONTINUE WHEN NOT EXISTS (SELECT FROM drivetribe.events e
                               WHERE e.kind = 'article_posted' AND e.article_id = a);
    LOOP
      n := 0;
      FOR r IN SELECT * FROM drivetribe.article_comments(a, 3, after_c) LOOP
        RETURN NEXT 'comments ' || a || ' page ' || page || ' ' || r::text;
        n := n + 1; after_c := r.comment_id;
      END LOOP;
      EXIT WHEN n < 3;
      page := page + 1;
    END LOOP;
  END LOOP;
  RETURN QUERY SELECT 'article_view ' || v::text FROM drivetribe.article_view v ORDER BY article_id;
  RETURN QUERY SELECT 'user_stats ' || v::text FROM drivetribe.user_stats v ORDER BY user_id;
  RETURN QUERY SELECT 'tribe_stats ' || v::text FROM drivetribe.tribe_stats v ORDER BY tribe_id;
  FOR u IN 1 .. 61 LOOP
    after_s := NULL; after_a := NULL; page := 0;
    LOOP
      n := 0;
      FOR r IN SELECT * FROM drivetribe.feed(u, 7, after_s, after_a) LOOP
        RETURN NEXT 'feed ' || u || ' page ' || page || ' ' || r::text;
        n := n + 1; after_s := r.score; after_a := r.article_id;
      END LOOP;
      EXIT WHEN n < 7;
      page := page + 1;
    END LOOP;
  END LOOP;
  FOR t IN 1 .. 6 LOOP
    after_s := NULL; after_a := NULL; page := 0;
    LOOP
      n := 0;
      FOR r IN SELECT * FROM drivetribe.tribe_feed(t, 5, after_s, after_a) LOOP
        RETURN NEXT 'tribe_feed ' || t || ' page ' || page || ' ' || r::text;
        n := n + 1; after_s := r.score; after_a := r.article_id;
      END LOOP;
      EXIT WHEN n < 5;
      page := page + 1;
    END LOOP;
  END LOOP;
  after_txid := '0'; after_seq := 0; page := 0;
  LOOP
    n := 0;
    FOR r IN SELECT * FROM drivetribe.read_log(after_txid, after_seq, 500) LOOP
      RETURN NEXT 'read_log page ' || page || ' ' || r::text;
      n := n + 1; after_txid := r.txid; after_seq := r.seq;
    END LOOP;
    EXIT WHEN n < 500;
    page := page + 1;
  END LOOP;
END $$;
SQL
cron=no
if [ "$(p -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'")" = 1 ] &&
   [ "$(p -c "SHOW shared_preload_libraries")" = pg_cron ]; then
  p -c "CREATE EXTENSION pg_cron" -c "SELECT drivetribe.schedule_maintenance()" >/dev/null
  cron=yes
fi

# ---------------------------------------------------------------- the standby
step "pg_basebackup -R -X stream -c fast; standby on port $sport"
sdir=$(mktemp -d /tmp/drivetribe-test.XXXXXX)
chmod 700 "$sdir"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$sdir"; fi
t1=$(date +%s.%N)
dt_as_pg "$DT_PGBIN/pg_basebackup" -h "$pdir" -p "$pport" -U postgres -D "$sdir/data" \
  -R -X stream -c fast -C -S dt_standby --no-sync >"$work/basebackup.out" 2>&1 ||
  { cat "$work/basebackup.out"; fail "pg_basebackup failed"; }
t2=$(date +%s.%N)
{
  echo ""
  echo "# --- the standby (test/e2e/standby.sh) ---"
  echo "port = $sport"
  echo "unix_socket_directories = '$sdir'"
  echo "hot_standby = on"
} | dt_as_pg tee -a "$sdir/data/postgresql.conf" >/dev/null
dt_cluster_start "$sdir" || fail "the standby did not start"
[ "$(s -c "SELECT pg_is_in_recovery()")" = t ] || fail "the standby is not in recovery"
[ "$(p -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] ||
  sleep 1
[ "$(p -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ] ||
  fail "the standby does not stream from the primary"
step "base backup $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }') s; standby streaming"

# wait_replayed: the standby has replayed everything the primary wrote so
# far; prints the wait in seconds
wait_replayed() {
  local lsn t0 waited=0
  lsn=$(p -c "SELECT pg_current_wal_lsn()")
  t0=$(date +%s.%N)
  until [ "$(s -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ]; do
    [ $waited -ge 300 ] && fail "the standby did not replay $lsn within 30 s"
    sleep 0.1; waited=$((waited + 1))
  done
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}

# ---------------------------------------------------------------- more writes
step "more writes on the primary after the clone"
p >/dev/null <<'SQL'
SELECT count(drivetribe.post_article(a, a % 40 + 1, a % 6 + 1, 'late article ' || a)) FROM generate_series(121, 160) a;
SELECT count(drivetribe.view_article(a)) FROM generate_series(121, 160) a, generate_series(1, 3) v WHERE a % 4 = v;
SELECT count(drivetribe.bump(a, u)) FROM generate_series(100, 160) a, generate_series(1, 60) u WHERE (a + u) % 13 = 0;
SELECT count(drivetribe.post_comment(c, c % 30 + 121, c % 60 + 1, 'late comment ' || c)) FROM generate_series(401, 500) c;
SELECT drivetribe.rename_user(4, 'user four'), drivetribe.delete_article(77), drivetribe.delete_comment(55),
       drivetribe.join_tribe(3, 3), drivetribe.follow_user(1, 10), drivetribe.follow_user(61 - 1, 1),
       drivetribe.register_user(61, 'user sixty-one'), drivetribe.join_tribe(61, 1);
SQL

# ---------------------------------------------------------------- hot load
mkdir "$work/mix"
cat >"$work/mix/view.sql" <<'SQL'
\set u random(1, 60)
SELECT drivetribe.view_article(1, :u);
SQL
cat >"$work/mix/bump.sql" <<'SQL'
\set u random(1, 60)
SELECT drivetribe.bump(1, :u);
SQL
cat >"$work/mix/unbump.sql" <<'SQL'
\set u random(1, 60)
SELECT drivetribe.unbump(1, :u);
SQL
cat >"$work/mix/comment.sql" <<'SQL'
\set u random(1, 60)
SELECT drivetribe.post_comment(nextval('public.ids'), 1, :u, 'hot comment');
SQL
step "hot load: 8 sessions on article 1 for $seconds s, the standby read meanwhile"
pgbench -n -c 8 -j 2 -T "$seconds" -h "$pdir" -p "$pport" -U postgres \
  -f "$work/mix/view.sql@6" -f "$work/mix/bump.sql@2" -f "$work/mix/unbump.sql@2" -f "$work/mix/comment.sql@1" \
  "$db" >"$work/load.out" 2>&1 &
load=$!
echo $load >>"$work/pids"
# reads on the standby while it replays the load: any error fails
max_pstripes=0; max_sstripes=0; sreads=0; paused=0
while kill -0 "$load" 2>/dev/null; do
  n=$(p -c "SELECT count(*) FROM drivetribe.article_stripes WHERE article_id = 1")
  [ "$n" -gt "$max_pstripes" ] && max_pstripes=$n
  n=$(s -c "SELECT (SELECT count(*) FROM drivetribe.article_stripes WHERE article_id = 1),
                   (SELECT count(*) FROM drivetribe.article(1)), (SELECT count(*) FROM drivetribe.feed(5, 10)),
                   (SELECT count(*) FROM drivetribe.tribe_feed(2, 10)), (SELECT count(*) FROM drivetribe.article_comments(1, 10)),
                   (SELECT count(*) FROM drivetribe.user_stats), drivetribe.has_bumped(1, 5)" 2>"$work/sread.err") ||
    { cat "$work/sread.err"; fail "a read on the standby failed during replay"; }
  n=${n%%|*}
  [ "$n" -gt "$max_sstripes" ] && max_sstripes=$n
  # the first time the standby shows stripes of the hot article, its replay
  # is paused there: a moment in the middle of the load, kept to look at
  if [ "$n" -gt 0 ] && [ $paused = 0 ]; then
    s -c "SELECT pg_wal_replay_pause()" >/dev/null
    paused=1
  fi
  sreads=$((sreads + 1))
  sleep 0.2
done
wait "$load" || { cat "$work/load.out"; fail "pgbench failed"; }
if grep -Eq 'aborted|ERROR' "$work/load.out"; then
  grep -E 'aborted|ERROR|DETAIL' "$work/load.out" | head; fail "a pgbench client failed"
fi
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$work/load.out" | head -n 1)
step "hot load done: $tps calls/s; stripes of article 1 seen: primary up to $max_pstripes, standby up to $max_sstripes ($sreads read rounds on the standby)"
[ $((max_pstripes + max_sstripes)) -gt 0 ] || fail "the hot load left no counter stripe on article 1 (nothing to show)"

# ---------------------------------------------------------------- what lags
# the standby paused in the middle of the load: a consistent state of the
# primary's past, with stripes whose change the score does not show yet
if [ $paused = 1 ]; then
  waited=0
  until [ "$(s -c "SELECT pg_get_wal_replay_pause_state()")" = paused ]; do
    [ $waited -ge 100 ] && fail "the standby's replay did not pause"
    sleep 0.1; waited=$((waited + 1))
  done
  read -r pstr plag pcnt <<<"$(s -F ' ' -c "SELECT (SELECT count(*) FROM drivetribe.article_stripes WHERE article_id = 1),
                                                   round((public.spec_score(bumps, comments, views, posted_at) - score)::numeric, 6),
                                                   views || '/' || bumps || '/' || comments
                                              FROM drivetribe.article(1)")"
  [ -z "$(s -c "SELECT * FROM drivetribe.verify()")" ] ||
    { s -c "SELECT * FROM drivetribe.verify()" | head; fail "verify() on the paused standby is not empty"; }
  step "standby paused mid-load at $(s -c "SELECT pg_last_wal_replay_lsn()"): article 1 has $pstr stripes, counts $pcnt (views/bumps/comments, exact), score behind SPEC's formula by $plag; verify() empty there"
  s -c "SELECT pg_wal_replay_resume()" >/dev/null
fi
card="SELECT views || ' ' || bumps || ' ' || comments FROM drivetribe.article(1)"
pcounts=$(p -c "$card")
w=$(wait_replayed)
scounts=$(s -c "$card")
[ "$pcounts" = "$scounts" ] ||
  fail "article 1's counts on the standby ($scounts) differ from the primary's ($pcounts) after replay"
read -r sstripes sexact <<<"$(s -F ' ' -c "SELECT (SELECT count(*) FROM drivetribe.article_stripes WHERE article_id = 1),
                                                   abs(score - public.spec_score(bumps, comments, views, posted_at)) < 1e-9
                                              FROM drivetribe.article(1)")"
step "load stopped; replayed in $w s: standby counts of article 1 = primary's ($scounts: views bumps comments); standby has $sstripes stripes, score exact: $sexact"
[ "$sexact" = t ] || [ "$sstripes" -gt 0 ] ||
  fail "on the standby article 1's score is not SPEC's formula over its counts and it has no stripes: $(s -c "SELECT format('score %s, formula %s over views %s, bumps %s, comments %s', score, public.spec_score(bumps, comments, views, posted_at), views, bumps, comments) FROM drivetribe.article(1)")"
[ -z "$(s -c "SELECT * FROM drivetribe.verify()")" ] || { s -c "SELECT * FROM drivetribe.verify()" | head; fail "verify() on the standby is not empty right after the load"; }

# the primary's rank worker folds the stripes; the standby gets the scores by replay
t0=$(date +%s.%N); waited=0
until [ "$(p -c "SELECT (SELECT count(*) FROM drivetribe.article_stripes) + (SELECT count(*) FROM drivetribe.user_stripes)
                        + (SELECT count(*) FROM drivetribe.tribe_stripes)")" = 0 ]; do
  [ $waited -ge 300 ] && fail "the primary's stripes were not folded within 30 s: $(p -c "SELECT format('%s article, %s user, %s tribe stripes left; articles %s; rank workers %s',
      (SELECT count(*) FROM drivetribe.article_stripes), (SELECT count(*) FROM drivetribe.user_stripes), (SELECT count(*) FROM drivetribe.tribe_stripes),
      (SELECT string_agg(DISTINCT article_id::text, ',') FROM drivetribe.article_stripes),
      (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'drivetribe rank worker'))")"
  sleep 0.1; waited=$((waited + 1))
done
fold=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
w=$(wait_replayed)
[ "$(s -c "SELECT abs(score - public.spec_score(bumps, comments, views, posted_at)) < 1e-9 FROM drivetribe.article(1)")" = t ] ||
  fail "after the fold was replayed ($w s), article 1's score on the standby is not SPEC's formula: $(s -c "SELECT format('score %s, formula %s over views %s, bumps %s, comments %s', score, public.spec_score(bumps, comments, views, posted_at), views, bumps, comments) FROM drivetribe.article(1)"); stripes there: $(s -c "SELECT count(*) FROM drivetribe.article_stripes WHERE article_id = 1")"
[ "$(s -c "SELECT count(*) FROM drivetribe.article_stripes")" = 0 ] || fail "stripes left on the standby after the fold was replayed"
step "stripes folded on the primary $fold s after the load; replayed on the standby $w s later: the score is exact there"

# ---------------------------------------------------------------- read for read
t0=$(date +%s.%N)
p -c "SELECT * FROM public.dump_reads()" >"$work/primary.txt"
t1=$(date +%s.%N)
s -c "SELECT * FROM public.dump_reads()" >"$work/standby.txt" 2>"$work/standby.err" ||
  { cat "$work/standby.err"; fail "the reads failed on the standby"; }
t2=$(date +%s.%N)
lines=$(wc -l <"$work/primary.txt")
[ "$lines" -gt 2000 ] || fail "only $lines lines of reads on the primary"
for k in article has_bumped comments article_view user_stats tribe_stats feed tribe_feed read_log; do
  [ "$(grep -c "^$k " "$work/primary.txt")" -gt 0 ] || fail "no '$k' read on the primary"
done
[ "$(grep -c '^feed [0-9]* page 3 ' "$work/primary.txt")" -gt 0 ] || fail "no feed has four pages"
if ! diff -u "$work/primary.txt" "$work/standby.txt" >"$work/reads.diff"; then
  head -n 40 "$work/reads.diff"; fail "the standby's reads differ from the primary's"
fi
step "$lines reads the same on both ($(grep -c '^feed ' "$work/primary.txt") feed rows of $(grep -o '^feed [0-9]* page [0-9]*' "$work/primary.txt" | sort -u | wc -l) pages, $(grep -c '^comments ' "$work/primary.txt") comment rows); dump $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s on the primary, $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", b - a }') s on the standby"
[ -z "$(p -c "SELECT * FROM drivetribe.verify()")" ] || fail "verify() on the primary is not empty"
[ -z "$(s -c "SELECT * FROM drivetribe.verify()")" ] || fail "verify() on the standby is not empty"

# the read API as a role that has only grant_reader() and
# grant_log_reader(), straight from psql
reader_reads="SELECT a::text FROM drivetribe.article(1) a;
SELECT drivetribe.has_bumped(1, 5);
SELECT f::text FROM drivetribe.feed(5, 5) f;
SELECT f::text FROM drivetribe.tribe_feed(2, 5) f;
SELECT c::text FROM drivetribe.article_comments(1, 5) c;
SELECT v::text FROM drivetribe.article_view v WHERE article_id = 2;
SELECT v::text FROM drivetribe.user_stats v WHERE user_id = 2;
SELECT v::text FROM drivetribe.tribe_stats v WHERE tribe_id = 2;
SELECT l::text FROM drivetribe.read_log('0', 0, 3) l;
SELECT count(*) FROM drivetribe.log_horizon;"
pr=$(psql -X -q -At -v ON_ERROR_STOP=1 -h "$pdir" -p "$pport" -U dt_reader -d "$db" -c "$reader_reads" 2>&1) ||
  { echo "$pr"; fail "the reader role's reads failed on the primary"; }
sr=$(psql -X -q -At -v ON_ERROR_STOP=1 -h "$sdir" -p "$sport" -U dt_reader -d "$db" -c "$reader_reads" 2>&1) ||
  { echo "$sr"; fail "the reader role's reads failed on the standby"; }
[ "$pr" = "$sr" ] || { diff <(echo "$pr") <(echo "$sr") | head; fail "the reader role reads differently on the standby"; }
step "a grant_reader() + grant_log_reader() role reads the same on the standby (every read function and view)"

# ---------------------------------------------------------------- writes refused
before=$(s -c "SELECT max(seq) || ' ' || count(*) FROM drivetribe.events")
pbefore=$(p -c "SELECT max(seq) || ' ' || count(*) FROM drivetribe.events")
: >"$work/writes.out"
refused=0; wrong=()
while IFS= read -r call; do
  [ -n "$call" ] || continue
  out=$(psql -X -q -At -h "$sdir" -p "$sport" -U postgres -d "$db" -v VERBOSITY=sqlstate -c "SELECT $call" 2>&1) && rc=0 || rc=$?
  echo "$call -> $out" >>"$work/writes.out"
  case $out in
    *25006*) refused=$((refused + 1)) ;;
    *) wrong+=("$call gave '$out' (exit $rc)") ;;
  esac
done <<'CALLS'
drivetribe.register_user(900, 'new user')
drivetribe.register_user(900, 'new user', 'aaaaaaaa-0000-0000-0000-000000000001')
drivetribe.rename_user(2, 'renamed on the standby')
drivetribe.rename_user(2, 'user 2')
drivetribe.create_tribe(900, 1, 'new tribe')
drivetribe.rename_tribe(1, 'renamed on the standby')
drivetribe.join_tribe(1, 1)
drivetribe.join_tribe(2, 1)
drivetribe.leave_tribe(2, 1)
drivetribe.leave_tribe(1, 1)
drivetribe.follow_user(2, 3)
drivetribe.unfollow_user(2, 3)
drivetribe.post_article(900, 1, 1, 'new article')
drivetribe.edit_article(2, 'edited on the standby')
drivetribe.delete_article(2)
drivetribe.delete_article(7)
drivetribe.view_article(2)
drivetribe.view_article(2, 5, 'aaaaaaaa-0000-0000-0000-000000000002')
drivetribe.post_comment(900, 2, 1, 'new comment')
drivetribe.delete_comment(1)
drivetribe.delete_comment(5)
drivetribe.bump(2, 1)
drivetribe.bump(1, 1)
drivetribe.unbump(1, 1)
drivetribe.unbump(2, 1)
drivetribe.fold_stripes()
drivetribe.rebuild()
CALLS
if [ ${#wrong[@]} -gt 0 ]; then
  printf 'standby: on the standby, %s, not 25006 read_only_sql_transaction\n' "${wrong[@]}"
  fail "${#wrong[@]} write calls on the standby were not refused with 25006"
fi
out=$(s -c "SELECT drivetribe.bump(1, 1)" 2>&1) && fail "bump() succeeded on the standby"
echo "$out" | grep -q 'HINT:  This server is a hot standby: send writes to the primary.' ||
  fail "the standby's refusal has no hint: $out"
# heartbeat(): 25006 too (1.5)
hb=$(psql -X -q -At -h "$sdir" -p "$sport" -U postgres -d "$db" -v VERBOSITY=verbose -c "SELECT drivetribe.heartbeat()" 2>&1) &&
  fail "heartbeat() succeeded on the standby"
hb=$(echo "$hb" | head -n 1)
case $hb in *25006*) ;; *) fail "heartbeat() on the standby gave '$hb', not 25006" ;; esac
# the same refusal on the primary in a read-only transaction, also for a no-op
out=$(p -v VERBOSITY=sqlstate -c "BEGIN READ ONLY" -c "SELECT drivetribe.join_tribe(1, 1)" 2>&1) &&
  fail "join_tribe() (a no-op) succeeded in a read-only transaction on the primary"
case $out in *25006*) ;; *) fail "join_tribe() in a read-only transaction on the primary gave '$out', not 25006" ;; esac
[ "$(s -c "SELECT max(seq) || ' ' || count(*) FROM drivetribe.events")" = "$before" ] || fail "the standby's log changed"
[ "$(p -c "SELECT max(seq) || ' ' || count(*) FROM drivetribe.events")" = "$pbefore" ] || fail "the primary's log changed"
step "$refused write calls on the standby refused with 25006 (the 16 write functions, no-op calls and retries, fold_stripes, rebuild; also a no-op in a read-only transaction on the primary), heartbeat() too; nothing changed"

# ---------------------------------------------------------------- what does not run there
out=$(s -c "SELECT pg_create_logical_replication_slot('dt_standby_stream', 'drivetribe')" 2>&1) &&
  fail "a logical slot was created on the PostgreSQL 15 standby: $out"
echo "$out" | grep -q "logical decoding cannot be used while in recovery" ||
  fail "creating a logical slot on the standby: unexpected error: $out"
[ "$(s -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'drivetribe rank worker'")" = 0 ] ||
  fail "a rank worker runs on the standby"
if [ $cron = yes ]; then
  [ "$(s -c "SELECT count(*) FROM cron.job WHERE jobname LIKE 'drivetribe-%'")" -gt 0 ] || fail "the pg_cron jobs are not on the standby"
  if grep -iE 'pg_cron|cron' "$sdir/server.log" | grep -E 'ERROR|FATAL|PANIC' >"$work/cron.err"; then
    head "$work/cron.err"; fail "pg_cron logged errors on the standby"
  fi
  # pg_cron's launcher waits while the server is in recovery
  launcher=$(s -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'")
  cronlog=$(grep -ci 'cron' "$sdir/server.log" || true)
  cronnote="pg_cron preloaded: jobs replicated ($(s -c "SELECT count(*) FROM cron.job")), $launcher launcher process, $cronlog log lines about cron, no error"
else
  cronnote="pg_cron not installed: not checked"
fi
if grep -E 'terminated by signal|PANIC' "$sdir/server.log" "$pdir/server.log" >"$work/crash.err"; then
  head "$work/crash.err"; fail "a server process crashed"
fi
step "on the standby: no logical slot (PostgreSQL 15), no rank worker; $cronnote"
step "passed"
