#!/usr/bin/env bash
# drivetribe benchmark suite (issue 9, item 3): every case next to its
# baseline, in one run, on one durable throwaway cluster (fsync and
# synchronous_commit on), with pgbench; prints a table
#   figure | ours | baseline | ratio | goal | met?
# and writes it to OUT/latest.md (with the machine, the PostgreSQL version,
# the date and the command), OUT/latest.tsv (machine-readable), OUT/latest.png
# (gnuplot: one bar per figure, its ratio against its goal) and OUT/latest.log
# (every pgbench summary).  Every ratio is ours / baseline.
#
#   bash test/bench/run.sh [--smoke] [--only CASE...] [--out DIR]
#     --smoke     every case for a few transactions per client on small data:
#                 the whole run takes well under a minute and still produces
#                 the table (a test that the suite works, not numbers);
#                 default OUT is test/bench/results/smoke
#     --only C..  run only these cases (repeatable, or several names after
#                 one --only): hot ceiling card vote plpgsql rename feeds
#                 decode consume rebuild projections online_update
#                 online_rebuild
#     --out DIR   where the results go (default test/bench/results)
#   env: DT_BENCH_PORT (default 54350), DT_BENCH_SECONDS (seconds per
#        pgbench run, default 8), DT_KEEP=1 (leave the cluster running),
#        DT_CONSUME (the drivetribe-consume to run, default the installed
#        one), DT_BENCH_STREAM_EVENTS (the consume case's backlog),
#        DT_BENCH_LOG_EVENTS (the generated log of the rebuild,
#        projections and online cases, default 10,000,000, 30,000 in
#        --smoke), DT_BENCH_UPDATE_FROM / DT_BENCH_UPDATE_TO (the
#        online_update case's versions, default 1.8 and 1.9),
#        DT_BENCH_ONLINE_BASELINE (the online cases' baseline window, s,
#        default DT_BENCH_SECONDS, 1 in --smoke), DT_BENCH_BLUEGREEN_SQL
#        (the blue/green rebuild's command, default rebuild(concurrently =>
#        true) when the installed version has it)
#
# Cases (pgbench -n -M simple -j 2, one call per transaction unless said):
#   hot      each hot key vs the same calls spread over 10,000 keys, at 8 and
#            64 clients, goal >= 0.9: view_article(1) vs over 10,000
#            articles; bump+unbump of article 1 by random users vs over
#            10,000 articles (two transactions per pair: one per call);
#            post_comment on article 1 vs over 10,000 (ids from a sequence);
#            follow_user+unfollow_user of user 1 by random followers vs over
#            10,000 followees; join_tribe+leave_tribe of tribe 1 vs over
#            10,000 tribes.  Every call names a random viewer/user.
#   ceiling  view_article spread vs a bare INSERT of the same event row (same
#            columns and content) into a plain table with a primary key on
#            seq and a unique event_id, 8 clients, goal >= 0.6
#   card     SELECT * FROM drivetribe.article(:id) vs a primary-key SELECT of
#            a plain table of precomputed card rows (same columns), ids
#            random_zipfian(1, 10000, 1.08), 8 clients, simple protocol,
#            goal >= 0.6; the extended protocol (-M prepared, both sides) is
#            an informative extra row
#   vote     95% article(:id), 5% bump(:id, random user), Zipf 1.08 over
#            10,000 articles, over 1,000,000 prior views, vs the same mix at
#            read time over plain normalised tables (the card from joins and
#            count() per read; a bump is INSERT ... ON CONFLICT DO NOTHING),
#            8 clients, goal >= 10.  The prior views follow the same Zipf
#            law as the reads (article k gets a share proportional to
#            k^-1.08: the popular articles are the viewed ones); an
#            informative row repeats the baseline with the views spread
#            evenly (100 per article).
#   plpgsql  the same projections as PL/pgSQL functions + a row trigger on
#            their own log (test/bench/plpgsql_dt.sql): view spread,
#            bump+unbump spread, post_comment spread, 8 clients, goal >= 2
#   rebuild  drivetribe.rebuild() of a generated 10,000,000-event log
#            (test/bench/gen_log.sql; projections emptied first) vs a
#            set-based SQL recomputation of the same tables
#            (test/bench/recompute.sql), wall time, goal ours/theirs <= 1.5;
#            events/s of both; verify() must be empty afterwards, and the
#            recomputation must equal drivetribe's read API
#   feeds    a generated world (test/bench/gen_feeds.sql: 1,000,000 users,
#            210,000 articles over 28 days, Zipf-like engagement; a tribe
#            every user is in, a celebrity everyone follows; 100 typical
#            readers in 50 tribes following 200 authors, 10 heavy readers in
#            200 tribes following 5,000): feed() page latency p50/p99 vs the
#            same page computed at read time over plain normalised tables
#            (joins and count()), goal >= 50x at both; a heavy reader's page
#            vs a typical one's (<= 10x); post_article into the 1,000,000-
#            member tribe vs a 10-member one and by the celebrity vs an
#            author nobody follows, join_tribe+leave_tribe of a tribe of
#            100,000 articles vs an empty one, follow_user+unfollow_user of
#            an author of 10,000 articles vs a new one (time per call, <= 2x)
#   decode   the same WAL (view_article, bump, post_comment calls by 8
#            clients, every call its own transaction: the log and the
#            projections' changes) decoded through three slots created
#            before it: drivetribe, wal2json (format 2, filtered to the event
#            table, no transaction records) and test_decoding; events/s of
#            pg_logical_slot_peek_changes (best of 3), goal drivetribe >= 2x
#            wal2json; bytes per event in the notes
#   consume  the stream at line rate, drivetribe-consume (DT_CONSUME, default
#            the installed one) vs pg_recvlogical with the same plugin.
#            Throughput: slots first (one per reader, same start), then a
#            backlog of one-event transactions (view_article, 8 clients;
#            DT_BENCH_STREAM_EVENTS, default 1,000,000, 2,000 in --smoke),
#            then each reader timed to pg_current_wal_lsn() as --endpos:
#            pg_recvlogical -o include_commits=on -f FILE (the baseline),
#            drivetribe-consume -c 'cat >/dev/null' (informative) and
#            --pipe with a perl downstream acking each batch (goal >= 0.5),
#            events/s; the 1,000,000-event catch-up time of --pipe (measured
#            or scaled from its events/s) vs 60 s.  When --help lists
#            --postgres: that sink into a second database vs native logical
#            replication of drivetribe.events (a publication, a subscription
#            into a plain copy of the table, copy_data off, created before
#            the backlog and enabled after it, timed until the receiver has
#            every row; informative; DT_BENCH_NATIVE=1 times the native side
#            alone, against pg_recvlogical).  When --help lists --http and
#            python3 exists: --http into a discarding Python receiver; when
#            it lists --redis and redis-server exists: --redis into a
#            redis-server of the run's own (appendfsync always); when it
#            lists --nats and nats-server exists: --nats into a JetStream
#            file stream; each vs pg_recvlogical, informative.  Latency: commit to downstream
#            (a downstream's arrival stamp of each event line minus the
#            event's commit_time) p50/p99 at a steady 200 calls/s (4
#            clients) and 2,000 calls/s (8 clients) of view/bump, pgbench -R:
#            --pipe (a perl downstream stamping each line, acking each batch)
#            vs pg_recvlogical into a FIFO stamped the same way; goals p99 <=
#            10 ms at 200/s and <= 50 ms at 2,000/s; then, in a run of its
#            own at 200/s, the command mode (-c, a process per batch, vs
#            pg_recvlogical; informative) and its ack lag p99 (the command
#            done to confirmed_flush_lsn past its batch, polled every 10 ms)
#            against the 1 s target
#   rename   rename_user of an author of 10,000 articles and 50,000 comments
#            vs of a new author, 1 client, alternating two names (each call
#            changes the name); figures are ms per call, goal
#            prolific/new <= 2
#   projections  SQL projections (issue 21 item 7), examples/trending/
#            trending.sql as the projection: (1) its backfill, CALL
#            create_projection('trending', ...) over the rebuild case's log
#            (the same database when rebuild runs too, else one generated
#            the same way and rebuild() so that writers can call the API),
#            vs a set-based INSERT ... SELECT ... GROUP BY of the same
#            tables (test/bench/trending_sql.sql), events of the log per
#            second, goal >= 0.5, the two results equal; informative: the
#            same backfill in batches ten times as large, and one of the
#            same kinds to a handler that does nothing; (2) the longest
#            view_article call of 8 clients spread over the log's articles
#            while a second backfill runs (pgbench's per-transaction log,
#            every call that overlaps the backfill) vs the same calls with
#            no backfill (informative) and vs 1 s (goal); (3) in a
#            database of its own with the suite's world (10,000 users,
#            tribes and articles, through the API), view_article spread,
#            8 clients, with trending inline and async vs no projection,
#            interleaved rounds (none, inline, async, async, inline, none,
#            ...; the worker drained after each async round), goals >= 0.7
#            and >= 0.9; (4) at a steady 2,000 calls/s (pgbench -R, 8
#            clients) with trending async, the lag of each event from the
#            writer's now() (occurred_at: its transaction's start) to its
#            application, measured by a second async projection
#            zz_lag_probe (applied after trending in each worker round),
#            p99 vs 1 s (goal); the two projections caught up afterwards
#            and trending equal to the SQL computation after every switch
#   online_update, online_rebuild  change without downtime (issue 22):
#            "writers during a command".  16 pgbench clients (-n -M simple
#            -j 2, --max-tries 10, per-transaction log) make a write mix
#            through the 1.0 write API, one call per transaction: 70%
#            view_article, 8% bump, 4% unbump, 10% post_comment (ids from a
#            sequence), 5% follow_user, 3% unfollow_user, articles and users
#            spread over a generated log (gen_log.sql's live articles);
#            after a baseline window (DT_BENCH_ONLINE_BASELINE s, 1 s after
#            they connected; 1 s, 0.5 s after, in --smoke) a command runs
#            in a psql session of its own; the writers go on until 2 s (0.5
#            in --smoke) after it and every call that started before its
#            end has ended, then their sessions are terminated.  Figures from pgbench's log: the writers' calls/s
#            (calls that ended while the command ran, per second of it) vs
#            in the baseline window, the longest call that overlapped the
#            command vs 1 s, the command's wall time; an error if the
#            command failed or a writer did not run through it.
#            online_update: a log generated at DT_BENCH_UPDATE_FROM
#            (CREATE EXTENSION ... VERSION, gen_log.sql, rebuild()), then
#            ALTER EXTENSION drivetribe UPDATE TO DT_BENCH_UPDATE_TO under
#            the writers: the longest write vs 1 s (goal), calls/s during
#            vs before (informative), the update's wall time vs the same
#            update with no load on a copy of the database made before it
#            (informative); the version and verify() checked afterwards.
#            When the update is not installed: n/a rows (--smoke, with
#            neither variable set, falls back to the newest one-step
#            update installed).  online_rebuild: on the log of the
#            rebuild or projections case (else the update's, at the
#            default version, else one of its own): rebuild() with no
#            load, then under the writers (today's reference: informative
#            calls/s and longest write); when rebuild(concurrently =>
#            true) exists (pg_proc; a function or a procedure) the same
#            for it with goals calls/s >= 0.7x and longest write <= 1 s,
#            and its wall time with no load vs rebuild()'s (<= 1.5x);
#            otherwise those rows are n/a (not implemented); verify()
#            after the runs under load
#
# A benchmark, not a test: scripts/test.sh runs only the smoke run
# (test/e2e/bench_smoke.sh).  Needs the extension installed (bash
# scripts/build.sh); installs gnuplot-nox when gnuplot is missing (as root,
# or through sudo).  Other load on the machine shows in the numbers: the
# results record the load average before and after.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 2
ROOT=$(pwd)
. scripts/cluster.sh
DT_CONSUME=${DT_CONSUME:-$DT_PGBIN/drivetribe-consume}

ALL_CASES=(hot ceiling card vote plpgsql rename feeds decode consume rebuild projections online_update online_rebuild)
SMOKE=0; ONLY=(); OUT=
COMMAND="bash test/bench/run.sh${*:+ $*}"
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$ROOT/test/bench/run.sh"; }
while [ $# -gt 0 ]; do
  case $1 in
    --smoke) SMOKE=1 ;;
    --out) shift; OUT=${1:-}; [ -n "$OUT" ] || { echo "run.sh: --out needs a directory" >&2; exit 2; } ;;
    --only)
      shift
      [ $# -gt 0 ] && [ "${1#--}" = "$1" ] || { echo "run.sh: --only needs a case" >&2; exit 2; }
      while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do
        IFS=, read -r -a names <<<"$1"; ONLY+=("${names[@]}"); shift
      done
      continue ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for c in "${ONLY[@]}"; do
  case " ${ALL_CASES[*]} " in *" $c "*) ;; *) echo "run.sh: unknown case $c (cases: ${ALL_CASES[*]})" >&2; exit 2 ;; esac
done
want() { [ ${#ONLY[@]} -eq 0 ] && return 0; local s; for s in "${ONLY[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

if [ $SMOKE = 1 ]; then
  N=1000                 # users, tribes, articles of the world
  PRIOR_VIEWS=10000
  LOG_EVENTS=${DT_BENCH_LOG_EVENTS:-30000}
  PROLIFIC_ARTICLES=200; PROLIFIC_COMMENTS=1000
  RUN=(-t 3)             # transactions per client (see bench())
  HOT_ROUNDS=1
  HOT_RUN=(-t 3)
  RUN_LABEL="about 24 transactions per run"
  SHARED_BUFFERS=128MB
  DECODE_TX=40            # transactions per client of the decode workload
  STREAM_EVENTS=${DT_BENCH_STREAM_EVENTS:-2000}   # the consume case's backlog
  FEEDS_WORLD=(-v users=3000 -v tribes=40 -v articles=2000 -v authors=1000 -v big_articles=500
               -v prolific=100 -v views=5000 -v bumps=1000 -v comments=500 -v typical_tribes=5
               -v typical_follows=20 -v heavy_tribes=20 -v heavy_follows=500)
  FEEDS_LAST_AUTHOR=1010
  : "${OUT:=$ROOT/test/bench/results/smoke}"
else
  N=10000
  PRIOR_VIEWS=1000000
  LOG_EVENTS=${DT_BENCH_LOG_EVENTS:-10000000}
  PROLIFIC_ARTICLES=10000; PROLIFIC_COMMENTS=50000
  SECS=${DT_BENCH_SECONDS:-8}
  RUN=(-T "$SECS")
  RUN_LABEL="$SECS s per pgbench run"
  HOT_ROUNDS=${DT_BENCH_HOT_ROUNDS:-4}
  HOT_RUN=(-T "$(( (SECS + 1) / 2 ))")
  SHARED_BUFFERS=2GB
  DECODE_TX=12000
  STREAM_EVENTS=${DT_BENCH_STREAM_EVENTS:-1000000}
  FEEDS_WORLD=(-v users=1000000 -v tribes=1000 -v articles=100000 -v authors=10000 -v big_articles=100000
               -v prolific=10000 -v views=1000000 -v bumps=200000 -v comments=100000 -v typical_tribes=50
               -v typical_follows=200 -v heavy_tribes=200 -v heavy_follows=5000)
  FEEDS_LAST_AUTHOR=10010
  : "${OUT:=$ROOT/test/bench/results}"
fi
mkdir -p "$OUT" || exit 2
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dt-bench.XXXXXX") || exit 2
chmod 755 "$WORK"
LOG=$OUT/latest.log
: >"$LOG"
T_START=$SECONDS
say() { printf '%s\n' "$*"; printf '%s\n' "$*" >>"$LOG"; }
fail() { say "run.sh: $*"; exit 1; }

# ------------------------------------------------------------------ gnuplot
ensure_gnuplot() {
  command -v gnuplot >/dev/null 2>&1 && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { say "gnuplot missing and no sudo to install gnuplot-nox"; return 1; }
    sudo=(sudo)
  fi
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300)
  say "installing gnuplot-nox (for the chart)"
  if ! "${apt[@]}" install --no-install-recommends gnuplot-nox >"$WORK/apt.log" 2>&1; then
    "${apt[@]}" update >>"$WORK/apt.log" 2>&1
    "${apt[@]}" install --no-install-recommends gnuplot-nox >>"$WORK/apt.log" 2>&1 ||
      { say "could not install gnuplot-nox:"; tail -n 20 "$WORK/apt.log"; return 1; }
  fi
  command -v gnuplot >/dev/null 2>&1
}
HAVE_GNUPLOT=1
ensure_gnuplot || HAVE_GNUPLOT=0

# ------------------------------------------------------------------ cluster
SOFILE=$("$DT_PGBIN/pg_config" --pkglibdir)/drivetribe.so
[ -f "$SOFILE" ] || fail "$SOFILE not found: install the extension first (bash scripts/build.sh)"
so_sum() { md5sum "$SOFILE" 2>/dev/null | cut -c1-12; }
SO_BEFORE=$(so_sum)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

PORT=${DT_BENCH_PORT:-54350}
say "bench: starting a durable cluster on port $PORT"
# shellcheck disable=SC2034  # read by dt_cluster_init
DT_PG_CONF="max_connections = 200
shared_buffers = $SHARED_BUFFERS
max_wal_size = 16GB
checkpoint_timeout = 30min
log_min_messages = warning
log_checkpoints = off" dt_cluster_temp "$PORT" postgres durable >/dev/null ||
  { rm -rf "$WORK"; fail "could not start the cluster"; }
trap 'rm -rf "$WORK"; dt__cleanup_temp' EXIT
export PGDATABASE=bench
createdb bench || fail "createdb failed"
PGVERSION=$(psql -XAtc 'SHOW server_version' postgres)
say "bench: PostgreSQL $PGVERSION, PGHOST=$PGHOST, $RUN_LABEL, results in $OUT"

sql() { psql -X -q -v ON_ERROR_STOP=1 "$@" >>"$LOG" 2>&1; }           # run, output to the log
val() { psql -X -A -t -q -v ON_ERROR_STOP=1 "$@" 2>>"$LOG"; }          # one value
step() { say "  $(date +%H:%M:%S) $*"; }

# ------------------------------------------------------------------ results
TSV=$WORK/rows.tsv
: >"$TSV"
ERRORS=0
NOTES=$WORK/notes
: >"$NOTES"
note() { printf '%s\n' "$*" >>"$NOTES"; }   # (also from subshells)

# record CASE LABEL FIGURE OURS BASE UNIT GOAL [speedup | REASON]
#   (GOAL: ">= 0.9", "<= 1.5" or "-"); OURS/BASE are numbers or ERR, or
#   n/a for a figure that cannot be measured (met? says "n/a (REASON)":
#   not an error); ratio = ours / baseline, or baseline / ours with
#   speedup (times)
record() {
  local case=$1 label=$2 figure=$3 ours=$4 base=$5 unit=$6 goal=$7 ratio met
  if [ "$ours" = n/a ] || [ "$base" = n/a ]; then
    met="n/a${8:+ ($8)}"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$label" "$figure" "$ours" "$base" "$unit" n/a "$goal" "$met" >>"$TSV"
    say "$(printf '    %-44s ours %s  baseline %s  ratio n/a  goal %s  %s' "$label" "$ours" "$base" "$goal" "$met")"
    return
  fi
  if [ "${8:-}" = speedup ]; then   # times: ratio = baseline / ours
    ratio=$(awk -v a="$ours" -v b="$base" 'BEGIN { if (a == "ERR" || b == "ERR" || a + 0 == 0) print "ERR"; else printf "%.3f", b / a }')
  else
    ratio=$(awk -v a="$ours" -v b="$base" 'BEGIN { if (a == "ERR" || b == "ERR" || b + 0 == 0) print "ERR"; else printf "%.3f", a / b }')
  fi
  met=$(awk -v r="$ratio" -v g="$goal" 'BEGIN {
    if (r == "ERR") { print "error"; exit }
    if (g == "-") { print "-"; exit }
    split(g, p, " "); if (p[1] == ">=") print (r + 0 >= p[2] + 0 ? "yes" : "no"); else print (r + 0 <= p[2] + 0 ? "yes" : "no") }')
  [ "$met" = error ] && ERRORS=$((ERRORS + 1))
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$label" "$figure" "$ours" "$base" "$unit" "$ratio" "$goal" "$met" >>"$TSV"
  say "$(printf '    %-44s ours %s  baseline %s  ratio %s  goal %s  %s' "$label" "$ours" "$base" "$ratio" "$goal" "$met")"
}

# ------------------------------------------------------------------ pgbench
# bench NAME CLIENTS CALLS_PER_TX [pgbench args...]: prints calls/s (or ERR)
bench() {
  local name=$1 clients=$2 calls=$3; shift 3
  local out=$WORK/pgbench-$name-$clients.out rc tps failed
  [ $SMOKE = 1 ] || psql -X -q -c CHECKPOINT >/dev/null 2>&1
  local run=("${RUN[@]}")
  # smoke: about 24 transactions in all, at least one per client
  [ $SMOKE = 0 ] || run=(-t $(( clients >= 24 ? 1 : 24 / clients )))
  pgbench -n -j 2 -c "$clients" "${run[@]}" --max-tries=10 "$@" >"$out" 2>&1; rc=$?
  tps=$(awk -F' = ' '/^tps = / { split($2, a, " "); print a[1]; exit }' "$out")
  failed=$(awk '/^number of failed transactions:/ { print $5; exit }' "$out")
  {
    echo "--- pgbench $name, $clients clients: exit $rc"
    grep -E '^(tps|number of (transactions|failed)|latency average|maximum number of tries)' "$out"
    grep -E 'error|ERROR|abort' "$out" | head -n 5
  } >>"$LOG"
  if [ $rc -ne 0 ] || [ -z "$tps" ]; then
    {
      echo "    pgbench $name ($clients clients) failed (exit $rc):"
      grep -E 'error|ERROR|abort' "$out" | head -n 3 | sed 's/^/      /'
    } | tee -a "$LOG" >&2
    echo ERR; return
  fi
  [ "${failed:-0}" = 0 ] || note "pgbench $name at $clients clients: $failed transactions failed after retries (deadlock or serialization)"
  awk -v t="$tps" -v c="$calls" 'BEGIN { printf "%.1f", t * c }'
}

# the mean of calls/s figures, or ERR if any is
mean_or_err() {
  local v
  for v in "$@"; do [ "$v" = ERR ] && { echo ERR; return; }; done
  printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.1f", s / NR }'
}

# pgbench scripts; :n is the world's size
script() { cat >"$WORK/$1.sql"; }
D="-D n=$N"

# ------------------------------------------------------------------ the world
# N users, N tribes and N articles: user i owns tribe i and wrote article i
# in tribe i; everything through the API.
step "world: $N users, tribes and articles"
sql -v n="$N" <<'SQL' || fail "loading the world failed (see $LOG)"
CREATE EXTENSION drivetribe;
SELECT count(drivetribe.register_user(u, 'user ' || u)) FROM generate_series(1, :n) u;
SELECT count(drivetribe.create_tribe(t, t, 'tribe ' || t)) FROM generate_series(1, :n) t;
SELECT count(drivetribe.post_article(a, a, a, 'article ' || a)) FROM generate_series(1, :n) a;
CREATE SEQUENCE public.comment_ids START 1000000000;
SQL
EXTVERSION=$(val -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'")

if want vote; then
  # prior views: article k gets round(V * k^-1.08 / sum) views, set-based
  # into the log, then rebuild() folds them into the projections
  step "vote world: $PRIOR_VIEWS prior views (Zipf 1.08), plain normalised tables"
  sql -v n="$N" -v views="$PRIOR_VIEWS" <<'SQL' || fail "loading the prior views failed (see $LOG)"
CREATE TABLE public.prior_views AS
SELECT k AS article_id, round(:views * w / sum(w) OVER ())::bigint AS cnt
  FROM (SELECT k, power(k, -1.08) AS w FROM generate_series(1, :n) k) s;
INSERT INTO drivetribe.events (event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, context)
SELECT gen_random_uuid(), 'article_viewed', clock_timestamp(), v, p.article_id, p.article_id, p.article_id,
       jsonb_build_object('user_name', 'user ' || v)
  FROM public.prior_views p,
       LATERAL (SELECT (p.article_id * 31 + g) % :n + 1 AS v FROM generate_series(1, p.cnt) g) x;
SELECT drivetribe.rebuild();

-- the baseline: plain normalised tables, counts at read time
CREATE SCHEMA rt;
CREATE TABLE rt.users (user_id bigint PRIMARY KEY, name text NOT NULL,
                       registered_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE rt.tribes (tribe_id bigint PRIMARY KEY, owner_id bigint NOT NULL, name text NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE rt.articles (article_id bigint PRIMARY KEY, tribe_id bigint NOT NULL,
                          author_id bigint NOT NULL, title text NOT NULL,
                          posted_at timestamptz NOT NULL DEFAULT now(),
                          deleted boolean NOT NULL DEFAULT false);
CREATE TABLE rt.views (view_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                       article_id bigint NOT NULL, viewer_id bigint,
                       viewed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE rt.views_uniform (view_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                               article_id bigint NOT NULL, viewer_id bigint,
                               viewed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE rt.bumps (article_id bigint NOT NULL, user_id bigint NOT NULL,
                       bumped_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (article_id, user_id));
CREATE TABLE rt.comments (comment_id bigint PRIMARY KEY, article_id bigint NOT NULL,
                          author_id bigint NOT NULL, body text NOT NULL,
                          posted_at timestamptz NOT NULL DEFAULT now(),
                          deleted boolean NOT NULL DEFAULT false);
INSERT INTO rt.users SELECT user_id, name, registered_at FROM drivetribe.users;
INSERT INTO rt.tribes SELECT tribe_id, owner_id, name, created_at FROM drivetribe.tribes;
INSERT INTO rt.articles SELECT article_id, tribe_id, author_id, title, posted_at, deleted FROM drivetribe.articles;
INSERT INTO rt.views (article_id, viewer_id)
SELECT p.article_id, x.v
  FROM public.prior_views p,
       LATERAL (SELECT (p.article_id * 31 + g) % :n + 1 AS v FROM generate_series(1, p.cnt) g) x;
INSERT INTO rt.views_uniform (article_id, viewer_id)
SELECT a, (a * 31 + g) % :n + 1
  FROM generate_series(1, :n) a, generate_series(1, :views / :n) g;
CREATE INDEX ON rt.views (article_id);
CREATE INDEX ON rt.views_uniform (article_id);
CREATE INDEX ON rt.comments (article_id) WHERE NOT deleted;
CREATE VIEW rt.article_card AS
SELECT a.article_id, a.tribe_id, t.name AS tribe_name, a.author_id, u.name AS author_name,
       a.title, a.posted_at, c.views, c.comments, c.bumps,
       log(greatest(10 * c.bumps + 5 * c.comments + c.views, 1)::double precision)
         + extract(epoch FROM a.posted_at)::double precision / 45000 AS score
  FROM rt.articles a
  JOIN rt.tribes t ON t.tribe_id = a.tribe_id
  JOIN rt.users u ON u.user_id = a.author_id
  CROSS JOIN LATERAL (
    SELECT (SELECT count(*) FROM rt.views v WHERE v.article_id = a.article_id) AS views,
           (SELECT count(*) FROM rt.comments m WHERE m.article_id = a.article_id AND NOT m.deleted) AS comments,
           (SELECT count(*) FROM rt.bumps b WHERE b.article_id = a.article_id) AS bumps) c
 WHERE NOT a.deleted;
CREATE VIEW rt.article_card_uniform AS
SELECT a.article_id, a.tribe_id, t.name AS tribe_name, a.author_id, u.name AS author_name,
       a.title, a.posted_at, c.views, c.comments, c.bumps,
       log(greatest(10 * c.bumps + 5 * c.comments + c.views, 1)::double precision)
         + extract(epoch FROM a.posted_at)::double precision / 45000 AS score
  FROM rt.articles a
  JOIN rt.tribes t ON t.tribe_id = a.tribe_id
  JOIN rt.users u ON u.user_id = a.author_id
  CROSS JOIN LATERAL (
    SELECT (SELECT count(*) FROM rt.views_uniform v WHERE v.article_id = a.article_id) AS views,
           (SELECT count(*) FROM rt.comments m WHERE m.article_id = a.article_id AND NOT m.deleted) AS comments,
           (SELECT count(*) FROM rt.bumps b WHERE b.article_id = a.article_id) AS bumps) c
 WHERE NOT a.deleted;
SQL
  v_total=$(val -c "SELECT sum(cnt) FROM public.prior_views")
  v_top=$(val -c "SELECT cnt FROM public.prior_views WHERE article_id = 1")
  note "vote: $v_total prior views, article 1 (the most read) has $v_top of them; the uniform variant has $((PRIOR_VIEWS / N)) per article"
fi

if want card; then
  sql <<'SQL' || fail "creating the card table failed (see $LOG)"
CREATE TABLE public.cards AS SELECT * FROM drivetribe.article_view;
ALTER TABLE public.cards ADD PRIMARY KEY (article_id);
SQL
fi

if want ceiling || want plpgsql; then
  sql <<'SQL' || fail "creating the bare event table failed (see $LOG)"
CREATE SEQUENCE public.bare_seq;
CREATE TABLE public.bare_events (LIKE drivetribe.events INCLUDING DEFAULTS);
ALTER TABLE public.bare_events ALTER seq SET DEFAULT nextval('public.bare_seq'),
  ADD PRIMARY KEY (seq), ADD UNIQUE (event_id);
SQL
fi

if want plpgsql; then
  step "plpgsql world: the same $N users, tribes and articles through plpgsql_dt"
  sql -f test/bench/plpgsql_dt.sql || fail "test/bench/plpgsql_dt.sql failed (see $LOG)"
  sql -v n="$N" <<'SQL' || fail "loading the plpgsql world failed (see $LOG)"
SELECT count(plpgsql_dt.register_user(u, 'user ' || u)) FROM generate_series(1, :n) u;
SELECT count(plpgsql_dt.create_tribe(t, t, 'tribe ' || t)) FROM generate_series(1, :n) t;
SELECT count(plpgsql_dt.post_article(a, a, a, 'article ' || a)) FROM generate_series(1, :n) a;
SQL
fi

if want rename; then
  PROLIFIC=$((N + 1)); NEWCOMER=$((N + 2))
  step "rename world: user $PROLIFIC writes $PROLIFIC_ARTICLES articles and $PROLIFIC_COMMENTS comments"
  sql <<'SQL' || fail "creating the rename loader failed (see $LOG)"
-- articles and comments of one author through the API, 500 calls per
-- transaction (one row updated many times in one transaction is quadratic)
CREATE PROCEDURE public.bench_prolific(p bigint, first_article bigint, n_articles int,
                                       n_comments int, n_tribes int)
LANGUAGE plpgsql AS $$
DECLARE
  i int := 0;
BEGIN
  WHILE i < n_articles LOOP
    PERFORM drivetribe.post_article(first_article + x, p, x % n_tribes + 1, 'article ' || (first_article + x))
       FROM generate_series(i, least(i + 500, n_articles) - 1) x;
    COMMIT;
    i := i + 500;
  END LOOP;
  i := 0;
  WHILE i < n_comments LOOP
    PERFORM drivetribe.post_comment(nextval('public.comment_ids'), first_article + x % n_articles, p,
                                    'comment number ' || x)
       FROM generate_series(i, least(i + 500, n_comments) - 1) x;
    COMMIT;
    i := i + 500;
  END LOOP;
END
$$;
SQL
  sql -c "SELECT drivetribe.register_user($PROLIFIC, 'prolific'), drivetribe.register_user($NEWCOMER, 'newcomer')" \
      -c "CALL public.bench_prolific($PROLIFIC, 100000001, $PROLIFIC_ARTICLES, $PROLIFIC_COMMENTS, $N)" ||
    fail "loading the prolific author failed (see $LOG)"
  got=$(val -c "SELECT articles || ' articles, ' || comments || ' comments' FROM drivetribe.user_stats WHERE user_id = $PROLIFIC")
  note "rename: the prolific author (user $PROLIFIC) has $got; the new author (user $NEWCOMER) none"
fi

step "VACUUM ANALYZE"
sql -c "VACUUM ANALYZE" || fail "VACUUM failed"

# ------------------------------------------------------------------ cases
if want card; then
  step "card: article(id) vs a primary-key SELECT of a precomputed card, Zipf 1.08, 8 clients"
  script card_ours <<'B'
\set id random_zipfian(1, :n, 1.08)
SELECT * FROM drivetribe.article(:id);
B
  script card_base <<'B'
\set id random_zipfian(1, :n, 1.08)
SELECT * FROM public.cards WHERE article_id = :id;
B
  o=$(bench card_ours 8 1 $D -M simple -f "$WORK/card_ours.sql")
  b=$(bench card_base 8 1 $D -M simple -f "$WORK/card_base.sql")
  record card "card read, simple protocol" "article(id) vs PK SELECT of a precomputed card, Zipf 1.08 over $N articles, 8 clients, -M simple (reads/s)" "$o" "$b" "reads/s" ">= 0.6"
  o=$(bench card_ours_prep 8 1 $D -M prepared -f "$WORK/card_ours.sql")
  b=$(bench card_base_prep 8 1 $D -M prepared -f "$WORK/card_base.sql")
  record card "card read, extended protocol" "article(id) vs PK SELECT of a precomputed card, Zipf 1.08 over $N articles, 8 clients, -M prepared (reads/s; informative)" "$o" "$b" "reads/s" "-"
fi

if want vote; then
  step "vote: 95% article(id), 5% bump, Zipf 1.08, 8 clients, vs read time over plain tables"
  script vote_read <<'B'
\set id random_zipfian(1, :n, 1.08)
SELECT * FROM drivetribe.article(:id);
B
  script vote_bump <<'B'
\set id random_zipfian(1, :n, 1.08)
\set u random(1, :n)
SELECT drivetribe.bump(:id, :u);
B
  script rt_read <<'B'
\set id random_zipfian(1, :n, 1.08)
SELECT * FROM rt.article_card WHERE article_id = :id;
B
  script rt_read_uniform <<'B'
\set id random_zipfian(1, :n, 1.08)
SELECT * FROM rt.article_card_uniform WHERE article_id = :id;
B
  script rt_bump <<'B'
\set id random_zipfian(1, :n, 1.08)
\set u random(1, :n)
INSERT INTO rt.bumps (article_id, user_id) VALUES (:id, :u) ON CONFLICT DO NOTHING;
B
  o=$(bench vote_ours 8 1 $D -f "$WORK/vote_read.sql@95" -f "$WORK/vote_bump.sql@5")
  b=$(bench vote_base 8 1 $D -f "$WORK/rt_read.sql@95" -f "$WORK/rt_bump.sql@5")
  record vote "vote shape (Zipf prior views)" "vote: 95% article(id) + 5% bump, Zipf 1.08 over $N articles, $PRIOR_VIEWS prior views, vs read time over plain tables, 8 clients (calls/s)" "$o" "$b" "calls/s" ">= 10"
  b=$(bench vote_base_uniform 8 1 $D -f "$WORK/rt_read_uniform.sql@95" -f "$WORK/rt_bump.sql@5")
  record vote "vote shape (uniform prior views)" "vote, same, baseline with the prior views spread evenly over the articles (calls/s; informative)" "$o" "$b" "calls/s" "-"
fi

if want ceiling; then
  step "ceiling: view_article spread vs a bare INSERT of the same event row, 8 clients"
  script view_spread <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT drivetribe.view_article(:a, :u);
B
  script bare_insert <<'B'
\set a random(1, :n)
\set u random(1, :n)
INSERT INTO public.bare_events (event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, context)
VALUES (gen_random_uuid(), 'article_viewed', now(), :u, :a, :a, :a, jsonb_build_object('user_name', 'user ' || :u));
B
  o=$(bench ceiling_view 8 1 $D -f "$WORK/view_spread.sql")
  b=$(bench ceiling_insert 8 1 $D -f "$WORK/bare_insert.sql")
  record ceiling "view spread vs bare INSERT" "view_article spread over $N articles vs a bare INSERT of the same event row, 8 clients (calls/s)" "$o" "$b" "calls/s" ">= 0.6"
fi

if want hot; then
  step "hot: one key vs the same calls spread over $N keys, 8 and 64 clients"
  script view_hot <<'B'
\set u random(1, :n)
SELECT drivetribe.view_article(1, :u);
B
  script view_spread <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT drivetribe.view_article(:a, :u);
B
  script bump_hot <<'B'
\set u random(1, :n)
SELECT drivetribe.bump(1, :u);
SELECT drivetribe.unbump(1, :u);
B
  script bump_spread <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT drivetribe.bump(:a, :u);
SELECT drivetribe.unbump(:a, :u);
B
  script comment_hot <<'B'
\set u random(1, :n)
SELECT drivetribe.post_comment(nextval('public.comment_ids'), 1, :u, 'a comment from the benchmark');
B
  script comment_spread <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT drivetribe.post_comment(nextval('public.comment_ids'), :a, :u, 'a comment from the benchmark');
B
  script follow_hot <<'B'
\set u random(2, :n)
SELECT drivetribe.follow_user(:u, 1);
SELECT drivetribe.unfollow_user(:u, 1);
B
  script follow_spread <<'B'
\set f random(1, :n)
\set d random(1, :n - 1)
\set e 1 + (:f - 1 + :d) % :n
SELECT drivetribe.follow_user(:f, :e);
SELECT drivetribe.unfollow_user(:f, :e);
B
  script join_hot <<'B'
\set u random(2, :n)
SELECT drivetribe.join_tribe(:u, 1);
SELECT drivetribe.leave_tribe(:u, 1);
B
  script join_spread <<'B'
\set t random(1, :n)
\set d random(1, :n - 1)
\set u 1 + (:t - 1 + :d) % :n
SELECT drivetribe.join_tribe(:u, :t);
SELECT drivetribe.leave_tribe(:u, :t);
B
  for shape in "view:1:view_article of article 1 vs spread" \
               "bump:2:bump+unbump of article 1 vs spread" \
               "comment:1:post_comment on article 1 vs spread" \
               "follow:2:follow+unfollow of user 1 vs spread" \
               "join:2:join+leave of tribe 1 vs spread"; do
    IFS=: read -r k calls what <<<"$shape"
    for c in 8 64; do
      # interleaved rounds (hot, spread, spread, hot, ...), each half of
      # a run: the machine's drift over the minutes a case takes falls on
      # both sides alike; each side is the mean of its rounds
      ho=(); sp=(); full_run=("${RUN[@]}"); RUN=("${HOT_RUN[@]}")
      for r in $(seq 1 "$HOT_ROUNDS"); do
        if [ $((r % 2)) = 1 ]; then
          ho+=("$(bench "${k}_hot" "$c" "$calls" $D -f "$WORK/${k}_hot.sql")")
          sp+=("$(bench "${k}_spread" "$c" "$calls" $D -f "$WORK/${k}_spread.sql")")
        else
          sp+=("$(bench "${k}_spread" "$c" "$calls" $D -f "$WORK/${k}_spread.sql")")
          ho+=("$(bench "${k}_hot" "$c" "$calls" $D -f "$WORK/${k}_hot.sql")")
        fi
      done
      RUN=("${full_run[@]}")
      o=$(mean_or_err "${ho[@]}"); b=$(mean_or_err "${sp[@]}")
      record hot "hot $k, $c clients" "$what over $N keys, $c clients (calls/s)" "$o" "$b" "calls/s" ">= 0.9"
    done
  done
  note "hot: bump+unbump, follow+unfollow and join+leave run as two transactions (one per call) per pgbench transaction; calls/s counts both calls"
  note "hot: each figure is the mean of $HOT_ROUNDS interleaved rounds per side (hot, spread, spread, hot, ...), ${HOT_RUN[*]} per round"
fi

if want plpgsql; then
  step "plpgsql: the same projections as PL/pgSQL functions and a row trigger, 8 clients"
  script pl_view <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT plpgsql_dt.view_article(:a, :u);
B
  script pl_bump <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT plpgsql_dt.bump(:a, :u);
SELECT plpgsql_dt.unbump(:a, :u);
B
  script pl_comment <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT plpgsql_dt.post_comment(nextval('public.comment_ids'), :a, :u, 'a comment from the benchmark');
B
  # ours: the same scripts as the hot case's spread ones
  script view_spread <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT drivetribe.view_article(:a, :u);
B
  script bump_spread <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT drivetribe.bump(:a, :u);
SELECT drivetribe.unbump(:a, :u);
B
  script comment_spread <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT drivetribe.post_comment(nextval('public.comment_ids'), :a, :u, 'a comment from the benchmark');
B
  # durable, then without waiting for the WAL flush at commit: what is
  # left then is the CPU each call costs, which is what the language changes
  for mode in durable async; do
    opts=; tag=; suffix=; figure_tail="PL/pgSQL functions + trigger, 8 clients (calls/s)"
    if [ $mode = async ]; then
      opts='-c synchronous_commit=off'; tag=async_; suffix=", CPU"
      figure_tail="PL/pgSQL, 8 clients, synchronous_commit off: CPU per call, no flush wait (calls/s)"
    fi
    for shape in "view:view_spread:pl_view:1:view_article" \
                  "bump:bump_spread:pl_bump:2:bump+unbump" \
                  "comment:comment_spread:pl_comment:1:post_comment"; do
      IFS=: read -r k ours theirs calls what <<<"$shape"
      o=$(PGOPTIONS=$opts bench "pl_ours_$tag$k" 8 "$calls" $D -f "$WORK/$ours.sql")
      b=$(PGOPTIONS=$opts bench "pl_theirs_$tag$k" 8 "$calls" $D -f "$WORK/$theirs.sql")
      record plpgsql "C vs PL/pgSQL, $what$suffix" "$what spread: drivetribe (C) vs $figure_tail" "$o" "$b" "calls/s" ">= 2"
    done
  done
  # The physical ceiling against the same baseline: the view's event row
  # appended by hand, no projection at all.  With durable commits no
  # implementation can beat PL/pgSQL by more than this.
  script bare_insert <<'B'
\set a random(1, :n)
\set u random(1, :n)
INSERT INTO public.bare_events (event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, context)
VALUES (gen_random_uuid(), 'article_viewed', now(), :u, :a, :a, :a, jsonb_build_object('user_name', 'user ' || :u));
B
  o=$(bench pl_ceiling_insert 8 1 $D -f "$WORK/bare_insert.sql")
  b=$(bench pl_ceiling_theirs 8 1 $D -f "$WORK/pl_view.sql")
  record plpgsql "ceiling vs PL/pgSQL view" "ceiling: a bare INSERT of the view's event row vs PL/pgSQL view_article, 8 clients, durable (calls/s; informative: the most any implementation can gain here)" "$o" "$b" "calls/s" "-"
fi

if want rename; then
  step "rename: rename_user of an author of $PROLIFIC_ARTICLES articles and $PROLIFIC_COMMENTS comments vs a new author, 1 client"
  script rename_prolific <<B
\\set k :k + 1
SELECT drivetribe.rename_user($PROLIFIC, 'prolific ' || :k % 2);
B
  script rename_new <<B
\\set k :k + 1
SELECT drivetribe.rename_user($NEWCOMER, 'newcomer ' || :k % 2);
B
  o=$(bench rename_prolific 1 1 -D k=0 -f "$WORK/rename_prolific.sql")
  b=$(bench rename_new 1 1 -D k=0 -f "$WORK/rename_new.sql")
  ms() { awk -v r="$1" 'BEGIN { if (r == "ERR" || r + 0 == 0) print "ERR"; else printf "%.3f", 1000 / r }'; }
  record rename "rename prolific vs new (time)" "rename_user of an author of $PROLIFIC_ARTICLES articles + $PROLIFIC_COMMENTS comments vs of a new author, 1 client (ms per call; ratio = prolific/new)" "$(ms "$o")" "$(ms "$b")" "ms/call" "<= 2"
  renamed=$(val -c "SELECT count(*) FROM drivetribe.article_view WHERE author_id = $PROLIFIC AND author_name LIKE 'prolific _'")
  note "rename: after the run, $renamed of the prolific author's cards show a renamed name"
fi

if [ ${#ONLY[@]} -eq 0 ] || want hot || want ceiling || want vote || want plpgsql || want rename; then
  step "verify() of the benchmark database"
  d=$(val -c "SELECT count(*) FROM drivetribe.verify()")
  note "verify() of the benchmark database after the write cases: ${d:-ERR} differences"
  [ "$d" = 0 ] || { ERRORS=$((ERRORS + 1)); say "    verify() found ${d:-ERR} differences"; }
fi

# ------------------------------------------------------------------ feeds
# latency NAME CLIENTS [pgbench args...]: "p50 p99" in ms of one pgbench
# run's transactions (from its per-transaction log), or "ERR ERR"
latency() {
  local name=$1 clients=$2; shift 2
  local dir=$WORK/lat-$name out rc
  mkdir -p "$dir"
  local run=("${RUN[@]}")
  [ $SMOKE = 0 ] || run=(-t 5)
  out=$dir/out
  (cd "$dir" && pgbench -n -j 1 -c "$clients" "${run[@]}" -l --log-prefix=tx "$@" >"$out" 2>&1); rc=$?
  { echo "--- pgbench $name (latency), $clients clients: exit $rc"; grep -E '^(tps|number of (transactions|failed)|latency average)' "$out"; } >>"$LOG"
  if [ $rc -ne 0 ] || ! ls "$dir"/tx.* >/dev/null 2>&1; then
    grep -E 'error|ERROR' "$out" | head -n 3 >>"$LOG"; echo "ERR ERR"; return
  fi
  # field 3: the transaction's latency in microseconds
  cat "$dir"/tx.* | awk '{ print $3 }' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) { print "ERR ERR"; exit }
                              p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
                              printf "%.3f %.3f\n", p50 / 1000, p99 / 1000 }'
}
# ms per call from calls/s
ms_per() { awk -v r="$1" 'BEGIN { if (r == "ERR" || r + 0 == 0) print "ERR"; else printf "%.3f", 1000 / r }'; }

if want feeds; then
  step "feeds: generating the world (database feeds)"
  createdb feeds >>"$LOG" 2>&1 && sql -d feeds -c "CREATE EXTENSION drivetribe" || fail "createdb feeds failed"
  sql -d feeds "${FEEDS_WORLD[@]}" -f test/bench/gen_feeds.sql || fail "gen_feeds.sql failed (see $LOG)"
  fevents=$(val -d feeds -c "SELECT count(*) FROM drivetribe.events")
  step "feeds: rebuild() of $fevents events, the plain tables of the baseline"
  sql -d feeds -c "SELECT drivetribe.rebuild()" || fail "rebuild() of the feeds world failed (see $LOG)"
  sql -d feeds <<'SQL' || fail "the plain tables failed (see $LOG)"
-- the talk's starting point: plain normalised tables, counts at read time
CREATE SCHEMA plain;
CREATE TABLE plain.users AS SELECT user_id, name FROM drivetribe.users;
ALTER TABLE plain.users ADD PRIMARY KEY (user_id);
CREATE TABLE plain.tribes AS SELECT tribe_id, name FROM drivetribe.tribes;
ALTER TABLE plain.tribes ADD PRIMARY KEY (tribe_id);
CREATE TABLE plain.articles AS SELECT article_id, tribe_id, author_id, title, posted_at, deleted FROM drivetribe.articles;
ALTER TABLE plain.articles ADD PRIMARY KEY (article_id);
CREATE INDEX ON plain.articles (tribe_id);
CREATE INDEX ON plain.articles (author_id);
CREATE TABLE plain.memberships AS SELECT user_id, tribe_id FROM drivetribe.memberships;
ALTER TABLE plain.memberships ADD PRIMARY KEY (user_id, tribe_id);
CREATE TABLE plain.follows AS SELECT follower_id, followee_id FROM drivetribe.follows;
ALTER TABLE plain.follows ADD PRIMARY KEY (follower_id, followee_id);
CREATE TABLE plain.views AS SELECT article_id, user_id FROM drivetribe.events WHERE kind = 'article_viewed';
CREATE INDEX ON plain.views (article_id);
CREATE TABLE plain.bumps AS SELECT article_id, user_id FROM drivetribe.bumps;
ALTER TABLE plain.bumps ADD PRIMARY KEY (article_id, user_id);
CREATE TABLE plain.comments AS SELECT comment_id, article_id, deleted FROM drivetribe.comments;
ALTER TABLE plain.comments ADD PRIMARY KEY (comment_id);
CREATE INDEX ON plain.comments (article_id) WHERE NOT deleted;
CREATE SEQUENCE public.feed_article_ids START 100000000;
VACUUM ANALYZE;
SQL
  export PGDATABASE=feeds
  # the same page at read time: the reader's articles, each one's counts
  # by count(), the score by SPEC's formula, the first page_size by rank
  plain_page() {  # READER-EXPR [extra WHERE]
    cat <<B
SELECT a.article_id, a.tribe_id, t.name AS tribe_name, a.author_id, u.name AS author_name, a.title, a.posted_at,
       c.views, c.comments, c.bumps,
       log10(greatest(10 * c.bumps + 5 * c.comments + c.views, 1)) + extract(epoch FROM a.posted_at) / 45000 AS score
  FROM plain.articles a
  JOIN plain.tribes t ON t.tribe_id = a.tribe_id
  JOIN plain.users u ON u.user_id = a.author_id
  CROSS JOIN LATERAL (SELECT (SELECT count(*) FROM plain.views v WHERE v.article_id = a.article_id) AS views,
                             (SELECT count(*) FROM plain.comments m WHERE m.article_id = a.article_id AND NOT m.deleted) AS comments,
                             (SELECT count(*) FROM plain.bumps b WHERE b.article_id = a.article_id) AS bumps) c
 WHERE NOT a.deleted
   AND (a.tribe_id IN (SELECT tribe_id FROM plain.memberships WHERE user_id = $1)
        OR a.author_id IN (SELECT followee_id FROM plain.follows WHERE follower_id = $1))
 ORDER BY score DESC, a.article_id DESC LIMIT 20;
B
  }
  printf '\\set r random(101, 200)\nSELECT * FROM drivetribe.feed(:r, 20);\n' | script feed_typical
  printf '\\set r random(201, 210)\nSELECT * FROM drivetribe.feed(:r, 20);\n' | script feed_heavy
  { printf '\\set r random(101, 200)\n'; plain_page :r; } | script plain_typical
  { printf '\\set r random(201, 210)\n'; plain_page :r; } | script plain_heavy
  step "feeds: page latency, typical readers, 1 client: feed() vs read time over plain tables"
  read -r o50 o99 <<<"$(latency feed_typical 1 -f "$WORK/feed_typical.sql")"
  read -r b50 b99 <<<"$(latency plain_typical 1 -f "$WORK/plain_typical.sql")"
  record feeds "feed page p50: feed() vs read time" "feed page of a typical reader (50 tribes, 200 followees, + the big tribe and the celebrity), p50 latency, feed() vs read time over plain tables, 1 client (ms; ratio = read time / feed())" "$o50" "$b50" "ms" ">= 50" speedup
  record feeds "feed page p99: feed() vs read time" "feed page of a typical reader, p99 latency, feed() vs read time over plain tables, 1 client (ms; ratio = read time / feed())" "$o99" "$b99" "ms" ">= 50" speedup
  step "feeds: heavy readers"
  read -r h50 h99 <<<"$(latency feed_heavy 1 -f "$WORK/feed_heavy.sql")"
  record feeds "heavy reader vs typical (p50)" "feed page of a heavy reader (200 tribes, 5000 followees) vs a typical reader's, p50 latency, feed() (ms; ratio = heavy/typical)" "$h50" "$o50" "ms" "<= 10"
  record feeds "heavy reader vs typical (p99)" "feed page of a heavy reader vs a typical reader's, p99 latency, feed() (ms; ratio = heavy/typical)" "$h99" "$o99" "ms" "<= 10"
  read -r hb50 hb99 <<<"$(latency plain_heavy 1 -f "$WORK/plain_heavy.sql")"
  record feeds "heavy reader: feed() vs read time (p50)" "feed page of a heavy reader, p50 latency, feed() vs read time over plain tables (ms; ratio = read time / feed(); informative)" "$h50" "$hb50" "ms" "-" speedup
  step "feeds: posts, joins and follows, 8 clients"
  script post_big <<'B'
\set u random(11, :lastauthor)
SELECT drivetribe.post_article(nextval('public.feed_article_ids'), :u, 1, 'a post into the big tribe');
B
  script post_small <<'B'
\set u random(11, :lastauthor)
SELECT drivetribe.post_article(nextval('public.feed_article_ids'), :u, 2, 'a post into the small tribe');
B
  script post_celebrity <<'B'
\set t random(5, 40)
SELECT drivetribe.post_article(nextval('public.feed_article_ids'), 1, :t, 'a post by the celebrity');
B
  script post_nobody <<'B'
\set t random(5, 40)
SELECT drivetribe.post_article(nextval('public.feed_article_ids'), 2, :t, 'a post by an author nobody follows');
B
  script join_full <<'B'
\set u random(1000, 2000000)
SELECT drivetribe.join_tribe(:u % 999000 + 1000, 3);
SELECT drivetribe.leave_tribe(:u % 999000 + 1000, 3);
B
  script join_empty <<'B'
\set u random(1000, 2000000)
SELECT drivetribe.join_tribe(:u % 999000 + 1000, 4);
SELECT drivetribe.leave_tribe(:u % 999000 + 1000, 4);
B
  script follow_prolific <<'B'
\set u random(1000, 2000000)
SELECT drivetribe.follow_user(:u % 999000 + 1000, 4);
SELECT drivetribe.unfollow_user(:u % 999000 + 1000, 4);
B
  script follow_new <<'B'
\set u random(1000, 2000000)
SELECT drivetribe.follow_user(:u % 999000 + 1000, 5);
SELECT drivetribe.unfollow_user(:u % 999000 + 1000, 5);
B
  [ $SMOKE = 0 ] || sed -i 's/999000 + 1000/2000 + 900/' "$WORK"/join_*.sql "$WORK"/follow_*.sql
  for shape in "post_big:post_small:1:post_article into the tribe every user is in vs a tribe of 10 members" \
               "post_celebrity:post_nobody:1:post_article by the author every user follows vs by an author nobody follows" \
               "join_full:join_empty:2:join_tribe+leave_tribe of a tribe of the most articles vs of an empty tribe" \
               "follow_prolific:follow_new:2:follow_user+unfollow_user of an author of the most articles vs of a new author"; do
    IFS=: read -r big small calls what <<<"$shape"
    o=$(bench "$big" 8 "$calls" -D lastauthor="$FEEDS_LAST_AUTHOR" -f "$WORK/$big.sql")
    b=$(bench "$small" 8 "$calls" -D lastauthor="$FEEDS_LAST_AUTHOR" -f "$WORK/$small.sql")
    record feeds "$big vs $small (time)" "$what, 8 clients (ms per call; ratio = big/small)" "$(ms_per "$o")" "$(ms_per "$b")" "ms/call" "<= 2"
  done
  sizes=$(val -c "SELECT format('tribe 1: %s members, user 1: %s followers, tribe 3: %s articles, user 4: %s articles; typical reader 101: %s tribes, %s followees; heavy reader 201: %s tribes, %s followees; %s live articles',
                   (SELECT members FROM drivetribe.tribe_stats WHERE tribe_id = 1), (SELECT followers FROM drivetribe.user_stats WHERE user_id = 1),
                   (SELECT articles FROM drivetribe.tribe_stats WHERE tribe_id = 3), (SELECT articles FROM drivetribe.user_stats WHERE user_id = 4),
                   (SELECT tribes FROM drivetribe.user_stats WHERE user_id = 101), (SELECT following FROM drivetribe.user_stats WHERE user_id = 101),
                   (SELECT tribes FROM drivetribe.user_stats WHERE user_id = 201), (SELECT following FROM drivetribe.user_stats WHERE user_id = 201),
                   (SELECT count(*) FROM drivetribe.article_view))")
  note "feeds: $fevents events generated; $sizes"
  d=$(val -c "SELECT count(*) FROM drivetribe.verify()")
  note "feeds: verify() after the feed cases: ${d:-ERR} differences"
  [ "$d" = 0 ] || { ERRORS=$((ERRORS + 1)); say "    verify() of the feeds world found ${d:-ERR} differences"; }
  export PGDATABASE=bench
fi

# ------------------------------------------------------------------ decode
if want decode; then
  step "decode: one workload's WAL through drivetribe, wal2json and test_decoding"
  createdb decode >>"$LOG" 2>&1 && sql -d decode -v n="$N" <<'SQL' || fail "the decode world failed (see $LOG)"
CREATE EXTENSION drivetribe;
SELECT count(drivetribe.register_user(u, 'user ' || u)) FROM generate_series(1, :n) u;
SELECT count(drivetribe.create_tribe(t, t, 'tribe ' || t)) FROM generate_series(1, :n) t;
SELECT count(drivetribe.post_article(a, a, a, 'article ' || a)) FROM generate_series(1, :n) a;
CREATE SEQUENCE public.comment_ids START 1000000;
SQL
  for p in drivetribe wal2json test_decoding; do
    sql -d decode -c "SELECT 'init' FROM pg_create_logical_replication_slot('bench_$p', '$p')" ||
      fail "could not create a $p slot (see $LOG)"
  done
  script decode_mix <<'B'
\set a random(1, :n)
\set u random(1, :n)
\set k random(1, 10)
\if :k <= 6
SELECT drivetribe.view_article(:a, :u);
\elif :k <= 9
SELECT drivetribe.bump(:a, :u);
\else
SELECT drivetribe.post_comment(nextval('public.comment_ids'), :a, :u, 'a comment from the decoding benchmark, of an ordinary length');
\endif
B
  PGDATABASE=decode pgbench -n -j 2 -c 8 -t "$DECODE_TX" $D -f "$WORK/decode_mix.sql" >"$WORK/decode_load.out" 2>&1 ||
    { tail -5 "$WORK/decode_load.out" >>"$LOG"; fail "the decode workload failed (see $LOG)"; }
  sql -d decode -c CHECKPOINT
  devents=$(val -d decode -c "SELECT count(*) FROM drivetribe.events WHERE seq > 3 * $N")
  walsize=$(val -d decode -c "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), (SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'bench_drivetribe')))")
  # decode SLOT 'OPTIONS' 'EVENT FILTER': "events bytes seconds" (best of 3 peeks)
  decode() {
    local best="" i t0 t1 r secs
    for i in 1 2 3; do
      t0=$(date +%s.%N)
      r=$(val -d decode -F ' ' -c "SELECT count(*) FILTER (WHERE $3), coalesce(sum(octet_length(data)) FILTER (WHERE $3), 0)
                                    FROM pg_logical_slot_peek_changes('$1', NULL, NULL $2)") || { echo "ERR ERR ERR"; return; }
      t1=$(date +%s.%N)
      secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
      if [ -z "$best" ] || awk -v s="$secs" -v b="${best##* }" 'BEGIN { exit !(s < b) }'; then best="$r $secs"; fi
    done
    echo "$best"
  }
  read -r e_dt b_dt s_dt <<<"$(decode bench_drivetribe "" "data LIKE '{\"seq\":%'")"
  read -r e_wj b_wj s_wj <<<"$(decode bench_wal2json ", 'format-version', '2', 'add-tables', 'drivetribe.events', 'include-transaction', 'false'" "data LIKE '{\"action\":\"I\"%'")"
  read -r e_td b_td s_td <<<"$(decode bench_test_decoding ", 'skip-empty-xacts', '1', 'include-xids', '0'" "data LIKE 'table drivetribe.events: INSERT:%'")"
  eps() { awk -v e="$1" -v s="$2" 'BEGIN { if (e == "ERR" || s + 0 == 0) print "ERR"; else printf "%.0f", e / s }'; }
  bpe() { awk -v b="$1" -v e="$2" 'BEGIN { if (e == "ERR" || e + 0 == 0) print "ERR"; else printf "%.0f", b / e }'; }
  record decode "decode: drivetribe vs wal2json" "decoding $devents events (the same WAL, $walsize): drivetribe plugin vs wal2json format 2 filtered to drivetribe.events (events/s)" "$(eps "$e_dt" "$s_dt")" "$(eps "$e_wj" "$s_wj")" "calls/s" ">= 2"
  record decode "decode: drivetribe vs test_decoding" "decoding the same WAL: drivetribe plugin vs test_decoding, which cannot filter tables (events/s; informative)" "$(eps "$e_dt" "$s_dt")" "$(eps "$e_td" "$s_td")" "calls/s" "-"
  note "decode: $devents events committed by the workload; events seen: drivetribe $e_dt, wal2json $e_wj, test_decoding $e_td; bytes per event: drivetribe $(bpe "$b_dt" "$e_dt"), wal2json $(bpe "$b_wj" "$e_wj"), test_decoding $(bpe "$b_td" "$e_td"); seconds (best of 3 peeks): $s_dt, $s_wj, $s_td"
  [ "$e_dt" = "$devents" ] || { ERRORS=$((ERRORS + 1)); say "    the drivetribe slot gave $e_dt events, the log has $devents"; }
  for p in drivetribe wal2json test_decoding; do sql -d decode -c "SELECT pg_drop_replication_slot('bench_$p')"; done
fi

# ------------------------------------------------------------------ consume
# The stream at line rate: drivetribe-consume against pg_recvlogical reading
# the same plugin.  (1) Throughput: slots first (same start), a backlog of
# one-event transactions, then each reader timed to the same --endpos.
# (2) Latency: readers of their own slots while pgbench makes a steady
# rate of calls; each downstream stamps every event line as it arrives,
# minus the event's commit_time (the plugin's include_commit_time).
if want consume; then
  [ -x "$DT_CONSUME" ] || fail "$DT_CONSUME not found: install the consumer or point DT_CONSUME at a build"
  HAVE_PG_SINK=0
  # (not --help | grep -q: grep ends first and SIGPIPE fails the pipeline)
  case "$("$DT_CONSUME" --help 2>/dev/null)" in *--postgres=*) HAVE_PG_SINK=1 ;; esac
  # the HTTP and Redis sinks when the consumer has them and the machine
  # has their receivers (python3; redis-server from scripts/install-deps.sh)
  HAVE_HTTP=0 HAVE_REDIS=0 HAVE_NATS=0
  # (Debian installs nats-server in /usr/sbin, which an ordinary user's PATH lacks)
  NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
  case "$("$DT_CONSUME" --help 2>/dev/null)" in *--http=*) command -v python3 >/dev/null && HAVE_HTTP=1 ;; esac
  case "$("$DT_CONSUME" --help 2>/dev/null)" in *--redis=*) command -v redis-server >/dev/null && HAVE_REDIS=1 ;; esac
  case "$("$DT_CONSUME" --help 2>/dev/null)" in *--nats=*) [ -x "$NATS_SERVER" ] && command -v python3 >/dev/null && HAVE_NATS=1 ;; esac
  READERS=(recv cmd pipe)
  [ $HAVE_HTTP = 1 ] && READERS+=(http)
  [ $HAVE_REDIS = 1 ] && READERS+=(redis)
  [ $HAVE_NATS = 1 ] && READERS+=(nats)
  step "consume: the stream world (database consume); $DT_CONSUME$([ $HAVE_PG_SINK = 1 ] && echo ', with --postgres')"
  createdb consume >>"$LOG" 2>&1 && sql -d consume -v n="$N" <<'SQL' || fail "the consume world failed (see $LOG)"
CREATE EXTENSION drivetribe;
SELECT count(drivetribe.register_user(u, 'user ' || u)) FROM generate_series(1, :n) u;
SELECT count(drivetribe.create_tribe(t, t, 'tribe ' || t)) FROM generate_series(1, :n) t;
SELECT count(drivetribe.post_article(a, a, a, 'article ' || a)) FROM generate_series(1, :n) a;
CREATE TABLE public.slot_poll (at timestamptz, confirmed pg_lsn);
SQL
  now() { date +%s.%N; }
  # timed WHAT CMD...: the seconds CMD took, or ERR when it failed
  timed() {
    local what=$1 t0 t1 rc; shift
    t0=$(now); "$@" >>"$LOG" 2>&1; rc=$?; t1=$(now)
    if [ $rc -ne 0 ]; then printf '    %s exited %s (see the log)\n' "$what" "$rc" | tee -a "$LOG" >&2; echo ERR; return; fi
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
  }
  eps() { awk -v e="$1" -v s="$2" 'BEGIN { if (e == "ERR" || s == "ERR" || s + 0 == 0) print "ERR"; else printf "%.0f", e / s }'; }
  slot() { sql -d consume -c "SELECT 'init' FROM pg_create_logical_replication_slot('$1', '${2:-drivetribe}')" || fail "could not create the slot $1 (see $LOG)"; }
  drop_slot() { sql -d consume -c "SELECT pg_drop_replication_slot('$1')"; }

  # ---- (1) throughput on a backlog
  step "consume: slots, then a backlog of $STREAM_EVENTS one-event transactions (view_article, 8 clients)"
  for s in "${READERS[@]}"; do slot "bench_t_$s"; done
  NATIVE=$HAVE_PG_SINK
  [ "${DT_BENCH_NATIVE:-0}" = 1 ] && NATIVE=1
  if [ $HAVE_PG_SINK = 1 ]; then
    slot bench_t_pg
    createdb consume_pg >>"$LOG" 2>&1 || fail "createdb consume_pg failed"
  fi
  if [ $NATIVE = 1 ]; then
    # native logical replication of the event table into a plain copy of
    # its structure (columns and types only), created before the backlog,
    # enabled after it.  The slot is made by hand: CREATE SUBSCRIPTION
    # cannot create one in its own cluster.
    cols=$(val -d consume -c "SELECT string_agg(format('%I %s', attname, format_type(atttypid, atttypmod)), ', ' ORDER BY attnum)
                                FROM pg_attribute WHERE attrelid = 'drivetribe.events'::regclass AND attnum > 0 AND NOT attisdropped")
    createdb consume_native >>"$LOG" 2>&1 || fail "createdb consume_native failed"
    sql -d consume -c "CREATE PUBLICATION bench_pub FOR TABLE drivetribe.events" || fail "CREATE PUBLICATION failed (see $LOG)"
    slot bench_t_sub pgoutput
    sql -d consume_native -c "CREATE SCHEMA drivetribe" -c "CREATE TABLE drivetribe.events ($cols)" \
        -c "CREATE SUBSCRIPTION bench_sub CONNECTION 'host=$PGHOST port=$PGPORT user=${PGUSER:-postgres} dbname=consume' PUBLICATION bench_pub
              WITH (create_slot = false, slot_name = 'bench_t_sub', copy_data = false, enabled = false)" ||
      fail "the native replication receiver failed (see $LOG)"
  fi
  script stream_view <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT drivetribe.view_article(:a, :u);
B
  seq0=$(val -d consume -c "SELECT coalesce(max(seq), 0) FROM drivetribe.events")
  t0=$(now)
  PGDATABASE=consume pgbench -n -j 2 -c 8 -t $(( (STREAM_EVENTS + 7) / 8 )) -D n="$N" -f "$WORK/stream_view.sql" >"$WORK/backlog_load.out" 2>&1 ||
    { tail -5 "$WORK/backlog_load.out" >>"$LOG"; fail "the backlog load failed (see $LOG)"; }
  t1=$(now)
  endlsn=$(val -d consume -c "SELECT pg_current_wal_lsn()")
  bevents=$(val -d consume -c "SELECT count(*) FROM drivetribe.events WHERE seq > $seq0")
  # one more event past the end: WAL written after the last commit (a
  # running-xacts record, a checkpoint) puts the end past every transaction
  # of the backlog, and drivetribe-consume confirms a position that no
  # transaction reaches only with its next status (--status-interval, 10 s);
  # a transaction past it ends every reader at once.  pg_recvlogical does
  # not write it (it lies past --endpos); drivetribe-consume delivers it.
  sql -d consume -c "SELECT drivetribe.view_article(1, 1)" || fail "the event past the backlog failed (see $LOG)"
  bwal=$(val -d consume -c "SELECT pg_size_pretty(pg_wal_lsn_diff('$endlsn', (SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'bench_t_recv')))")
  note "consume: the backlog, $bevents events ($bwal of WAL), was loaded at $(eps "$bevents" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')") calls/s by 8 clients; every reader then read it to $endlsn"
  step "consume: $bevents events to $endlsn: pg_recvlogical, drivetribe-consume -c, --pipe$([ $HAVE_HTTP = 1 ] && echo ', --http')$([ $HAVE_REDIS = 1 ] && echo ', --redis')$([ $HAVE_NATS = 1 ] && echo ', --nats')$([ $HAVE_PG_SINK = 1 ] && echo ', --postgres')$([ $NATIVE = 1 ] && echo ', native logical replication')"
  s_recv=$(timed pg_recvlogical pg_recvlogical -d consume --slot bench_t_recv --start --endpos "$endlsn" \
             -o include_commits=on -f "$WORK/backlog_recv.out")
  recv_n=$(grep -c '^{"seq":' "$WORK/backlog_recv.out" 2>/dev/null)
  rm -f "$WORK/backlog_recv.out"
  s_cmd=$(timed "drivetribe-consume -c" "$DT_CONSUME" -d consume -S bench_t_cmd -s "$WORK/t_cmd.state" \
            -c 'cat >/dev/null' --endpos "$endlsn" --report-interval 0 --status-file "$WORK/t_cmd.prom")
  printf '%s\n' '$| = 1; while (<STDIN>) { print "ack $1\n" if /^\{"batch":(\d+)/ }' >"$WORK/ack.pl"
  s_pipe=$(timed "drivetribe-consume --pipe" "$DT_CONSUME" -d consume -S bench_t_pipe -s "$WORK/t_pipe.state" \
             --pipe "perl $WORK/ack.pl" --endpos "$endlsn" --report-interval 0 --status-file "$WORK/t_pipe.prom")
  e_recv=$(eps "$bevents" "$s_recv"); e_cmd=$(eps "$bevents" "$s_cmd"); e_pipe=$(eps "$bevents" "$s_pipe")
  [ "$recv_n" = "$bevents" ] || { ERRORS=$((ERRORS + 1)); say "    pg_recvlogical wrote $recv_n events, the backlog has $bevents"; }
  # events and batches each consumer delivered (its status file, written at exit)
  delivered() { awk '/^drivetribe_consume_events_delivered_total/ { e = $2 } /^drivetribe_consume_batches_delivered_total/ { b = $2 }
                     END { print (e == "" ? "ERR" : e), (b == "" ? "ERR" : b) }' "$1" 2>/dev/null || echo "ERR ERR"; }
  read -r cmd_n cmd_b <<<"$(delivered "$WORK/t_cmd.prom")"
  read -r pipe_n pipe_b <<<"$(delivered "$WORK/t_pipe.prom")"
  for x in "-c:$cmd_n" "--pipe:$pipe_n"; do
    [ "${x#*:}" -ge "$bevents" ] 2>/dev/null || { ERRORS=$((ERRORS + 1)); say "    drivetribe-consume ${x%%:*} delivered ${x#*:} events of the backlog's $bevents"; }
  done
  record consume "backlog: -c cat vs pg_recvlogical" "backlog of $bevents one-event transactions read to one end LSN: drivetribe-consume -c 'cat >/dev/null' vs pg_recvlogical -o include_commits=on -f FILE, the same plugin (events/s; informative)" "$e_cmd" "$e_recv" "events/s" "-"
  record consume "backlog: --pipe vs pg_recvlogical" "the same backlog: drivetribe-consume --pipe (a perl downstream acking each batch) vs pg_recvlogical -f FILE (events/s)" "$e_pipe" "$e_recv" "events/s" ">= 0.5"
  t1m=$(awk -v e="$e_pipe" 'BEGIN { if (e == "ERR" || e + 0 == 0) print "ERR"; else printf "%.2f", 1000000 / e }')
  record consume "1M catch-up: --pipe vs 60 s" "catch-up of 1,000,000 events by drivetribe-consume --pipe ($([ "$bevents" = 1000000 ] && echo measured || echo "1,000,000 / its events/s on $bevents")) vs the 60 s goal (s)" "$t1m" 60 "s" "<= 1"
  tp_note="consume: backlog read in s: pg_recvlogical $s_recv, -c $s_cmd ($cmd_n events in $cmd_b batches), --pipe $s_pipe ($pipe_n events in $pipe_b batches)"
  # wait_port PORT: until something listens on 127.0.0.1:PORT (10 s)
  wait_port() { local _; for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
  if [ $HAVE_HTTP = 1 ]; then
    # a receiver that answers 200 and keeps nothing (the e2e test's, --discard)
    python3 "$ROOT/test/e2e/lib/webhook_receiver.py" --port $((PORT + 1)) --discard >>"$LOG" 2>&1 &
    hpid=$!
    s_http=ERR
    wait_port $((PORT + 1)) &&
      s_http=$(timed "drivetribe-consume --http" "$DT_CONSUME" -d consume -S bench_t_http -s "$WORK/t_http.state" \
                 --http "http://127.0.0.1:$((PORT + 1))/events" --endpos "$endlsn" --report-interval 0)
    kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null
    e_http=$(eps "$bevents" "$s_http"); tp_note="$tp_note, --http $s_http"
    record consume "backlog: --http vs pg_recvlogical" "the same backlog: drivetribe-consume --http (a POST per batch to a Python http.server that answers 200 and keeps nothing: test/e2e/lib/webhook_receiver.py --discard) vs pg_recvlogical -f FILE (events/s; informative)" "$e_http" "$e_recv" "events/s" "-"
  fi
  if [ $HAVE_REDIS = 1 ]; then
    # redis-server of the run's own, durable: AOF fsync'd on every write
    mkdir -p "$WORK/redis"
    redis-server --port $((PORT + 2)) --bind 127.0.0.1 --dir "$WORK/redis" --save '' --appendonly yes \
      --appendfsync always --daemonize no --protected-mode no --logfile "$WORK/redis.log" &
    rpid=$!
    s_redis=ERR
    wait_port $((PORT + 2)) &&
      s_redis=$(timed "drivetribe-consume --redis" "$DT_CONSUME" -d consume -S bench_t_redis -s "$WORK/t_redis.state" \
                  --redis "127.0.0.1:$((PORT + 2))" --endpos "$endlsn" --report-interval 0)
    kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null
    e_redis=$(eps "$bevents" "$s_redis"); tp_note="$tp_note, --redis $s_redis"
    record consume "backlog: --redis vs pg_recvlogical" "the same backlog: drivetribe-consume --redis (XADD per event by one Lua script call per batch, into a redis-server with appendfsync always) vs pg_recvlogical -f FILE (events/s; informative)" "$e_redis" "$e_recv" "events/s" "-"
  fi
  if [ $HAVE_NATS = 1 ]; then
    # nats-server of the run's own, JetStream with a file stream on the subject
    mkdir -p "$WORK/nats"
    "$NATS_SERVER" -js -sd "$WORK/nats" -p $((PORT + 3)) -a 127.0.0.1 -l "$WORK/nats.log" &
    npid=$!
    s_nats=ERR
    wait_port $((PORT + 3)) &&
      python3 "$ROOT/test/e2e/lib/nats_client.py" 127.0.0.1 $((PORT + 3)) create \
        '{"name":"DT","subjects":["drivetribe.events"],"storage":"file","duplicate_window":120000000000}' >>"$LOG" 2>&1 &&
      s_nats=$(timed "drivetribe-consume --nats" "$DT_CONSUME" -d consume -S bench_t_nats -s "$WORK/t_nats.state" \
                 --nats "127.0.0.1:$((PORT + 3))" --endpos "$endlsn" --report-interval 0)
    kill "$npid" 2>/dev/null; wait "$npid" 2>/dev/null
    e_nats=$(eps "$bevents" "$s_nats"); tp_note="$tp_note, --nats $s_nats"
    record consume "backlog: --nats vs pg_recvlogical" "the same backlog: drivetribe-consume --nats (a JetStream publish per event with Nats-Msg-Id, a batch's publishes pipelined, into a nats-server file stream) vs pg_recvlogical -f FILE (events/s; informative)" "$e_nats" "$e_recv" "events/s" "-"
  fi
  if [ $HAVE_PG_SINK = 1 ]; then
    s_pg=$(timed "drivetribe-consume --postgres" "$DT_CONSUME" -d consume -S bench_t_pg -s "$WORK/t_pg.state" \
             --postgres "dbname=consume_pg" --endpos "$endlsn" --report-interval 0)
    e_pg=$(eps "$bevents" "$s_pg"); tp_note="$tp_note, --postgres $s_pg"
  fi
  if [ $NATIVE = 1 ]; then
    # enabled now; done when the receiver has every event of the backlog
    s_nat=ERR; t0=$(now)
    if sql -d consume_native -c "ALTER SUBSCRIPTION bench_sub ENABLE"; then
      while :; do
        got=$(val -d consume_native -c "SELECT count(*) FROM drivetribe.events") || break
        [ "${got:-0}" -ge "$bevents" ] && { s_nat=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'); break; }
        awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 1800) }' && { say "    native replication: $got of $bevents rows after 1800 s"; break; }
        sleep 0.2
      done
    fi
    e_nat=$(eps "$bevents" "$s_nat"); tp_note="$tp_note, native logical replication $s_nat (polled every 0.2 s)"
    sql -d consume_native -c "ALTER SUBSCRIPTION bench_sub DISABLE" -c "ALTER SUBSCRIPTION bench_sub SET (slot_name = NONE)" -c "DROP SUBSCRIPTION bench_sub"
    drop_slot bench_t_sub
    sql -d consume -c "DROP PUBLICATION bench_pub"
  fi
  if [ $HAVE_PG_SINK = 1 ]; then
    record consume "backlog: --postgres vs native replication" "the same backlog into another database: drivetribe-consume --postgres (its default table) vs native logical replication of drivetribe.events (publication, subscription into a plain copy of the table, copy_data off; until the receiver has every row) (events/s; informative)" "$e_pg" "$e_nat" "events/s" "-"
    drop_slot bench_t_pg
  elif [ $NATIVE = 1 ]; then
    record consume "backlog: native replication vs pg_recvlogical" "the same backlog: native logical replication of drivetribe.events into another database vs pg_recvlogical -f FILE (events/s; informative)" "$e_nat" "$e_recv" "events/s" "-"
  fi
  note "$tp_note"
  for s in "${READERS[@]}"; do drop_slot "bench_t_$s"; done

  # ---- (2) latency at a steady rate
  script consume_mix <<'B'
\set a random(1, :n)
\set u random(1, :n)
\set k random(1, 10)
\if :k <= 6
SELECT drivetribe.view_article(:a, :u);
\else
SELECT drivetribe.bump(:a, :u);
\endif
B
  # stamp: each line with its arrival time (epoch seconds), for \copy
  cat >"$WORK/stamp.pl" <<'PL'
use Time::HiRes qw(time);
$| = 1;
while (my $l = <STDIN>) { my $t = time; $l =~ s/\\/\\\\/g; print "$t\t$l"; }
PL
  # the pipe's downstream: stamps each event line as it reads it, acks
  # each batch at its end line
  cat >"$WORK/pipe_stamp.pl" <<'PL'
use Time::HiRes qw(time);
$| = 1;
open(my $out, '>>', $ARGV[0]) or exit 1;
while (my $l = <STDIN>) {
  my $t = time;
  if ($l =~ /^\{"batch":(\d+)/) { print "ack $1\n"; next; }
  $l =~ s/\\/\\\\/g; print $out "$t\t$l";
}
close($out) or exit 1;
PL
  # the command's downstream (a process per batch): the same stamps, then
  # the position the consumer will confirm and when the batch was done
  cat >"$WORK/sink.pl" <<'PL'
use Time::HiRes qw(time);
open(my $out, '>>', $ARGV[0]) or exit 1;
while (my $l = <STDIN>) { my $t = time; $l =~ s/\\/\\\\/g; print $out "$t\t$l"; }
close($out) or exit 1;
open(my $done, '>>', $ARGV[1]) or exit 1;
print $done "$ENV{DRIVETRIBE_END_LSN}\t", time, "\n";
PL
  # "n p50 p99" in ms of arrival - commit_time over a table of stamps
  lat_of() {
    val -d consume -F ' ' -c "
      SELECT count(*), coalesce(round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1)::text, 'ERR'),
             coalesce(round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)::text, 'ERR')
        FROM (SELECT (at - extract(epoch FROM (o ->> 'commit_time')::timestamptz)) * 1000 AS ms
                FROM $1 WHERE o ? 'seq') s" || echo "0 ERR ERR"
  }
  # stream_latency MODE RATE CLIENTS: drivetribe-consume MODE (pipe: --pipe;
  # cmd: -c, and its slot's confirmed position polled) and pg_recvlogical,
  # on slots of their own, while pgbench makes RATE calls/s; leaves the
  # stamps in lat_ours_T and lat_recv_T (T = MODE RATE), lat_done_T (cmd)
  stream_latency() {
    local mode=$1 rate=$2 clients=$3 t=$1$2 opid ppid= rpid spid secs
    secs=$([ $SMOKE = 1 ] && echo 1 || echo "$SECS")
    slot "bench_l_${t}_ours"; slot "bench_l_${t}_recv"
    : >"$WORK/l_${t}_ours.tsv"; : >"$WORK/l_${t}_recv.tsv"; : >"$WORK/l_${t}_done.tsv"
    if [ "$mode" = pipe ]; then
      "$DT_CONSUME" -d consume -S "bench_l_${t}_ours" -s "$WORK/l_${t}.state" --include-commit-time \
        --pipe "exec perl $WORK/pipe_stamp.pl $WORK/l_${t}_ours.tsv" --report-interval 0 2>>"$LOG" &
      opid=$!
    else
      "$DT_CONSUME" -d consume -S "bench_l_${t}_ours" -s "$WORK/l_${t}.state" --include-commit-time \
        -c "exec perl $WORK/sink.pl $WORK/l_${t}_ours.tsv $WORK/l_${t}_done.tsv" --report-interval 0 2>>"$LOG" &
      opid=$!
      # the slot's confirmed position every 10 ms while the load runs
      psql -X -q -d consume -c "TRUNCATE public.slot_poll" -c "DO \$\$ BEGIN FOR i IN 1..$(( (secs + 3) * 100 )) LOOP
          INSERT INTO public.slot_poll SELECT clock_timestamp(), confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'bench_l_${t}_ours';
          PERFORM pg_sleep(0.01); END LOOP; END \$\$" >>"$LOG" 2>&1 &
      ppid=$!
    fi
    # pg_recvlogical writes into a FIFO the stamper reads: both PIDs are
    # ours (a machine-wide pgrep could find another run's pg_recvlogical)
    rm -f "$WORK/l_${t}.fifo"; mkfifo "$WORK/l_${t}.fifo"
    perl "$WORK/stamp.pl" <"$WORK/l_${t}.fifo" >>"$WORK/l_${t}_recv.tsv" &
    spid=$!
    pg_recvlogical -d consume --slot "bench_l_${t}_recv" --start -f "$WORK/l_${t}.fifo" -F 1 -s 1 \
      -o include_commit_time=on 2>>"$LOG" &
    rpid=$!
    sleep 1
    PGDATABASE=consume pgbench -n -j 2 -c "$clients" -R "$rate" -T "$secs" -D n="$N" -f "$WORK/consume_mix.sql" >"$WORK/l_${t}_load.out" 2>&1 ||
      { tail -5 "$WORK/l_${t}_load.out" >>"$LOG"; fail "the consume workload at $rate calls/s failed (see $LOG)"; }
    { echo "--- pgbench consume latency load ($mode), $rate calls/s, $clients clients"; grep -E '^(tps|number of (transactions|failed)|latency average)' "$WORK/l_${t}_load.out"; } >>"$LOG"
    [ -n "$ppid" ] && wait "$ppid"
    sleep 1
    kill -TERM "$opid" 2>/dev/null; wait "$opid" 2>/dev/null
    kill -INT "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; wait "$spid" 2>/dev/null
    sql -d consume <<SQL || fail "loading the stamps at $rate calls/s failed (see $LOG)"
CREATE TABLE public.lat_ours_$t (at float8, o jsonb);
CREATE TABLE public.lat_recv_$t (at float8, o jsonb);
CREATE TABLE public.lat_done_$t (end_lsn pg_lsn, at float8);
\copy public.lat_ours_$t FROM '$WORK/l_${t}_ours.tsv'
\copy public.lat_recv_$t FROM '$WORK/l_${t}_recv.tsv'
\copy public.lat_done_$t FROM '$WORK/l_${t}_done.tsv'
SQL
    drop_slot "bench_l_${t}_ours"; drop_slot "bench_l_${t}_recv"
  }
  # --pipe at 200 and 2,000 calls/s, then the command mode at 200 (a run
  # of its own: a process per batch costs CPU the others would share)
  for shape in "pipe:200:4:10" "pipe:2000:8:50" "cmd:200:4:-"; do
    IFS=: read -r mode rate clients goal_ms <<<"$shape"
    what=$([ "$mode" = pipe ] && echo "--pipe" || echo "-c")
    step "consume: commit-to-downstream latency at $rate calls/s ($clients clients): drivetribe-consume $what vs pg_recvlogical, the same plugin"
    seq_before=$(val -d consume -c "SELECT coalesce(max(seq), 0) FROM drivetribe.events")
    stream_latency "$mode" "$rate" "$clients"
    t=$mode$rate
    levents=$(val -d consume -c "SELECT count(*) FROM drivetribe.events WHERE seq > $seq_before")
    achieved=$(awk -F' = ' '/^tps = / { split($2, a, " "); printf "%.0f", a[1]; exit }' "$WORK/l_${t}_load.out")
    read -r o_n o_50 o_99 <<<"$(lat_of "public.lat_ours_$t")"
    read -r r_n r_50 r_99 <<<"$(lat_of "public.lat_recv_$t")"
    lnote="consume, $what at $rate calls/s (${achieved:-?} achieved): $levents events; delivered by $what $o_n (p50 $o_50 ms, p99 $o_99 ms), by pg_recvlogical $r_n (p50 $r_50 ms, p99 $r_99 ms)"
    if [ "$mode" = pipe ]; then
      record consume "latency $rate/s p50: --pipe vs pg_recvlogical" "commit to downstream at $rate calls/s (${achieved:-?} achieved, $levents events), p50: drivetribe-consume --pipe (a perl downstream stamping each event line) vs pg_recvlogical into a FIFO stamped the same way, the same plugin (ms; informative)" "$o_50" "$r_50" "ms" "-"
      record consume "latency $rate/s p99: --pipe vs pg_recvlogical" "commit to downstream at $rate calls/s, p99: drivetribe-consume --pipe vs pg_recvlogical (ms; informative)" "$o_99" "$r_99" "ms" "-"
      record consume "latency $rate/s p99: --pipe vs $goal_ms ms" "commit to downstream at $rate calls/s, p99 of drivetribe-consume --pipe vs the $goal_ms ms goal (ms)" "$o_99" "$goal_ms" "ms" "<= 1"
    else
      # ack lag: a batch's command done -> the slot's confirmed position at its end
      read -r a_n a_50 a_99 <<<"$(val -d consume -F ' ' -c "
        SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1)
          FROM (SELECT (extract(epoch FROM (SELECT min(p.at) FROM public.slot_poll p WHERE p.confirmed >= d.end_lsn)) - d.at) * 1000 AS ms
                  FROM public.lat_done_$t d WHERE EXISTS (SELECT FROM public.slot_poll p WHERE p.confirmed >= d.end_lsn)) s")"
      record consume "latency $rate/s p99: -c vs pg_recvlogical" "commit to downstream at $rate calls/s (${achieved:-?} achieved, $levents events), p99: drivetribe-consume -c (a process per batch, a run of its own) vs pg_recvlogical (ms; informative)" "$o_99" "$r_99" "ms" "-"
      record consume "ack lag p99 vs 1 s" "ack lag p99 at $rate calls/s: a batch's command (-c) done to the slot's confirmed_flush_lsn past it (10 ms polls) vs the 1 s target (ms)" "${a_99:-ERR}" 1000 "ms" "<= 1"
      lnote="$lnote; ack lag over $a_n batches p50 $a_50 ms, p99 $a_99 ms"
    fi
    [ "$o_n" -ge "$levents" ] 2>/dev/null || { ERRORS=$((ERRORS + 1)); say "    drivetribe-consume $what delivered $o_n events at $rate calls/s, the log has $levents"; }
    note "$lnote"
  done
  note "consume: latency is a downstream's arrival stamp of an event line minus the event's commit_time (the plugin's include_commit_time: the commit record's timestamp, before its flush); pg_recvlogical confirms on its own schedule (-F 1 -s 1) whatever happens downstream, drivetribe-consume only after its downstream acknowledged (--pipe: an ack line per batch; -c: the process exited 0)"
fi

# ------------------------------------------------------------------ rebuild
# gen_log_db DB [VERSION]: a new database with the extension (at VERSION,
# default its default version) and a generated log of about LOG_EVENTS
# events (test/bench/gen_log.sql, two sessions for the activity), vacuumed;
# its projections are empty (rebuild() fills them)
gen_log_db() {
  local db=$1 p0 r0 r1
  createdb "$db" >>"$LOG" 2>&1 && sql -d "$db" -c "CREATE EXTENSION drivetribe${2:+ VERSION '$2'}" || fail "createdb $db failed"
  sql -d "$db" -v step=setup -v events="$LOG_EVENTS" -f test/bench/gen_log.sql || fail "gen_log.sql setup failed (see $LOG)"
  sql -d "$db" -v step=activity -v part=0 -v parts=2 -f test/bench/gen_log.sql & p0=$!
  sql -d "$db" -v step=activity -v part=1 -v parts=2 -f test/bench/gen_log.sql; r1=$?
  wait $p0; r0=$?
  [ $r0 = 0 ] && [ $r1 = 0 ] || fail "gen_log.sql activity failed (see $LOG)"
  sql -d "$db" -v step=finish -f test/bench/gen_log.sql || fail "gen_log.sql finish failed (see $LOG)"
  sql -d "$db" -c "VACUUM ANALYZE drivetribe.events" || fail "VACUUM failed"
}

if want rebuild; then
  step "rebuild: generating a log of about $LOG_EVENTS events (database rebuild)"
  gen_log_db rebuild
  sql -d rebuild -v step=schema -f test/bench/recompute.sql || fail "recompute.sql schema failed (see $LOG)"
  events=$(val -d rebuild -c "SELECT count(*) FROM drivetribe.events")
  step "rebuild: $events events; drivetribe.rebuild() on emptied projections"
  sql -d rebuild <<'SQL' || fail "emptying the projections failed"
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'tribes', 'articles', 'comments', 'memberships', 'follows', 'bumps'] LOOP
    IF to_regclass('drivetribe.' || t) IS NOT NULL THEN
      EXECUTE format('TRUNCATE drivetribe.%I', t);
    END IF;
  END LOOP;
END
$$;
CHECKPOINT;
SQL
  t0=$(date +%s.%N)
  replayed=$(val -d rebuild -c "SELECT drivetribe.rebuild()") || replayed=ERR
  t1=$(date +%s.%N)
  ours=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  [ "$replayed" != ERR ] || ours=ERR
  step "rebuild: the set-based SQL recomputation"
  sql -d rebuild -c CHECKPOINT
  t0=$(date +%s.%N)
  if sql -d rebuild -v step=run -f test/bench/recompute.sql; then
    t1=$(date +%s.%N); theirs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  else
    theirs=ERR
  fi
  eps() { awk -v e="$events" -v s="$1" 'BEGIN { if (s == "ERR" || s + 0 == 0) print "ERR"; else printf "%.0f", e / s }'; }
  record rebuild "rebuild() vs set-based SQL (time)" "rebuild() of $events events ($(eps "$ours") events/s) vs a set-based SQL recomputation of the same tables ($(eps "$theirs") events/s) (seconds; ratio = ours/theirs)" "$ours" "$theirs" "s" "<= 1.5"
  note "rebuild: $events events in the log (rebuild() returned $replayed); events/s: rebuild() $(eps "$ours"), SQL recomputation $(eps "$theirs")"
  step "rebuild: verify() and the recomputation against the read API"
  d=$(val -d rebuild -c "SELECT count(*) FROM drivetribe.verify()")
  note "rebuild: verify() after rebuild(): ${d:-ERR} differences"
  [ "$d" = 0 ] || { ERRORS=$((ERRORS + 1)); say "    verify() found ${d:-ERR} differences after rebuild()"; }
  d=$(val -d rebuild -v step=check -f test/bench/recompute.sql)
  note "rebuild: rows where the SQL recomputation differs from drivetribe's read API (user_stats, tribe_stats, article_view): ${d:-ERR}"
  [ "$d" = 0 ] || { ERRORS=$((ERRORS + 1)); say "    the recomputation differs from drivetribe in ${d:-ERR} rows"; }
fi

# ------------------------------------------------------------------ projections
# SQL projections (issue 21 item 7), with the trending example
# (examples/trending/trending.sql) as the projection.
if want projections; then
  pj_now() { date +%s.%N; }
  pj_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
  # pj_state DB: the trending projection's "mode state", or nothing
  pj_state() { val -d "$1" -c "SELECT mode || ' ' || state FROM drivetribe.projections WHERE name = 'trending'"; }
  # pj_install DB: run examples/trending/trending.sql (registers the
  # projection inline and backfills it); "seconds" or ERR
  pj_install() {
    local t0 t1
    t0=$(pj_now)
    if psql -X -v ON_ERROR_STOP=1 -d "$1" -f examples/trending/trending.sql >>"$LOG" 2>&1 &&
       [ "$(pj_state "$1")" = "inline live" ]; then
      t1=$(pj_now); pj_secs "$t0" "$t1"
    else
      say "    examples/trending/trending.sql failed in database $1 (see $LOG)"; echo ERR
    fi
  }
  # pj_drop DB: drop the trending projection and empty its tables with
  # TRUNCATE (the script's own reset is a DELETE: the next backfill would
  # start on a table of dead rows), then a checkpoint
  pj_drop() {
    sql -d "$1" -c "SELECT drivetribe.drop_projection('trending')" \
        -c "TRUNCATE trending.buckets, trending.deleted_articles" -c CHECKPOINT || fail "drop_projection failed (see $LOG)"
  }
  # pj_worker_cpu DB: "pid cpu_ticks" of DB's projection worker (user +
  # system, from /proc), or "- 0" when none runs
  pj_worker_cpu() {
    local pid
    pid=$(val -d "$1" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'drivetribe projection worker' AND datname = current_database() LIMIT 1")
    if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then
      # fields after the command's closing parenthesis: 12 and 13 are utime and stime
      echo "$pid $(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')"
    else
      echo "- 0"
    fi
  }
  # pj_cpu_share BEFORE AFTER SECONDS: the share of one core the worker used
  # between two pj_worker_cpu readings (the worker may have started between them)
  pj_cpu_share() {
    awk -v b="$1" -v a="$2" -v s="$3" -v hz="$(getconf CLK_TCK)" 'BEGIN {
      split(b, x, " "); split(a, y, " ")
      if (y[1] == "-") { print "0.00"; exit }
      t = (x[1] == y[1]) ? y[2] - x[2] : y[2]
      printf "%.2f", (s > 0 ? t / hz / s : 0) }'
  }
  # pj_drain DB [TIMEOUT]: wait until every projection of DB has lag_events
  # 0; prints the seconds it took, or "timeout"
  pj_drain() {
    local t0 lag
    t0=$(pj_now)
    while :; do
      lag=$(val -d "$1" -c "SELECT coalesce(sum(lag_events), 0) FROM drivetribe.projections")
      [ "$lag" = 0 ] && break
      awk -v a="$t0" -v b="$(pj_now)" -v m="${2:-60}" 'BEGIN { exit !(b - a > m) }' && { echo timeout; return; }
      sleep 0.1
    done
    pj_secs "$t0" "$(pj_now)"
  }
  # pj_wstats DIR [T0 T1]: "n max_ms p99_ms calls/s at_s" of the calls in
  # pgbench's per-transaction logs in DIR (fields: client, tx, latency us,
  # script, end epoch s, end us) that overlap [T0, T1] (default: all);
  # calls/s counts those that ended inside it; at_s: when the longest one
  # started, in seconds from T0 (default: from the first call's start)
  pj_wstats() {
    local t0=${2:-0} t1=${3:-1e12} rate first
    first=$(cat "$1"/tx.* 2>/dev/null | awk '{ s = $5 + $6 / 1e6 - $3 / 1e6; if (f == "" || s < f) f = s } END { printf "%.6f", f }')
    [ "$t0" = 0 ] || first=$t0
    cat "$1"/tx.* 2>/dev/null | awk -v t0="$t0" -v t1="$t1" -v f="$first" '
      { e = $5 + $6 / 1e6; s = e - $3 / 1e6; if (e >= t0 && s <= t1) printf "%.3f %.1f\n", $3 / 1000, s - f }' | sort -n -k1,1 >"$WORK/wstats"
    rate=$(cat "$1"/tx.* 2>/dev/null | awk -v t0="$t0" -v t1="$t1" '
      { e = $5 + $6 / 1e6; if (e >= t0 && e <= t1) n++; if (first == "" || e < first) first = e; if (e > last) last = e }
      END { if (t1 == 1e12) { t0 = first; t1 = last }; printf "%.0f", (t1 > t0 ? n / (t1 - t0) : 0) }')
    awk -v r="$rate" '{ v[NR] = $1; at = $2 } END { if (NR == 0) { print "0 ERR ERR ERR ERR"; exit }
                                                    printf "%d %.1f %.1f %s %s\n", NR, v[NR], v[int((NR - 1) * 0.99) + 1], r, at }' "$WORK/wstats"
  }

  # ---- (1) the backfill vs set-based SQL, on the generated log
  if want rebuild; then
    LDB=rebuild
    step "projections: the rebuild case's log (database rebuild)"
  else
    LDB=projlog
    step "projections: generating a log of about $LOG_EVENTS events (database projlog), then rebuild() (untimed: the writers of (2) need the projections)"
    gen_log_db projlog
    sql -d projlog -c "SELECT drivetribe.rebuild()" || fail "rebuild() of the projections log failed (see $LOG)"
  fi
  sql -d "$LDB" -c "VACUUM ANALYZE" || fail "VACUUM failed"
  BATCH=$(val -d "$LDB" -c "LOAD 'drivetribe'" -c "SHOW drivetribe.projection_batch_size")
  # (also reads the whole log once: both sides start with it in the cache)
  pevents=$(val -d "$LDB" -c "SELECT count(*) FROM drivetribe.events")
  step "projections: $pevents events; the trending backfill (examples/trending/trending.sql, batches of $BATCH events)"
  sql -d "$LDB" -c CHECKPOINT
  ours=$(pj_install "$LDB")
  binfo=$(val -d "$LDB" -c "SELECT format('%s events read, last batch %s events at %s events/s', events_read, last_batch_events, round(last_batch_events_per_s))
                              FROM drivetribe.projections WHERE name = 'trending'")
  step "projections: the set-based SQL computation (test/bench/trending_sql.sql)"
  sql -d "$LDB" -v step=schema -f test/bench/trending_sql.sql || fail "trending_sql.sql schema failed (see $LOG)"
  sql -d "$LDB" -c CHECKPOINT
  t0=$(pj_now)
  if sql -d "$LDB" -v step=run -f test/bench/trending_sql.sql; then theirs=$(pj_secs "$t0" "$(pj_now)"); else theirs=ERR; fi
  d=$(val -d "$LDB" -v step=check -f test/bench/trending_sql.sql)
  brows=$(val -d "$LDB" -c "SELECT count(*) FROM trending.buckets")
  note "projections: backfill of trending over $pevents events: $ours s ($binfo), the set-based SQL $theirs s; $brows buckets; rows that differ between the two (EXCEPT ALL both ways, buckets and deleted articles): ${d:-ERR}"
  [ "$d" = 0 ] || { ours=ERR; say "    the backfill and the SQL computation differ in ${d:-ERR} rows"; }
  peps() { awk -v e="$pevents" -v s="$1" 'BEGIN { if (s == "ERR" || s + 0 == 0) print "ERR"; else printf "%.0f", e / s }'; }
  record projections "trending backfill vs set-based SQL" "CALL create_projection('trending', ...) (examples/trending/trending.sql: the backfill, batches of $BATCH events, $ours s) over a log of $pevents events vs a set-based INSERT ... SELECT ... GROUP BY of the same tables ($theirs s), checked equal (events of the log per second; ratio = ours/SQL)" "$(peps "$ours")" "$(peps "$theirs")" "events/s" ">= 0.5"
  # the same backfill in batches ten times as large: each batch adds to a
  # bucket once however many of its events hit it, so this shows how much
  # of the gap is the batch's size
  BIG_BATCH=$((BATCH * 10))
  pj_drop "$LDB"
  step "projections: the trending backfill again, batches of $BIG_BATCH events"
  ours_big=$(PGOPTIONS="-c drivetribe.projection_batch_size=$BIG_BATCH" pj_install "$LDB")
  d=$(val -d "$LDB" -v step=check -f test/bench/trending_sql.sql)
  [ "$d" = 0 ] || { ours_big=ERR; say "    the backfill in batches of $BIG_BATCH and the SQL computation differ in ${d:-ERR} rows"; }
  note "projections: backfill of trending in batches of $BIG_BATCH: $ours_big s; rows that differ from the SQL computation: ${d:-ERR}"
  record projections "trending backfill, batches x10, vs SQL" "the same backfill with drivetribe.projection_batch_size = $BIG_BATCH ($ours_big s) vs the set-based SQL (events of the log per second; informative)" "$(peps "$ours_big")" "$(peps "$theirs")" "events/s" "-"
  # the extension's part of a backfill: the same kinds, in batches of
  # BATCH, to a handler that does nothing (reading the log, building the
  # arrays, a call and a commit per batch)
  step "projections: a backfill of the same kinds to a handler that does nothing"
  sql -d "$LDB" <<'SQL' || fail "the no-op projection failed (see $LOG)"
CREATE SCHEMA bench_noop;
CREATE FUNCTION bench_noop.apply(events drivetribe.events[]) RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$;
CHECKPOINT;
SQL
  t0=$(pj_now)
  if sql -d "$LDB" -c "CALL drivetribe.create_projection('bench_noop', 'bench_noop.apply(drivetribe.events[])',
                         kinds => ARRAY['article_viewed', 'article_bumped', 'comment_posted', 'article_deleted'])"; then
    noop=$(pj_secs "$t0" "$(pj_now)")
  else
    noop=ERR
  fi
  sql -d "$LDB" -c "SELECT drivetribe.drop_projection('bench_noop')"
  note "projections: a backfill of the same kinds to a handler that does nothing: $noop s"
  record projections "backfill, handler doing nothing, vs SQL" "a backfill of trending's kinds in batches of $BATCH to a handler that does nothing ($noop s: the extension's part, reading the log and building the arrays) vs the set-based SQL (events of the log per second; informative)" "$(peps "$noop")" "$(peps "$theirs")" "events/s" "-"

  # ---- (2) writers during a backfill
  parts=$(val -d "$LDB" -c "SELECT max(article_id) / 100 FROM drivetribe.articles")
  pusers=$(val -d "$LDB" -c "SELECT max(user_id) FROM drivetribe.users")
  # every 100th article of the log is deleted: the others, spread
  script proj_log_view <<'B'
\set h random(0, :parts - 1)
\set a 100 * :h + random(1, 99)
\set u random(1, :users)
SELECT drivetribe.view_article(:a, :u);
B
  pj_drop "$LDB"
  step "projections: 8 writers (view_article over $((parts * 99)) articles) while trending backfills again"
  wdir=$WORK/w-backfill; mkdir -p "$wdir"
  (cd "$wdir" && PGDATABASE=$LDB exec pgbench -n -j 2 -c 8 -T 86400 -D parts="$parts" -D users="$pusers" \
     -f "$WORK/proj_log_view.sql" -l --log-prefix=tx >"$wdir/out" 2>&1) &
  wpid=$!
  sleep $((SMOKE ? 1 : 2))
  t0=$(pj_now)
  wback=$(pj_install "$LDB")
  t1=$(pj_now)
  # every call that started before the backfill's end has ended (and is in
  # the log) before the writers are stopped, by terminating their sessions
  sleep 1
  for _ in $(seq 1 600); do
    n=$(val -d "$LDB" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = current_database()
                            AND state = 'active' AND query_start < to_timestamp($t1)")
    [ "$n" = 0 ] && break
    sleep 0.1
  done
  sql -d "$LDB" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = current_database()"
  wait "$wpid"
  grep -E '^(number of transactions actually processed|tps)' "$wdir/out" | sed 's/^/    backfill writers: /' >>"$LOG"
  read -r w_n w_max w_p99 w_rate w_at <<<"$(pj_wstats "$wdir" "$t0" "$t1")"
  # all 8 writers ran through the backfill (a failed call ends its client)
  alive=$(cat "$wdir"/tx.* 2>/dev/null | awk -v t1="$t1" '$5 + $6 / 1e6 >= t1 { c[$1] = 1 } END { print length(c) }')
  if [ "$wback" = ERR ] || [ "$alive" != 8 ]; then
    say "    writers during the backfill: $alive of 8 clients ran through it (see $wdir/out in the log)"
    grep -E 'error|ERROR' "$wdir/out" | grep -v 'administrator command\|backend died' | head -n 3 >>"$LOG"
    w_max=ERR
  fi
  window=$(pj_secs "$t0" "$t1")
  pj_drop "$LDB"
  # the same calls, no backfill, no projection, as long (at least 1 s, at most 120 s)
  bsecs=$(awk -v w="$window" 'BEGIN { s = int(w + 0.999); if (s < 1) s = 1; if (s > 120) s = 120; print s }')
  step "projections: the same 8 writers for $bsecs s, no backfill"
  bdir=$WORK/w-none; mkdir -p "$bdir"
  (cd "$bdir" && PGDATABASE=$LDB pgbench -n -j 2 -c 8 -T "$bsecs" -D parts="$parts" -D users="$pusers" \
     -f "$WORK/proj_log_view.sql" -l --log-prefix=tx >"$bdir/out" 2>&1) ||
    { grep -E 'error|ERROR' "$bdir/out" | head -n 3 >>"$LOG"; say "    the writers without a backfill failed (see $LOG)"; }
  read -r b_n b_max b_p99 b_rate b_at <<<"$(pj_wstats "$bdir")"
  record projections "longest view_article: backfill vs none" "the longest view_article call of 8 clients (spread over the log's articles) that overlapped a backfill of trending ($window s, $w_n calls) vs the longest of the same calls with no backfill ($bsecs s, $b_n calls) (ms; informative)" "$w_max" "$b_max" "ms" "-"
  record projections "longest view_article in a backfill vs 1 s" "the longest view_article call during the backfill (each batch of $BATCH events commits; the handover waits for the writers) vs the 1 s goal (ms)" "$w_max" 1000 "ms" "<= 1"
  note "projections: writers during the backfill ($window s with them, $ours s alone): $w_n calls, $w_rate calls/s, p99 $w_p99 ms, longest $w_max ms (started $w_at s into the backfill); without a backfill: $b_n calls, $b_rate calls/s, p99 $b_p99 ms, longest $b_max ms (started at $b_at s)"

  # ---- (3) view_article with trending inline / async / none
  step "projections: the world (database projections): $N users, tribes and articles"
  createdb projections >>"$LOG" 2>&1 && sql -d projections -v n="$N" <<'SQL' || fail "the projections world failed (see $LOG)"
CREATE EXTENSION drivetribe;
SELECT count(drivetribe.register_user(u, 'user ' || u)) FROM generate_series(1, :n) u;
SELECT count(drivetribe.create_tribe(t, t, 'tribe ' || t)) FROM generate_series(1, :n) t;
SELECT count(drivetribe.post_article(a, a, a, 'article ' || a)) FROM generate_series(1, :n) a;
VACUUM ANALYZE;
SQL
  [ "$(pj_install projections)" != ERR ] || fail "trending.sql failed in the projections world (see $LOG)"
  PMODE=inline
  # pj_mode TARGET: trending none (dropped), inline or async in database projections
  pj_mode() {
    local r=0
    [ "$PMODE" = "$1" ] && return 0
    case $PMODE:$1 in
      none:*) [ "$(pj_install projections)" != ERR ] || r=1
              [ "$1" = inline ] || sql -d projections -c "CALL drivetribe.alter_projection('trending', '$1')" || r=1 ;;
      *:none) pj_drop projections ;;
      *) sql -d projections -c "CALL drivetribe.alter_projection('trending', '$1')" || r=1 ;;
    esac
    [ $r = 0 ] || fail "switching trending from $PMODE to $1 failed (see $LOG)"
    PMODE=$1
  }
  script proj_view <<'B'
\set a random(1, :n)
\set u random(1, :n)
SELECT drivetribe.view_article(:a, :u);
B
  step "projections: view_article spread, 8 clients, trending none / inline / async, $HOT_ROUNDS interleaved rounds"
  declare -A pj_runs=([none]="" [inline]="" [async]="")
  drains=(); wcpu=()
  full_run=("${RUN[@]}"); RUN=("${HOT_RUN[@]}")
  for r in $(seq 1 "$HOT_ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="none inline async"; else order="async inline none"; fi
    for m in $order; do
      pj_mode "$m"
      c0=$(pj_worker_cpu projections); t0=$(pj_now)
      v=$(PGDATABASE=projections bench "proj_view_$m" 8 1 $D -f "$WORK/proj_view.sql")
      c1=$(pj_worker_cpu projections); t1=$(pj_now)
      pj_runs[$m]="${pj_runs[$m]} $v"
      if [ "$m" = async ]; then
        drains+=("$(pj_drain projections 60)")
        # (the CHECKPOINT before the run is in the interval: the worker is idle then)
        wcpu+=("$(pj_cpu_share "$c0" "$c1" "$(pj_secs "$t0" "$t1")")")
      fi
    done
  done
  RUN=("${full_run[@]}")
  # shellcheck disable=SC2086
  { v_none=$(mean_or_err ${pj_runs[none]}); v_inline=$(mean_or_err ${pj_runs[inline]}); v_async=$(mean_or_err ${pj_runs[async]}); }
  record projections "view spread: trending inline vs none" "view_article spread over $N articles, 8 clients: trending registered inline (its handler in every view's transaction) vs no projection (calls/s)" "$v_inline" "$v_none" "calls/s" ">= 0.7"
  record projections "view spread: trending async vs none" "view_article spread, 8 clients: trending async (the projection worker applies it after commit, on the same 2 cores) vs no projection (calls/s)" "$v_async" "$v_none" "calls/s" ">= 0.9"
  note "projections: view_article spread, means of $HOT_ROUNDS interleaved rounds (none, inline, async, async, inline, none, ...), ${HOT_RUN[*]} each: none${pj_runs[none]}, inline${pj_runs[inline]}, async${pj_runs[async]} calls/s; the worker's backlog after each async round drained in ${drains[*]} s; the worker used ${wcpu[*]} of a core during the async rounds (CPU time from /proc over each run and its checkpoint)"
  case " ${drains[*]} " in *" timeout "*) ERRORS=$((ERRORS + 1)); say "    the async backlog did not drain within 60 s after a round" ;; esac

  # ---- (4) async lag at a steady 2,000 calls/s
  pj_mode async
  sql -d projections <<'SQL' || fail "the lag probe failed (see $LOG)"
-- a second async projection whose name sorts after trending (the worker
-- applies projections in name order each round): the time from each view's
-- occurred_at (the writer's now(), its transaction's start) to the
-- handler's clock_timestamp() (before the worker's commit)
CREATE SCHEMA lag_probe;
CREATE TABLE lag_probe.params (from_seq bigint NOT NULL);
INSERT INTO lag_probe.params SELECT coalesce(max(seq), 0) FROM drivetribe.events;
CREATE TABLE lag_probe.lag (seq bigint PRIMARY KEY, occurred_at timestamptz NOT NULL, applied_at timestamptz NOT NULL);
CREATE FUNCTION lag_probe.apply(events drivetribe.events[]) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
  INSERT INTO lag_probe.lag (seq, occurred_at, applied_at)
  SELECT e.seq, e.occurred_at, clock_timestamp() FROM unnest(events) e
   WHERE e.seq > (SELECT p.from_seq FROM lag_probe.params p)
$$;
CALL drivetribe.create_projection('zz_lag_probe', 'lag_probe.apply(drivetribe.events[])',
                                  kinds => ARRAY['article_viewed'], mode => 'async');
CHECKPOINT;
SQL
  if [ $SMOKE = 1 ]; then lsecs=2; else lsecs=$((2 * SECS)); fi
  step "projections: async lag at 2,000 calls/s (pgbench -R 2000, 8 clients, $lsecs s), trending and zz_lag_probe async"
  lseq=$(val -d projections -c "SELECT from_seq FROM lag_probe.params")
  c0=$(pj_worker_cpu projections); t0=$(pj_now)
  PGDATABASE=projections pgbench -n -j 2 -c 8 -R 2000 -T "$lsecs" $D -f "$WORK/proj_view.sql" >"$WORK/proj_lag.out" 2>&1 ||
    { grep -E 'error|ERROR' "$WORK/proj_lag.out" | head -n 3 >>"$LOG"; say "    pgbench -R 2000 failed (see $LOG)"; }
  grep -E '^(tps|number of (transactions|failed)|latency average|rate limit)' "$WORK/proj_lag.out" | sed 's/^/    lag load: /' >>"$LOG"
  c1=$(pj_worker_cpu projections); t1=$(pj_now)
  achieved=$(awk -F' = ' '/^tps = / { split($2, a, " "); printf "%.0f", a[1]; exit }' "$WORK/proj_lag.out")
  ldrain=$(pj_drain projections 60)
  after=$(val -d projections -c "SELECT string_agg(format('%s: %s %s, lag_events %s, lag_seconds %s', name, mode, state, lag_events, round(lag_seconds::numeric, 3)), '; ' ORDER BY name) FROM drivetribe.projections")
  read -r l_n l_50 l_99 l_max <<<"$(val -d projections -F ' ' -c "
    SELECT count(*), round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 1),
           round((percentile_cont(0.99) WITHIN GROUP (ORDER BY ms))::numeric, 1), round(max(ms)::numeric, 1)
      FROM (SELECT extract(epoch FROM applied_at - occurred_at) * 1000 AS ms FROM lag_probe.lag WHERE seq > $lseq) s")"
  lviews=$(val -d projections -c "SELECT count(*) FROM drivetribe.events WHERE seq > $lseq AND kind = 'article_viewed'")
  [ "$ldrain" != timeout ] && [ "$l_n" = "$lviews" ] && [ "$l_n" != 0 ] || {
    say "    async lag: the probe has ${l_n:-ERR} of $lviews views (drained: $ldrain; $after)"; l_99=ERR; }
  record projections "async lag p99 at 2,000/s vs 1 s" "async lag at a steady 2,000 calls/s (pgbench -R, 8 clients, ${achieved:-?} achieved), p99 over $l_n views: occurred_at (the writer's transaction start) to the probe projection's handler, applied after trending in the same worker round, vs the 1 s goal (ms)" "$l_99" 1000 "ms" "<= 1"
  note "projections: async lag at 2,000 calls/s (${achieved:-?} achieved, $lsecs s): $l_n views, p50 $l_50 ms, p99 $l_99 ms, longest $l_max ms; the worker used $(pj_cpu_share "$c0" "$c1" "$(pj_secs "$t0" "$t1")") of a core; drained $ldrain s after the load; then $after"
  # trending after all the switches: the set-based SQL over the same log
  sql -d projections -v step=schema -f test/bench/trending_sql.sql && sql -d projections -v step=run -f test/bench/trending_sql.sql ||
    fail "trending_sql.sql failed in database projections (see $LOG)"
  d=$(val -d projections -v step=check -f test/bench/trending_sql.sql)
  note "projections: trending after the switches (none/inline/async) and the lag run vs the set-based SQL over the log: ${d:-ERR} rows differ"
  [ "$d" = 0 ] || { ERRORS=$((ERRORS + 1)); say "    trending differs from the set-based SQL in ${d:-ERR} rows after the switches"; }
fi

# ------------------------------------------------------------------ online
# Issue 22, change without downtime: "writers during a command".  OL_CLIENTS
# pgbench clients make the write mix through the write API (the 1.0 calls:
# they work at every version), one call per transaction, with pgbench's
# per-transaction log; after a baseline window of OL_BASE s a command runs
# in a psql session of its own; the writers go on until OL_TAIL s after it
# ended and every call that started before its end has ended.
if want online_update || want online_rebuild; then
  OL_CLIENTS=16
  # OL_WARM s after the writers connected, OL_BASE s of baseline, OL_TAIL s after the command
  if [ $SMOKE = 1 ]; then OL_WARM=0.5; OL_BASE=${DT_BENCH_ONLINE_BASELINE:-1}; OL_TAIL=0.5
  else OL_WARM=1; OL_BASE=${DT_BENCH_ONLINE_BASELINE:-$SECS}; OL_TAIL=2; fi
  ol_now() { date +%s.%N; }
  ol_secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
  # the write mix: every 100th article of gen_log.sql's log is deleted (a
  # view, bump or comment of it is an error), so articles 100h + 1..99
  script ol_view <<'B'
\set a 100 * random(0, :parts - 1) + random(1, 99)
\set u random(1, :users)
SELECT drivetribe.view_article(:a, :u);
B
  script ol_bump <<'B'
\set a 100 * random(0, :parts - 1) + random(1, 99)
\set u random(1, :users)
SELECT drivetribe.bump(:a, :u);
B
  script ol_unbump <<'B'
\set a 100 * random(0, :parts - 1) + random(1, 99)
\set u random(1, :users)
SELECT drivetribe.unbump(:a, :u);
B
  script ol_comment <<'B'
\set a 100 * random(0, :parts - 1) + random(1, 99)
\set u random(1, :users)
SELECT drivetribe.post_comment(nextval('public.online_comment_ids'), :a, :u, 'a comment from the benchmark');
B
  script ol_follow <<'B'
\set f random(1, :users)
\set d random(1, :users - 1)
\set e 1 + (:f - 1 + :d) % :users
SELECT drivetribe.follow_user(:f, :e);
B
  script ol_unfollow <<'B'
\set f random(1, :users)
\set d random(1, :users - 1)
\set e 1 + (:f - 1 + :d) % :users
SELECT drivetribe.unfollow_user(:f, :e);
B
  OL_MIX=(-f "$WORK/ol_view.sql@70" -f "$WORK/ol_bump.sql@8" -f "$WORK/ol_unbump.sql@4"
          -f "$WORK/ol_comment.sql@10" -f "$WORK/ol_follow.sql@5" -f "$WORK/ol_unfollow.sql@3")
  OL_MIX_LABEL="70% view_article, 8% bump, 4% unbump, 10% post_comment, 5% follow_user, 3% unfollow_user"

  # ol_version DB: the extension's version in DB
  ol_version() { val -d "$1" -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'"; }
  # ol_timed DB SQL: the wall time (s) of SQL in a psql session of its own,
  # or ERR (NA when it failed with feature_not_supported, SQLSTATE 0A000)
  ol_timed() {
    local t0 t1 rc
    t0=$(ol_now)
    PGAPPNAME=dt-bench-command psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" -c "$2" >"$WORK/ol_timed.out" 2>&1; rc=$?
    t1=$(ol_now)
    { echo "--- $2 (database $1): exit $rc"; cat "$WORK/ol_timed.out"; } >>"$LOG"
    if [ $rc = 0 ]; then ol_secs "$t0" "$t1"
    elif grep -q 'ERROR: *0A000' "$WORK/ol_timed.out"; then echo NA
    else echo ERR; fi
  }
  # ol_prepare DB: the comment id sequence, OL_PARTS (live articles are
  # 100h + 1..99, h < OL_PARTS) and OL_USERS, from the read API
  ol_prepare() {
    sql -d "$1" -c "CREATE SEQUENCE IF NOT EXISTS public.online_comment_ids START 1000000000000" ||
      fail "creating the comment id sequence in $1 failed (see $LOG)"
    OL_PARTS=$(val -d "$1" -c "SELECT max(article_id) / 100 FROM drivetribe.article_view")
    OL_USERS=$(val -d "$1" -c "SELECT max(user_id) FROM drivetribe.user_stats")
    [ "${OL_PARTS:-0}" -ge 1 ] 2>/dev/null && [ "${OL_USERS:-0}" -ge 2 ] 2>/dev/null ||
      fail "database $1 has no generated log to write to (articles / 100: ${OL_PARTS:-?}, users: ${OL_USERS:-?})"
  }
  # ol_run NAME DB SQL: the writers on DB, OL_BASE s of baseline, then SQL;
  # sets OL_CMD (its wall time, s, or ERR), OL_RATE (the writers' calls/s
  # that ended while it ran), OL_MAX / OL_P99 / OL_N (the longest call, p99,
  # number of calls overlapping it, ms), OL_AT (when the longest started, s
  # from the command's start), OL_BRATE / OL_BMAX (calls/s and longest call
  # in the OL_BASE s before it), OL_FAILED (calls failed after retries),
  # OL_RETRIES (retries during the command), OL_ALIVE (clients that ran
  # through it); OL_MAX and OL_RATE are ERR when the command failed or a
  # writer did not run through it
  ol_run() {
    local name=$1 db=$2 cmd=$3 dir=$WORK/ol-$1 wpid t0 t1 rc n b0 stats
    OL_CMD=ERR OL_RATE=ERR OL_BRATE=ERR OL_MAX=ERR OL_BMAX=ERR OL_P99=ERR OL_N=0 OL_AT=- OL_FAILED=0 OL_RETRIES=0 OL_ALIVE=0
    rm -rf "$dir"; mkdir -p "$dir"
    sql -d "$db" -c CHECKPOINT
    (cd "$dir" && PGDATABASE=$db exec pgbench -n -M simple -j 2 -c "$OL_CLIENTS" -T 86400 --max-tries=10 \
       -D parts="$OL_PARTS" -D users="$OL_USERS" "${OL_MIX[@]}" -l --log-prefix=tx >"$dir/out" 2>&1) &
    wpid=$!
    # every client connected (at most 30 s), OL_WARM s more, then the baseline window
    for _ in $(seq 1 300); do
      n=$(val -d "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = current_database()")
      [ "${n:-0}" -ge "$OL_CLIENTS" ] 2>/dev/null && break
      kill -0 "$wpid" 2>/dev/null || break
      sleep 0.1
    done
    sleep "$(awk -v w="$OL_WARM" -v b="$OL_BASE" 'BEGIN { print w + b }')"
    if ! kill -0 "$wpid" 2>/dev/null; then
      wait "$wpid"
      say "    the writers of $name stopped before the command (see $LOG)"
      { echo "--- writers of $name:"; grep -E 'error|ERROR|abort' "$dir/out" | head -n 5; } >>"$LOG"
      return 1
    fi
    t0=$(ol_now)
    PGAPPNAME=dt-bench-command psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" -c "$cmd" >"$dir/command.out" 2>&1; rc=$?
    t1=$(ol_now)
    { echo "--- $name: $cmd (database $db, under load): exit $rc"; cat "$dir/command.out"; } >>"$LOG"
    sleep "$OL_TAIL"
    # every call that started before the command's end has ended (and is
    # in the log) before the writers are stopped, by terminating their sessions
    for _ in $(seq 1 600); do
      n=$(val -d "$db" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = current_database()
                             AND state = 'active' AND query_start < to_timestamp($t1)")
      [ "$n" = 0 ] && break
      sleep 0.1
    done
    sql -d "$db" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = current_database()"
    wait "$wpid"
    grep -E '^(number of (transactions actually processed|failed transactions|transactions retried)|tps)' "$dir/out" |
      sed "s/^/    $name writers: /" >>"$LOG"
    b0=$(awk -v t="$t0" -v b="$OL_BASE" 'BEGIN { printf "%.6f", t - b }')
    # pgbench's log: client, tx, latency us (or "failed"), script, end epoch s, end us, retries
    : >"$dir/lat"
    stats=$(cat "$dir"/tx.* 2>/dev/null | awk -v t0="$t0" -v t1="$t1" -v b0="$b0" -v lat="$dir/lat" '
      $3 !~ /^[0-9]+$/ { failed++; next }
      { e = $5 + $6 / 1e6; s = e - $3 / 1e6
        if (e >= t0 && s <= t1) { n++; print $3 / 1000 > lat; retries += $7; if ($3 + 0 > max) { max = $3 + 0; at = s - t0 } }
        if (e >= t0 && e <= t1) ended++
        if (e >= b0 && e < t0) { bn++; if ($3 + 0 > bmax) bmax = $3 + 0 }
        if (e >= t1) alive[$1] = 1 }
      END { na = 0; for (c in alive) na++
            printf "%d %.1f %.1f %s %d %.1f %d %d %d\n", n, max / 1000, (t1 > t0 ? ended / (t1 - t0) : 0),
                   (n ? sprintf("%.2f", at) : "-"), bn, bmax / 1000, failed, retries, na }')
    read -r OL_N OL_MAX OL_RATE OL_AT n OL_BMAX OL_FAILED OL_RETRIES OL_ALIVE <<<"$stats"
    OL_BRATE=$(awk -v n="$n" -v b="$OL_BASE" 'BEGIN { printf "%.1f", n / b }')
    OL_P99=$(sort -n "$dir/lat" | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", v[int((NR - 1) * 0.99) + 1]; else print "ERR" }')
    [ "${n:-0}" -gt 0 ] 2>/dev/null || { say "    $name: no writer call ended in the baseline window (see $LOG)"; OL_BRATE=ERR; OL_BMAX=ERR; }
    if [ $rc = 0 ]; then OL_CMD=$(ol_secs "$t0" "$t1"); else say "    $name: the command failed: $cmd (see $LOG)"; fi
    if [ "$OL_ALIVE" != "$OL_CLIENTS" ]; then
      say "    $name: $OL_ALIVE of $OL_CLIENTS writers ran through the command; their errors:"
      grep -E 'error|ERROR|abort' "$dir/out" | grep -v 'administrator command' | head -n 5 | sed 's/^/      /' | tee -a "$LOG"
    fi
    if [ $rc != 0 ] || [ "$OL_ALIVE" != "$OL_CLIENTS" ] || [ "${OL_N:-0}" = 0 ]; then OL_MAX=ERR; OL_RATE=ERR; fi
    return 0
  }
  # ol_verify DB WHAT: OL_D, verify()'s number of differences in DB (or
  # ERR), an error when not 0 (the first 10 rows and a count per projection in
  # the log)
  ol_verify() {
    local d
    d=$(val -d "$1" -c "SELECT count(*) FROM drivetribe.verify()")
    if [ "$d" != 0 ]; then
      ERRORS=$((ERRORS + 1)); say "    verify() found ${d:-ERR} differences after $2"
      { echo "--- verify() after $2 (database $1), the first 10 rows and a count per projection:"
        psql -X -d "$1" -c "SELECT * FROM drivetribe.verify() LIMIT 10" \
                        -c "SELECT projection, count(*) FROM drivetribe.verify() GROUP BY 1 ORDER BY 1"; } >>"$LOG" 2>&1
    fi
    OL_D=${d:-ERR}
  }
  # ol_note CASE WHAT: the figures of the last ol_run as a note
  ol_note() {
    note "$1: writers during $2: $OL_CMD s, $OL_N calls overlapping it at $OL_RATE calls/s (those that ended in it), p99 $OL_P99 ms, longest $OL_MAX ms (started at $OL_AT s from the command's start), $OL_RETRIES retries (deadlock or serialization) in them; in the $OL_BASE s before: $OL_BRATE calls/s, longest $OL_BMAX ms; $OL_FAILED calls failed after 10 tries; $OL_ALIVE of $OL_CLIENTS writers ran through it"
  }
fi

if want online_update; then
  UPD_FROM=${DT_BENCH_UPDATE_FROM:-1.8}; UPD_TO=${DT_BENCH_UPDATE_TO:-1.9}
  upd_path() { val -c "SELECT path FROM pg_extension_update_paths('drivetribe') WHERE source = '$1' AND target = '$2'"; }
  installed=$(val -c "SELECT string_agg(version, ', ' ORDER BY string_to_array(version, '.')::int[]) FROM pg_available_extension_versions WHERE name = 'drivetribe'")
  upath=$(upd_path "$UPD_FROM" "$UPD_TO")
  if [ -z "$upath" ] && [ $SMOKE = 1 ] && [ -z "${DT_BENCH_UPDATE_FROM:-}${DT_BENCH_UPDATE_TO:-}" ]; then
    # the smoke run tests the harness: the newest one-step update installed
    asked="$UPD_FROM to $UPD_TO"
    UPD_TO=$(val -c "SELECT default_version FROM pg_available_extensions WHERE name = 'drivetribe'")
    UPD_FROM=$(val -c "SELECT source FROM pg_extension_update_paths('drivetribe')
                        WHERE target = '$UPD_TO' AND path = source || '--' || target
                        ORDER BY string_to_array(source, '.')::int[] DESC LIMIT 1")
    upath=$(upd_path "$UPD_FROM" "$UPD_TO")
    note "online_update: no update from $asked among the installed versions ($installed): the smoke run updates from $UPD_FROM to $UPD_TO instead"
  fi
  if [ -z "$upath" ]; then
    why="no $UPD_FROM to $UPD_TO installed"
    step "online_update: $why (installed: $installed)"
    record online_update "update: longest write vs 1 s" "the longest write during ALTER EXTENSION drivetribe UPDATE from $UPD_FROM to $UPD_TO (not installed: $installed) vs the 1 s goal (ms)" n/a 1000 ms "<= 1" "$why"
    record online_update "update: writers' calls/s, during vs before" "the writers' calls/s during the update vs before it (calls/s; informative)" n/a n/a calls/s - "$why"
    record online_update "update: wall time, writers vs none" "the update's wall time with the writers vs with none (s; informative)" n/a n/a s - "$why"
    note "online_update: no update path from $UPD_FROM to $UPD_TO among the installed versions ($installed): DT_BENCH_UPDATE_FROM / DT_BENCH_UPDATE_TO choose others"
  else
    step "online_update: a log of about $LOG_EVENTS events at drivetribe $UPD_FROM (database online_update), rebuild()"
    gen_log_db online_update "$UPD_FROM"
    sql -d online_update -c "SELECT drivetribe.rebuild()" -c "VACUUM ANALYZE" || fail "rebuild() at $UPD_FROM failed (see $LOG)"
    uevents=$(val -d online_update -c "SELECT count(*) FROM drivetribe.events")
    [ "$(ol_version online_update)" = "$UPD_FROM" ] || fail "database online_update is not at version $UPD_FROM"
    # the same update with no load, on a copy made before it
    step "online_update: ALTER EXTENSION drivetribe UPDATE TO '$UPD_TO' ($upath) with no load, on a copy (database online_update_quiet)"
    sql -c "CREATE DATABASE online_update_quiet TEMPLATE online_update STRATEGY FILE_COPY" || fail "copying database online_update failed (see $LOG)"
    sql -d online_update_quiet -c CHECKPOINT
    u_quiet=$(ol_timed online_update_quiet "ALTER EXTENSION drivetribe UPDATE TO '$UPD_TO'")
    [ "$u_quiet" != NA ] || u_quiet=ERR
    qv=$(ol_version online_update_quiet)
    sql -c "DROP DATABASE online_update_quiet"
    ol_prepare online_update
    step "online_update: $OL_CLIENTS writers ($OL_MIX_LABEL), $OL_BASE s alone, then ALTER EXTENSION drivetribe UPDATE TO '$UPD_TO' in another session"
    ol_run update online_update "ALTER EXTENSION drivetribe UPDATE TO '$UPD_TO'" || fail "the writers of online_update failed (see $LOG)"
    uv=$(ol_version online_update)
    [ "$uv" = "$UPD_TO" ] && [ "$qv" = "$UPD_TO" ] ||
      { ERRORS=$((ERRORS + 1)); say "    after the update the database is at ${uv:-?} (the copy with no load at ${qv:-?}), not $UPD_TO"; }
    step "online_update: verify() at $UPD_TO"
    ol_verify online_update "the update under load"; d=$OL_D
    record online_update "update: longest write vs 1 s" "the longest write ($OL_CLIENTS clients, the write mix) that overlapped ALTER EXTENSION drivetribe UPDATE from $UPD_FROM to $UPD_TO ($OL_CMD s) on a log of $uevents events, vs the 1 s goal (ms)" "$OL_MAX" 1000 ms "<= 1"
    record online_update "update: writers' calls/s, during vs before" "the writers' calls/s while the update ran ($OL_CMD s) vs in the $OL_BASE s before it (calls/s; informative)" "$OL_RATE" "$OL_BRATE" calls/s -
    record online_update "update: wall time, writers vs none" "ALTER EXTENSION drivetribe UPDATE TO '$UPD_TO' wall time with the $OL_CLIENTS writers vs on a copy of the database with none (s; informative)" "$OL_CMD" "$u_quiet" s -
    ol_note online_update "ALTER EXTENSION drivetribe UPDATE from $UPD_FROM to $UPD_TO ($upath)"
    note "online_update: $uevents events generated at $UPD_FROM; the update took $u_quiet s with no load (a copy of the database), $OL_CMD s with the writers; verify() afterwards: ${d:-ERR} differences"
  fi
fi

if want online_rebuild; then
  DEFV=$(val -c "SELECT default_version FROM pg_available_extensions WHERE name = 'drivetribe'")
  # a generated log at the default version, rebuilt: the rebuild case's, the
  # projections case's, the update case's when it ended at the default
  # version, or one of its own
  RDB=
  if want rebuild; then RDB=rebuild
  elif want projections; then RDB=projlog
  elif want online_update && [ "$(ol_version online_update 2>/dev/null)" = "$DEFV" ]; then RDB=online_update
  fi
  if [ -n "$RDB" ] && [ "$(ol_version "$RDB")" = "$DEFV" ]; then
    step "online_rebuild: the log of database $RDB"
  else
    RDB=online_rebuild
    step "online_rebuild: generating a log of about $LOG_EVENTS events (database online_rebuild), then rebuild() (untimed)"
    gen_log_db online_rebuild
    sql -d online_rebuild -c "SELECT drivetribe.rebuild()" || fail "rebuild() of the online_rebuild log failed (see $LOG)"
  fi
  sql -d "$RDB" -c "VACUUM ANALYZE" || fail "VACUUM failed"
  revents=$(val -d "$RDB" -c "SELECT count(*) FROM drivetribe.events")
  # the blue/green rebuild: rebuild(concurrently => true), a function or a
  # procedure, when the installed version has it (DT_BENCH_BLUEGREEN_SQL: another command)
  BG_SQL=${DT_BENCH_BLUEGREEN_SQL:-}
  if [ -z "$BG_SQL" ]; then
    case $(val -d "$RDB" -c "SELECT prokind FROM pg_proc WHERE pronamespace = 'drivetribe'::regnamespace AND proname = 'rebuild'
                              AND 'concurrently' = ANY (proargnames) ORDER BY prokind LIMIT 1") in
      f) BG_SQL="SELECT drivetribe.rebuild(concurrently => true)" ;;
      p) BG_SQL="CALL drivetribe.rebuild(concurrently => true)" ;;
    esac
  fi
  step "online_rebuild: $revents events (drivetribe $(ol_version "$RDB")); SELECT drivetribe.rebuild() with no load"
  sql -d "$RDB" -c CHECKPOINT
  q_plain=$(ol_timed "$RDB" "SELECT drivetribe.rebuild()")
  [ "$q_plain" != NA ] || q_plain=ERR
  q_bg=n/a; bg_why="not implemented"
  if [ -n "$BG_SQL" ]; then
    step "online_rebuild: $BG_SQL with no load"
    sql -d "$RDB" -c CHECKPOINT
    q_bg=$(ol_timed "$RDB" "$BG_SQL")
    if [ "$q_bg" = NA ]; then
      note "online_rebuild: $BG_SQL raised feature_not_supported (0A000): counted as not implemented"
      BG_SQL=; q_bg=n/a
    else
      step "online_rebuild: verify() after it"
      ol_verify "$RDB" "$BG_SQL with no load"; d_bgq=$OL_D
    fi
  else
    note "online_rebuild: drivetribe $(ol_version "$RDB") has no rebuild(concurrently => ...): the blue/green figures are n/a"
  fi
  # rebuild() doing the blue/green rebuild's work: writing every row (its
  # projections emptied first, as in the rebuild case); consistent after
  step "online_rebuild: SELECT drivetribe.rebuild() into emptied projections, no load"
  sql -d "$RDB" <<'SQL' || fail "emptying the projections failed"
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'tribes', 'articles', 'comments', 'memberships', 'follows', 'bumps'] LOOP
    EXECUTE format('TRUNCATE drivetribe.%I', t);
  END LOOP;
END
$$;
CHECKPOINT;
SQL
  q_empty=$(ol_timed "$RDB" "SELECT drivetribe.rebuild()")
  [ "$q_empty" != NA ] || q_empty=ERR
  ol_prepare "$RDB"
  step "online_rebuild: $OL_CLIENTS writers ($OL_MIX_LABEL), $OL_BASE s alone, then SELECT drivetribe.rebuild() (today's: the writers wait for the whole replay)"
  ol_run rebuild_plain "$RDB" "SELECT drivetribe.rebuild()" || fail "the writers of online_rebuild failed (see $LOG)"
  P_CMD=$OL_CMD P_RATE=$OL_RATE P_BRATE=$OL_BRATE P_MAX=$OL_MAX
  ol_note online_rebuild "SELECT drivetribe.rebuild()"
  step "online_rebuild: verify() after it"
  ol_verify "$RDB" "rebuild() under load"; d_plain=$OL_D
  vnote="verify() after rebuild() under load: $d_plain differences"
  if [ -n "$BG_SQL" ]; then
    step "online_rebuild: $OL_CLIENTS writers, $OL_BASE s alone, then $BG_SQL"
    ol_run rebuild_bg "$RDB" "$BG_SQL" || fail "the writers of online_rebuild failed (see $LOG)"
    ol_note online_rebuild "$BG_SQL"
    step "online_rebuild: verify() after it"
    ol_verify "$RDB" "$BG_SQL under load"; d_bg=$OL_D
    vnote="verify() after the blue/green rebuild with no load: $d_bgq differences, after rebuild() under load: $d_plain, after the blue/green rebuild under load: $d_bg"
    record online_rebuild "blue/green rebuild: writers' calls/s" "the writers' calls/s ($OL_CLIENTS clients, the write mix) while $BG_SQL of $revents events ran ($OL_CMD s) vs in the $OL_BASE s before it (calls/s)" "$OL_RATE" "$OL_BRATE" calls/s ">= 0.7"
    record online_rebuild "blue/green rebuild: longest write vs 1 s" "the longest write that overlapped $BG_SQL ($OL_N calls) vs the 1 s goal (ms)" "$OL_MAX" 1000 ms "<= 1"
  else
    record online_rebuild "blue/green rebuild: writers' calls/s" "the writers' calls/s ($OL_CLIENTS clients, the write mix) while rebuild(concurrently => true) of $revents events runs vs before it (calls/s)" n/a n/a calls/s ">= 0.7" "$bg_why"
    record online_rebuild "blue/green rebuild: longest write vs 1 s" "the longest write that overlaps rebuild(concurrently => true) vs the 1 s goal (ms)" n/a 1000 ms "<= 1" "$bg_why"
  fi
  record online_rebuild "blue/green vs rebuild(), no load (time)" "rebuild(concurrently => true) vs SELECT drivetribe.rebuild() of $revents events, no writers (s; ratio = blue/green / plain)" "$q_bg" "$q_plain" s "<= 1.5" "$bg_why"
  record online_rebuild "blue/green vs rebuild() writing every row (time)" "rebuild(concurrently => true) vs SELECT drivetribe.rebuild() into emptied projections of $revents events (both write every row), no writers (s; ratio = blue/green / plain)" "$q_bg" "$q_empty" s - "$bg_why"
  record online_rebuild "rebuild() today: writers' calls/s" "the writers' calls/s while SELECT drivetribe.rebuild() of $revents events ran ($P_CMD s; every writer waits for the whole replay) vs in the $OL_BASE s before it (calls/s; informative)" "$P_RATE" "$P_BRATE" calls/s -
  record online_rebuild "rebuild() today: longest write vs 1 s" "the longest write that overlapped SELECT drivetribe.rebuild() vs 1 s (ms; informative)" "$P_MAX" 1000 ms -
  note "online_rebuild: $revents events before the writers; with no load rebuild() took $q_plain s, the blue/green rebuild $([ "$q_bg" = n/a ] && echo "(not implemented)" || echo "$q_bg s"); $vnote"
fi

# ------------------------------------------------------------------ report
SO_AFTER=$(so_sum)
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
[ "$SO_BEFORE" = "$SO_AFTER" ] ||
  note "WARNING: drivetribe.so changed during the run ($SO_BEFORE -> $SO_AFTER): sessions that started after the change ran the new code"
ELAPSED=$((SECONDS - T_START))

fmt() {  # a number with thousands separators, or as it is
  awk -v x="$1" -v u="$2" 'BEGIN {
    if (x == "ERR" || x == "n/a") { print x; exit }
    if (u == "s" || u == "ms/call" || u == "ms") { printf (x + 0 >= 100 ? "%.0f %s" : x + 0 >= 10 ? "%.1f %s" : "%.2f %s"), x, (u == "s" ? "s" : "ms"); exit }
    s = sprintf("%.0f", x); out = ""
    while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
    printf "%s%s/s", s, out }'
}
fmt_goal() { case $1 in ">= "*) echo "≥ ${1#>= }" ;; "<= "*) echo "≤ ${1#<= }" ;; *) echo "$1" ;; esac; }
fmt_ratio() { awk -v r="$1" 'BEGIN { if (r == "ERR" || r == "n/a") print r; else if (r + 0 >= 10) printf "%.1f", r; else printf "%.2f", r }'; }

{
  printf 'case\tfigure\tlabel\tours\tbaseline\tunit\tratio\tgoal\tmet\n'
  awk -F'\t' -v OFS='\t' '{ print $1, $3, $2, $4, $5, $6, $7, $8, $9 }' "$TSV"
} >"$OUT/latest.tsv"

MACHINE="$(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) memory"
{
  echo "# drivetribe benchmark results"
  echo
  echo "- command: \`$COMMAND\`$([ $SMOKE = 1 ] && echo " (smoke run: not numbers)")"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), $ELAPSED s in all"
  echo "- machine: $MACHINE; load average $LOAD_BEFORE before, $LOAD_AFTER after (other work on the machine shows in the numbers)"
  echo "- PostgreSQL $PGVERSION, durable commits (fsync on, synchronous_commit on), shared_buffers $SHARED_BUFFERS; drivetribe $EXTVERSION (drivetribe.so md5 $SO_BEFORE)"
  echo "- pgbench -n -j 2, $RUN_LABEL, a CHECKPOINT before each run; -M simple unless the figure says otherwise; calls/s = transactions/s x calls per transaction"
  echo "- every ratio is ours / baseline (for page latencies: baseline / ours, the speedup); goals from issues 9, 10, 21 and 22"
  echo
  echo "| figure | ours | baseline | ratio | goal | met? |"
  echo "|---|---:|---:|---:|:---:|:---:|"
  while IFS=$'\t' read -r case label figure ours base unit ratio goal met; do
    echo "| $figure | $(fmt "$ours" "$unit") | $(fmt "$base" "$unit") | $(fmt_ratio "$ratio") | $(fmt_goal "$goal") | $met |"
  done <"$TSV"
  echo
  if [ -s "$NOTES" ]; then
    echo "Notes:"
    echo
    sed 's/^/- /' "$NOTES"
    echo
  fi
  echo "![ratio per figure against its goal](latest.png)"
  echo
  echo "Cases (test/bench/run.sh --help has the details):"
  echo
  echo "- hot key vs spread: the same call on one key (article 1, user 1 as followee, tribe 1) vs spread uniformly over $N keys, random acting user; pairs (bump+unbump, follow+unfollow, join+leave) are two transactions, one per call"
  echo "- view spread vs bare INSERT: the event row view_article appends, inserted by hand into a plain table with a primary key on seq and a unique event_id: the physical ceiling of an append"
  echo "- card read: \`SELECT * FROM drivetribe.article(:id)\` vs \`SELECT * FROM cards WHERE article_id = :id\` on a plain table of precomputed card rows, ids random_zipfian(1, $N, 1.08)"
  echo "- vote: 95% card reads and 5% bumps with the same Zipf ids; the baseline computes the card at read time (joins and count() of views, comments and bumps) over plain normalised tables holding the same $PRIOR_VIEWS prior views (Zipf-distributed like the reads; informative row: evenly spread), and a bump is INSERT ... ON CONFLICT DO NOTHING"
  echo "- C vs PL/pgSQL: test/bench/plpgsql_dt.sql, the same validation, log and projections as PL/pgSQL functions and an AFTER INSERT row trigger"
  echo "- rebuild: test/bench/gen_log.sql writes a consistent log set-based; rebuild() runs on emptied projections; the baseline is test/bench/recompute.sql (INSERT ... SELECT ... GROUP BY into copies of the projection tables), checked equal to drivetribe's read API"
  echo "- projections: examples/trending/trending.sql registered as a projection; its backfill (create_projection over the rebuild case's generated log) vs test/bench/trending_sql.sql (one INSERT ... SELECT ... GROUP BY into copies of its tables), checked equal; the longest view_article call (8 clients) overlapping a backfill, from pgbench's per-transaction log; view_article spread in a database of the same world with trending none, inline, async (interleaved rounds); the async lag from occurred_at (the writer's transaction start) to a second async projection's handler (zz_lag_probe, after trending in each worker round) at 2,000 calls/s"
  echo "- online_update, online_rebuild (issue 22, writers during a command): 16 pgbench clients, one write API call per transaction (70% view_article, 8% bump, 4% unbump, 10% post_comment, 5% follow_user, 3% unfollow_user, spread over the generated log's live articles and users), pgbench's per-transaction log; a baseline window, then the command in a session of its own; calls/s = calls that ended while it ran per second of it, vs the baseline window's; the longest call that overlapped it vs 1 s; the update: ALTER EXTENSION drivetribe UPDATE on a log generated at the older version (its wall time also on a copy with no load); the rebuild: rebuild() (today's, informative) and rebuild(concurrently => true) when it exists (n/a otherwise), and both with no load"
  echo "- rename: rename_user of an author of $PROLIFIC_ARTICLES articles and $PROLIFIC_COMMENTS comments vs of a new author, 1 client, alternating two names"
  echo "- decode: three slots (drivetribe; wal2json with format-version 2, add-tables drivetribe.events, include-transaction false; test_decoding with skip-empty-xacts) created before one workload of API calls, each then read with pg_logical_slot_peek_changes (best of 3, so all three decode exactly the same WAL); events/s counts event objects"
  echo "- feeds: test/bench/gen_feeds.sql generates the world (sizes in the notes); a page is \`SELECT * FROM drivetribe.feed(:r, 20)\` for a random reader of the kind; the baseline computes the same 20 cards at read time over plain normalised tables (the reader's tribes and followees by IN, each article's views, comments and bumps by count(), SPEC's score, ORDER BY ... LIMIT 20); latencies from pgbench's per-transaction log; posts, joins and follows are time per call, 8 clients, big key vs small key"
} >"$OUT/latest.md"

# the table on the terminal
echo
awk -F'\t' '{ printf "%-36s %14s %14s %8s %7s %s\n", $2, $4, $5, $7, $8, $9 }' \
  <(printf 'x\tfigure\tf\tours\tbaseline\tu\tratio\tgoal\tmet?\n'; cat "$TSV") | tee -a "$LOG"
echo
sed 's/^/  - /' "$NOTES" | tee -a "$LOG"

# ------------------------------------------------------------------ chart
if [ $HAVE_GNUPLOT = 1 ] && [ -s "$TSV" ]; then
  # idx label ratio goal color: green met, red not met, grey informative or error
  awk -F'\t' -v OFS='\t' '{
      goal = ($8 == "-") ? "NaN" : substr($8, 4)
      color = ($9 == "yes") ? 3381555 : ($9 == "no") ? 14235942 : 10066329
      ratio = ($7 == "ERR" || $7 == "n/a") ? "NaN" : $7
      label = $2 (($9 ~ /^n\/a/) ? " (n/a)" : ($8 == "-") ? " (info)" : " (" $8 ")")
      print NR, "\"" label "\"", ratio, goal, color }' "$TSV" >"$WORK/chart.dat"
  nfig=$(wc -l <"$WORK/chart.dat")
  yr=$(awk -F'\t' '{ for (i = 3; i <= 4; i++) if ($i != "NaN") { if (min == "" || $i < min) min = $i; if ($i > max) max = $i } }
                   END { lo = 0.05; if (min != "" && min / 2 < lo) lo = min / 2; hi = (max == "" ? 10 : max * 2.5); printf "%g:%g", lo, hi }' "$WORK/chart.dat")
  cat >"$WORK/chart.gp" <<GP
set terminal pngcairo size $((500 + 70 * nfig)),900 font "DejaVu Sans,10"
set output '$OUT/latest.png'
set title "drivetribe benchmark ($(date -u '+%Y-%m-%d'), $(nproc) CPUs, PostgreSQL $PGVERSION$([ $SMOKE = 1 ] && echo ', SMOKE RUN: not numbers'))\nbar = ratio (log scale; ours/baseline, or the speedup for page latencies), black line = goal; green: met, red: not met, grey: informative" font ",12"
set logscale y
set termoption noenhanced
set yrange [$yr]
set ylabel "ratio"
set grid ytics
set style fill solid 0.85 border rgb "black"
set boxwidth 0.7
set xrange [0.3:$nfig + 0.7]
set xtics rotate by 45 right nomirror font ",9"
set bmargin 14
set lmargin 26
set datafile missing "NaN"
set key off
plot '$WORK/chart.dat' using 1:3:5:xtic(2) with boxes lc rgb variable, \
     '' using (\$1 - 0.45):4:(0.9):(0) with vectors nohead lw 3 lc rgb "black", \
     '' using 1:((\$4 == \$4 && \$4 > \$3) ? \$4 : \$3):(sprintf("%.2f", \$3)) with labels offset 0,0.8 font ",9"
GP
  if ! gnuplot "$WORK/chart.gp" >>"$LOG" 2>&1; then
    say "gnuplot failed (see $LOG)"; ERRORS=$((ERRORS + 1))
  fi
else
  say "no chart: gnuplot is not available"; ERRORS=$((ERRORS + 1))
fi

say "bench: $ELAPSED s; results in $OUT/latest.md, latest.tsv, latest.png, latest.log"
[ $ERRORS -eq 0 ] || { say "bench: $ERRORS errors (a run failed, verify() found differences, or no chart)"; exit 1; }
exit 0
