#!/usr/bin/env bash
# Replay memory (issue 8 item 4): how much memory verify() and rebuild()
# take, against the size of the log and of its text.  One run, one durable
# throwaway cluster (fsync and synchronous_commit on, shared_buffers at
# its default), three databases:
#   log       a generated community log of EVENTS events (default 10M),
#             inserted set-based into drivetribe.events by its owner (every
#             row passes the events_valid check); rebuild() then creates
#             the projections from the log alone, and verify() checks them
#   retitles  one article retitled RETITLES times (default 500,000) with
#             300-character titles
#   comments  COMMENTS comments (default 60,000) of 10,000 characters
# For each rebuild() and verify() it reports the extension's own figure
# (DEBUG1 "drivetribe replay: ... replay memory X bytes": the replay's hash
# tables), the backend's peak resident set (VmHWM of /proc/PID/status, which
# includes the shared buffers the backend touched, at most shared_buffers)
# and the peak of its private memory (RssAnon, sampled every 50 ms), next to
# an idle backend's, and the time taken.  Prints a table and writes it to
# test/bench/results/replay_memory.txt (replay_memory-EVENTS.txt for other
# sizes, so that a smoke run does not overwrite the full figures).
#
#   bash test/bench/replay_memory.sh [EVENTS [RETITLES [COMMENTS]]]
#     EVENTS    events of the generated log (default 10000000)
#     RETITLES  default 500000 for 10M events, scaled with EVENTS otherwise
#     COMMENTS  default 60000 for 10M events, scaled with EVENTS otherwise
#   bash test/bench/replay_memory.sh 100000     # smoke run, well under a minute
#   env: DT_BENCH_PORT (default 54319)
#
# A benchmark, not a test: scripts/test.sh does not run it.  Needs the
# extension installed (bash scripts/build.sh) and /proc of the server's
# backends readable (root, or the cluster's own user).
#
# The generated log: users register before they act, tribes and articles
# exist before anything refers to them, a pair is bumped, joined or
# followed only when it is not, undone only when it is, titles and names
# change only to new values, and articles are deleted at the end of the
# log with the bumps they had at that moment.  Mix (of EVENTS): views 59%,
# bumps 15%, comments 8%, articles 5%, joins 5%, follows 4%, users 1%,
# unbumps 1.5%, leaves and unfollows 0.5% each, deleted comments 0.4%,
# article edits 0.3%, user renames 0.2%, deleted articles 0.1%, tribes
# 0.01% and some of them renamed.  Popularity is skewed (low ids are hot);
# half the engagement goes to recent articles.  event_ids are time-ordered
# (UUIDv7-like), occurred_at advances 3 s per event; an event's context
# carries the display names as first registered (the replay never reads
# them; only article_deleted's bumps).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$(pwd)
. scripts/cluster.sh

events=${1:-10000000}
retitles=${2:-$((500000 * events / 10000000))}
comments=${3:-$((60000 * events / 10000000))}
for v in "$events" "$retitles" "$comments"; do
  case $v in ''|*[!0-9]*) echo "usage: $0 [EVENTS [RETITLES [COMMENTS]]]" >&2; exit 2 ;; esac
done
[ "$events" -ge 10000 ] || { echo "replay_memory: EVENTS must be at least 10000" >&2; exit 2; }
[ "$retitles" -ge 1 ] || retitles=1
[ "$comments" -ge 1 ] || comments=1
if [ "$events" = 10000000 ] && [ "$retitles" = 500000 ] && [ "$comments" = 60000 ]; then
  results=$root/test/bench/results/replay_memory.txt
else
  results=$root/test/bench/results/replay_memory-$events.txt
fi

T0=$SECONDS
# another tree's `make install` replaces the library for every cluster of
# the machine: note which one ran, and whether it changed during the run
lib=$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)/drivetribe.so
lib_md5() { md5sum "$lib" 2>/dev/null | cut -c1-12; }
lib0=$(lib_md5)
lib0_at=$(date -u -r "$lib" '+%Y-%m-%d %H:%M UTC')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
DT_PG_CONF="max_wal_size = 16GB
checkpoint_timeout = 30min" dt_cluster_temp "${DT_BENCH_PORT:-54319}" postgres durable >/dev/null
work=$(mktemp -d)
sampler=
cleanup() {
  [ -z "$sampler" ] || kill "$sampler" 2>/dev/null || true
  rm -rf "$work"
  dt__cleanup_temp
}
trap cleanup EXIT

say() { printf '%s\n' "$*"; }
elapsed() { awk -v s="$1" 'BEGIN {printf "%.1f", s}'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }
sql() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

say "replay_memory: $events events, $retitles retitles, $comments comments;" \
    "cluster $PGHOST port $PGPORT ($(sql -d postgres -c "SELECT current_setting('server_version') || ', shared_buffers ' || current_setting('shared_buffers')"))"

# ------------------------------------------------------------ measuring
# measure DB LABEL SQL: run SQL in a fresh session and record its time,
# the backend's VmHWM/RssAnon before and after, the peak RssAnon sampled
# while it ran, and the extension's DEBUG1 lines.  Appends a row to
# $work/rows: label|events|projection rows|replay MB|VmHWM MB|RssAnon peak MB|time s|note
measure() {
  local db=$1 label=$2 call=$3 m=$work/m.$RANDOM
  mkdir -p "$m"
  lib_md5 >>"$work/libs"
  # sample RssAnon of the backend while the call runs
  (
    while [ ! -s "$m/pid" ] && [ ! -e "$m/stop" ]; do sleep 0.02; done
    pid=$(cat "$m/pid" 2>/dev/null || echo 0); max=0
    while [ ! -e "$m/stop" ] && [ -r "/proc/$pid/status" ]; do
      v=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      [ "${v:-0}" -gt "$max" ] && max=$v
      sleep 0.05
    done
    echo "$max" >"$m/anon_peak"
  ) &
  sampler=$!
  psql -X -q -v ON_ERROR_STOP=1 -d "$db" >"$m/out" 2>"$m/err" <<SQL || { cat "$m/err" >&2; touch "$m/stop"; return 1; }
\pset tuples_only on
\pset format unaligned
SELECT pg_backend_pid() AS pid \gset
\setenv DT_BENCH_PID :pid
\! echo \$DT_BENCH_PID >$m/pid.tmp && mv $m/pid.tmp $m/pid
\! grep -E '^(VmHWM|VmRSS|RssAnon|RssFile|RssShmem):' /proc/\$DT_BENCH_PID/status >$m/before
SET client_min_messages = debug1;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
\o $m/result
$call;
\o
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 2) AS secs \gset
\! grep -E '^(VmHWM|VmRSS|RssAnon|RssFile|RssShmem):' /proc/\$DT_BENCH_PID/status >$m/after
\echo :secs
SQL
  touch "$m/stop"
  wait "$sampler" || true
  sampler=
  local secs hwm anon base_hwm base_anon replay_line replay_bytes nevents prows note result
  secs=$(tail -n 1 "$m/out")
  result=$(tr -d ' \n' <"$m/result")
  hwm=$(awk '/^VmHWM:/ {print $2}' "$m/after")
  anon=$(cat "$m/anon_peak")
  base_hwm=$(awk '/^VmHWM:/ {print $2}' "$m/before")
  base_anon=$(awk '/^RssAnon:/ {print $2}' "$m/before")
  replay_line=$(grep -m1 'drivetribe replay:' "$m/err" || true)
  replay_bytes=$(sed -n 's/.*replay memory \([0-9]*\) bytes.*/\1/p' <<<"$replay_line")
  nevents=$(sed -n 's/.*drivetribe replay: \([0-9]*\) events.*/\1/p' <<<"$replay_line")
  # projection rows: the sum of the counts the replay line names
  prows=$(sed -n 's/.* events into \(.*\); replay memory.*/\1/p' <<<"$replay_line" |
          tr ',' '\n' | awk '{s += $1} END {print s + 0}')
  note=$(grep -m1 -o 'drivetribe rebuild: .*' "$m/err" || true)
  [ -n "$note" ] || note="result $result"
  printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$label" "${nevents:-?}" "${prows:-?}" \
    "$(awk -v b="${replay_bytes:-0}" 'BEGIN {printf "%.1f", b / 1048576}')" \
    "$(awk -v k="$hwm" 'BEGIN {printf "%.0f", k / 1024}')" \
    "$(awk -v k="$anon" 'BEGIN {printf "%.0f", k / 1024}')" \
    "$secs" "$note" \
    "$(awk -v k="$base_hwm" 'BEGIN {printf "%.0f", k / 1024}')" \
    "$(awk -v k="$base_anon" 'BEGIN {printf "%.0f", k / 1024}')" "${replay_bytes:-0}" >>"$work/rows"
  say "  $label: $(tail -n 1 "$work/rows" | awk -F'|' '{printf "replay %s MB, VmHWM %s MB, RssAnon peak %s MB, %s s (%s)", $4, $5, $6, $7, $8}')"
  [ -n "$replay_line" ] || { say "  (no DEBUG1 replay line from $label:)"; sed 's/^/  | /' "$m/err" | tail -n 5; }
  case $label in *verify*) echo "$label ${replay_line#*drivetribe replay: }" >>"$work/replay_lines" ;; esac
  LAST_RESULT=$result
}

# an idle backend: connected, one query run, nothing of the extension loaded
idle_backend() {
  local m=$work/idle
  mkdir -p "$m"
  psql -X -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<SQL
SELECT pg_backend_pid() AS pid \gset
\setenv DT_BENCH_PID :pid
SELECT 1;
\! grep -E '^(VmHWM|VmRSS|RssAnon|RssFile|RssShmem):' /proc/\$DT_BENCH_PID/status >$m/status
SQL
  IDLE_HWM=$(awk '/^VmHWM:/ {printf "%.0f", $2 / 1024}' "$m/status")
  IDLE_ANON=$(awk '/^RssAnon:/ {printf "%.0f", $2 / 1024}' "$m/status")
}

# ------------------------------------------------------------ generator
# schema bench in a database: helper tables and gen_chunk(), dropped after
# the load.  Every choice is a hash of (index, stream): the same EVENTS give
# the same log.
create_generator() {
  sql -d "$1" >/dev/null <<'SQL'
CREATE SCHEMA bench;
CREATE FUNCTION bench.rnd(i bigint, stream int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT ((hashint8extended(i, stream::bigint) >> 11) & 9007199254740991)::float8 / 9007199254740992.0 $$;
-- an id in 1..n, skewed towards 1 when skew > 1
CREATE FUNCTION bench.pick(n bigint, u float8, skew float8) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT least(n, 1 + floor(n * power(u, skew))::bigint) $$;
CREATE FUNCTION bench.word(i bigint, stream int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (ARRAY['the','a','my','new','old','fast','slow','red','blue','classic','turbo','diesel',
                'manual','rally','track','road','trip','engine','gearbox','brakes','tyres','paint',
                'rust','restoration','garage','weekend','winter','summer','coupe','estate','hatch',
                'V8','V12','flat-six','straight-six','rotary','hybrid','electric','boost','grip',
                'understeer','oversteer','apex','lap','mile','service','MOT','auction','barn find',
                'concours','drift','launch','torque','redline','clutch','exhaust','turbo lag'])
         [1 + floor(bench.rnd(i, stream) * 57)::int] $$;
-- text of about len characters, words chosen by (i, stream)
CREATE FUNCTION bench.prose(i bigint, stream int, len int) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT left(initcap(string_agg(bench.word(i * 64 + w, stream), ' ' ORDER BY w)), len)
    FROM generate_series(1, greatest(1, len / 5)) w $$;
-- time-ordered event_id (UUIDv7 layout: 48-bit milliseconds, then random)
CREATE FUNCTION bench.event_id(seq bigint, at timestamptz) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (substr(ms, 1, 8) || '-' || substr(ms, 9, 4) || '-7' || substr(h, 1, 3) || '-' ||
          substr('89ab', 1 + (seq % 4)::int, 1) || substr(h, 4, 3) || '-' || substr(h, 7, 12))::uuid
    FROM (SELECT lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') AS ms,
                 md5(seq::text) AS h) x $$;
CREATE FUNCTION bench.at(seq bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT '2024-01-01 00:00:00+00'::timestamptz + seq * interval '3 seconds' $$;

-- 4,096 sentences of about 320 characters: titles and comment bodies are
-- their beginnings
CREATE UNLOGGED TABLE bench.sentences (id int PRIMARY KEY, s text NOT NULL);
INSERT INTO bench.sentences SELECT i, bench.prose(i, 9, 320) FROM generate_series(0, 4095) i;
CREATE UNLOGGED TABLE bench.params (n bigint, users bigint, tribes bigint, articles bigint, chunks int);
CREATE UNLOGGED TABLE bench.users (user_id bigint PRIMARY KEY, name text NOT NULL);
CREATE UNLOGGED TABLE bench.tribes (tribe_id bigint PRIMARY KEY, owner_id bigint NOT NULL, name text NOT NULL);
CREATE UNLOGGED TABLE bench.articles (article_id bigint PRIMARY KEY, author_id bigint NOT NULL,
                                      tribe_id bigint NOT NULL, title text NOT NULL);
CREATE UNLOGGED TABLE bench.bumps (article_id bigint, user_id bigint, slot bigint NOT NULL,
                                   unbumped boolean NOT NULL DEFAULT false,
                                   PRIMARY KEY (article_id, user_id));
-- one chunk of events before they get their seq: ordered by (phase, idx, kind)
CREATE UNLOGGED TABLE bench.stage (phase int NOT NULL, idx bigint NOT NULL, kind text NOT NULL,
    user_id bigint, tribe_id bigint, article_id bigint, comment_id bigint, target_id bigint,
    recipient_id bigint, body text, context jsonb NOT NULL);

-- move a chunk's staged events into the log, seq after the last one
CREATE FUNCTION bench.flush() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  base bigint := coalesce((SELECT max(seq) FROM drivetribe.events), 0);
  n bigint;
BEGIN
  INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id,
                                 comment_id, target_id, recipient_id, body, context)
  SELECT s.seq, bench.event_id(s.seq, bench.at(s.seq)), s.kind, bench.at(s.seq), s.user_id, s.tribe_id,
         s.article_id, s.comment_id, s.target_id, s.recipient_id, s.body, s.context
    FROM (SELECT base + row_number() OVER (ORDER BY phase, idx, kind) AS seq, * FROM bench.stage) s
   ORDER BY s.seq;
  GET DIAGNOSTICS n = ROW_COUNT;
  TRUNCATE bench.stage;
  RETURN n;
END $$;

-- the sizes of a community log of n events, and its users, tribes, articles
CREATE FUNCTION bench.setup(n bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  nu bigint := greatest(100, n / 100);
  nt bigint := greatest(5, n / 10000);
  na bigint := greatest(50, n * 5 / 100);
  nc int := greatest(1, n / 250000)::int;
BEGIN
  INSERT INTO bench.params VALUES (n, nu, nt, na, nc);
  INSERT INTO bench.users
  SELECT u, initcap(bench.word(u, 1)) || ' ' || initcap(bench.word(u, 2)) || ' ' || u
    FROM generate_series(1, nu) u;
  -- tribe t is owned by user t (registered no later than the tribe)
  INSERT INTO bench.tribes
  SELECT t, t, initcap(bench.word(t, 3)) || ' ' || initcap(bench.word(t, 4)) || ' Club ' || t
    FROM generate_series(1, nt) t;
  -- an article's author and tribe exist by the chunk that posts it
  INSERT INTO bench.articles
  SELECT a, bench.pick(nu * (c + 1) / nc, bench.rnd(a, 5), 2.0),
         bench.pick(nt * (c + 1) / nc, bench.rnd(a, 6), 1.5),
         btrim(left(s.s, 30 + floor(bench.rnd(a, 8) * 60)::int))
    FROM generate_series(1, na) a
    JOIN bench.sentences s ON s.id = floor(bench.rnd(a, 7) * 4096)::int,
         LATERAL (SELECT ((a - 1) * nc / na)::int AS c) x;
  ANALYZE bench.users, bench.tribes, bench.articles;
END $$;

CREATE FUNCTION bench.gen_chunk(c int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  p bench.params;
  u_lo bigint; u_hi bigint; t_lo bigint; t_hi bigint; a_lo bigint; a_hi bigint;
  per bigint; slots bigint; s_lo bigint; s_hi bigint; renames bigint; edits bigint;
BEGIN
  SELECT * INTO p FROM bench.params;
  u_lo := p.users * c / p.chunks + 1;    u_hi := p.users * (c + 1) / p.chunks;
  t_lo := p.tribes * c / p.chunks + 1;   t_hi := p.tribes * (c + 1) / p.chunks;
  a_lo := p.articles * c / p.chunks + 1; a_hi := p.articles * (c + 1) / p.chunks;
  per := p.n / p.chunks;
  -- engagement slots: views 59%, bump attempts 15.5%, comments 8% of the events
  slots := per * 825 / 1000;
  s_lo := slots * c + 1; s_hi := slots * (c + 1);
  renames := greatest(1, per * 2 / 1000);
  edits := greatest(1, per * 3 / 1000);

  -- 1 users register
  INSERT INTO bench.stage
  SELECT 1, u.user_id, 'user_registered', u.user_id, NULL, NULL, NULL, NULL, NULL, u.name,
         jsonb_build_object('user_name', u.name)
    FROM bench.users u WHERE u.user_id BETWEEN u_lo AND u_hi;
  -- 2 tribes are created (the owner becomes a member)
  INSERT INTO bench.stage
  SELECT 2, t.tribe_id, 'tribe_created', t.owner_id, t.tribe_id, NULL, NULL, NULL, NULL, t.name,
         jsonb_build_object('user_name', u.name, 'tribe_name', t.name)
    FROM bench.tribes t JOIN bench.users u ON u.user_id = t.owner_id
   WHERE t.tribe_id BETWEEN t_lo AND t_hi;
  -- 3 each new user joins up to 10 distinct tribes (a run from a skewed start),
  --   never one they own
  INSERT INTO bench.stage
  SELECT 3, u.user_id * 16 + i, 'tribe_joined', u.user_id, t.tribe_id, NULL, NULL, t.owner_id, t.owner_id,
         NULL, jsonb_build_object('user_name', u.name, 'tribe_name', t.name)
    FROM bench.users u,
         LATERAL generate_series(0, least(t_hi, floor(bench.rnd(u.user_id, 10) * 11)::bigint) - 1) i,
         LATERAL (SELECT 1 + (bench.pick(t_hi, bench.rnd(u.user_id, 11), 1.5) - 1 + i) % t_hi AS tid) x
    JOIN bench.tribes t ON t.tribe_id = x.tid
   WHERE u.user_id BETWEEN u_lo AND u_hi AND t.owner_id <> u.user_id;
  -- 4 each new user follows up to 8 distinct others, popular ones first
  INSERT INTO bench.stage
  SELECT 4, u.user_id * 16 + i, 'user_followed', u.user_id, NULL, NULL, NULL, f.user_id, f.user_id,
         NULL, jsonb_build_object('user_name', u.name, 'target_name', f.name)
    FROM bench.users u,
         LATERAL generate_series(0, least(u_hi - 1, floor(bench.rnd(u.user_id, 12) * 9)::bigint) - 1) i,
         LATERAL (SELECT 1 + (bench.pick(u_hi, bench.rnd(u.user_id, 13), 2.5) - 1 + i) % u_hi AS fid) x
    JOIN bench.users f ON f.user_id = x.fid
   WHERE u.user_id BETWEEN u_lo AND u_hi AND f.user_id <> u.user_id;
  -- 5 articles are posted
  INSERT INTO bench.stage
  SELECT 5, a.article_id, 'article_posted', a.author_id, a.tribe_id, a.article_id, NULL, NULL, NULL,
         a.title, jsonb_build_object('title', a.title, 'user_name', u.name, 'tribe_name', t.name)
    FROM bench.articles a JOIN bench.users u ON u.user_id = a.author_id
    JOIN bench.tribes t ON t.tribe_id = a.tribe_id
   WHERE a.article_id BETWEEN a_lo AND a_hi;
  -- 6 engagement, interleaved by slot: half on hot articles (low ids), half
  --   on this chunk's; views 30% anonymous
  CREATE TEMP TABLE eng ON COMMIT DROP AS
  SELECT g AS slot,
         CASE WHEN r < 0.59 / 0.825 THEN 'v' WHEN r < 0.745 / 0.825 THEN 'b' ELSE 'c' END AS k,
         CASE WHEN bench.rnd(g, 21) < 0.5 THEN bench.pick(a_hi, bench.rnd(g, 22), 2.0)
              ELSE a_lo + floor(bench.rnd(g, 22) * (a_hi - a_lo + 1))::bigint END AS article_id,
         bench.pick(u_hi, bench.rnd(g, 23), 1.3) AS user_id,
         bench.rnd(g, 24) AS r2
    FROM generate_series(s_lo, s_hi) g, LATERAL (SELECT bench.rnd(g, 20) AS r) x;
  INSERT INTO bench.stage
  SELECT 6, e.slot, 'article_viewed', CASE WHEN e.r2 >= 0.3 THEN e.user_id END, a.tribe_id, a.article_id,
         NULL, a.author_id, NULL, NULL,
         CASE WHEN e.r2 >= 0.3 THEN jsonb_build_object('user_name', u.name) ELSE '{}' END
    FROM eng e JOIN bench.articles a USING (article_id) JOIN bench.users u ON u.user_id = e.user_id
   WHERE e.k = 'v';
  INSERT INTO bench.stage
  SELECT 6, e.slot, 'comment_posted', e.user_id, a.tribe_id, a.article_id, e.slot, a.author_id, a.author_id,
         btrim(left(s.s, 20 + floor(e.r2 * 280)::int)),
         jsonb_build_object('title', a.title, 'user_name', u.name)
    FROM eng e JOIN bench.articles a USING (article_id) JOIN bench.users u ON u.user_id = e.user_id
    JOIN bench.sentences s ON s.id = floor(bench.rnd(e.slot, 25) * 4096)::int
   WHERE e.k = 'c';
  -- a pair is bumped once (a pair seen before, in any chunk, is skipped)
  WITH ins AS (
    INSERT INTO bench.bumps (article_id, user_id, slot)
    SELECT e.article_id, e.user_id, e.slot FROM eng e WHERE e.k = 'b' ORDER BY e.slot
    ON CONFLICT DO NOTHING RETURNING *)
  INSERT INTO bench.stage
  SELECT 6, i.slot, 'article_bumped', i.user_id, a.tribe_id, a.article_id, NULL, a.author_id, a.author_id,
         NULL, jsonb_build_object('title', a.title, 'user_name', u.name)
    FROM ins i JOIN bench.articles a USING (article_id) JOIN bench.users u ON u.user_id = i.user_id;
  -- 7 moderation, after the chunk's engagement
  --   a tenth of the chunk's bumps are taken back
  WITH upd AS (
    UPDATE bench.bumps b SET unbumped = true
     WHERE b.slot BETWEEN s_lo AND s_hi AND bench.rnd(b.slot, 30) < 0.10 RETURNING b.*)
  INSERT INTO bench.stage
  SELECT 7, x.slot, 'article_unbumped', x.user_id, a.tribe_id, a.article_id, NULL, a.author_id, NULL,
         NULL, jsonb_build_object('title', a.title, 'user_name', u.name)
    FROM upd x JOIN bench.articles a USING (article_id) JOIN bench.users u ON u.user_id = x.user_id;
  --   a tenth of the chunk's joins and follows are undone
  INSERT INTO bench.stage
  SELECT 7, s.idx, CASE s.kind WHEN 'tribe_joined' THEN 'tribe_left' ELSE 'user_unfollowed' END,
         s.user_id, s.tribe_id, NULL, NULL, s.target_id, NULL, NULL, s.context
    FROM bench.stage s
   WHERE s.phase IN (3, 4) AND bench.rnd(s.idx, 31 + s.phase) < 0.10;
  --   a twentieth of the chunk's comments are deleted
  INSERT INTO bench.stage
  SELECT 7, s.idx, 'comment_deleted', s.user_id, s.tribe_id, s.article_id, s.comment_id, s.target_id, NULL,
         NULL, jsonb_build_object('title', s.context ->> 'title')
    FROM bench.stage s
   WHERE s.phase = 6 AND s.kind = 'comment_posted' AND bench.rnd(s.idx, 35) < 0.05;
  --   renames and edits, each to a value never used before
  INSERT INTO bench.stage
  SELECT 7, j, 'user_renamed', u.user_id, NULL, NULL, NULL, NULL, NULL, x.name,
         jsonb_build_object('user_name', x.name)
    FROM generate_series(1, renames) j,
         LATERAL (SELECT bench.pick(u_hi, bench.rnd(c * 1000000 + j, 36), 1.5) AS uid) y
    JOIN bench.users u ON u.user_id = y.uid,
         LATERAL (SELECT u.name || ' (' || c || '.' || j || ')' AS name) x;
  INSERT INTO bench.stage
  SELECT 7, j, 'article_edited', a.author_id, a.tribe_id, a.article_id, NULL, NULL, NULL, x.title,
         jsonb_build_object('title', x.title)
    FROM generate_series(1, edits) j,
         LATERAL (SELECT bench.pick(a_hi, bench.rnd(c * 1000000 + j, 37), 2.0) AS aid) y
    JOIN bench.articles a ON a.article_id = y.aid,
         LATERAL (SELECT left(a.title, 250) || ' (update ' || c || '.' || j || ')' AS title) x;
  INSERT INTO bench.stage
  SELECT 7, t.tribe_id, 'tribe_renamed', NULL, t.tribe_id, NULL, NULL, t.owner_id, NULL, x.name,
         jsonb_build_object('tribe_name', x.name)
    FROM bench.tribes t, LATERAL (SELECT 'The ' || t.name AS name) x
   WHERE t.tribe_id BETWEEN t_lo AND t_hi AND t.tribe_id % 5 = 0;
  RETURN bench.flush();
END $$;

-- the end of the log: 2% of the articles (never the hottest 1%) are
-- deleted, each with the bumps it has then
CREATE FUNCTION bench.gen_deletes() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  p bench.params;
BEGIN
  SELECT * INTO p FROM bench.params;
  INSERT INTO bench.stage
  SELECT 8, a.article_id, 'article_deleted', a.author_id, a.tribe_id, a.article_id, NULL, NULL, NULL, NULL,
         jsonb_build_object('title', a.title,
                            'bumps', (SELECT count(*) FROM bench.bumps b
                                       WHERE b.article_id = a.article_id AND NOT b.unbumped))
    FROM bench.articles a
   WHERE a.article_id > greatest(1, p.articles / 100) AND bench.rnd(a.article_id, 40) < 0.02;
  RETURN bench.flush();
END $$;
SQL
}

# ------------------------------------------------------------ 1. the log
say "log: generating $events events"
createdb log
sql -d log -c "CREATE EXTENSION drivetribe" >/dev/null
create_generator log
t=$(now)
sql -d log -c "SELECT bench.setup($events)" >/dev/null
chunks=$(sql -d log -c "SELECT chunks FROM bench.params")
say "  users, tribes, articles prepared: $(since "$t") s; $chunks chunks"
tgen=$(now)
for ((c = 0; c < chunks; c++)); do
  t=$(now)
  n=$(sql -d log -c "SET work_mem = '256MB'" -c "SELECT bench.gen_chunk($c)")
  total=$(sql -d log -c "SELECT max(seq) FROM drivetribe.events")
  say "  chunk $((c + 1))/$chunks: $n events in $(since "$t") s (log at $total)"
done
n=$(sql -d log -c "SELECT bench.gen_deletes()")
sql -d log -c "SELECT setval('drivetribe.event_seq', (SELECT max(seq) FROM drivetribe.events))" >/dev/null
gen_secs=$(since "$tgen")
log_events=$(sql -d log -c "SELECT count(*) FROM drivetribe.events")
say "  $n articles deleted; $log_events events generated in $gen_secs s"
sql -d log -c "DROP SCHEMA bench CASCADE" >/dev/null 2>&1
t=$(now)
sql -d log -c "VACUUM (ANALYZE) drivetribe.events"
vac_secs=$(since "$t")
mix=$(sql -d log -c "SELECT string_agg(format('%s %s', kind, n), ', ' ORDER BY n DESC)
                       FROM (SELECT kind, count(*) AS n FROM drivetribe.events GROUP BY kind) k")
log_size=$(sql -d log -c "SELECT pg_size_pretty(pg_total_relation_size('drivetribe.events'))")
say "  VACUUM ANALYZE: $vac_secs s; drivetribe.events $log_size with indexes"
say "  mix: $mix"

idle_backend
say "idle backend: VmHWM $IDLE_HWM MB, RssAnon $IDLE_ANON MB"

say "log: rebuild() from empty projections"
measure log "log: rebuild()" "SELECT drivetribe.rebuild()"
[ "$LAST_RESULT" = "$log_events" ] || { say "rebuild() returned '$LAST_RESULT', expected $log_events"; exit 1; }
rebuild_rate=$(tail -n 1 "$work/rows" | awk -F'|' '{printf "%.0f", $2 / $7}')
say "log: verify()"
measure log "log: verify()" "SELECT count(*) FROM drivetribe.verify()"
[ "$LAST_RESULT" = 0 ] || { say "verify() found $LAST_RESULT differences"; sql -d log -c "SELECT * FROM drivetribe.verify() LIMIT 10"; exit 1; }
say "log: rebuild() again, of consistent projections"
measure log "log: rebuild() again" "SELECT drivetribe.rebuild()"
# a few sums the projections must have, counted from the log independently
check=$(sql -d log -c "SELECT (SELECT sum(views) FROM drivetribe.articles) = count(*) FILTER (WHERE kind = 'article_viewed')
                          AND (SELECT count(*) FROM drivetribe.bumps) = count(*) FILTER (WHERE kind = 'article_bumped')
                                                                      - count(*) FILTER (WHERE kind = 'article_unbumped')
                          AND (SELECT count(*) FROM drivetribe.articles WHERE deleted) = count(*) FILTER (WHERE kind = 'article_deleted')
                          AND (SELECT sum(comments) FROM drivetribe.users) = count(*) FILTER (WHERE kind = 'comment_posted')
                                                                           - count(*) FILTER (WHERE kind = 'comment_deleted')
                         FROM drivetribe.events")
[ "$check" = t ] || { say "the projections disagree with counts taken from the log"; exit 1; }

# ------------------------------------------------------------ 2. retitles
say "retitles: article 1 retitled $retitles times, 300-character titles"
createdb retitles
sql -d retitles >/dev/null <<SQL
CREATE EXTENSION drivetribe;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, target_id, body, context)
VALUES (1, gen_random_uuid(), 'user_registered', now(), 1, NULL, NULL, NULL, 'Prolific Editor', '{"user_name": "Prolific Editor"}'),
       (2, gen_random_uuid(), 'tribe_created', now(), 1, 1, NULL, NULL, 'Editors', '{"tribe_name": "Editors"}'),
       (3, gen_random_uuid(), 'article_posted', now(), 1, 1, 1, NULL, 'First draft', '{"title": "First draft"}');
-- each title 300 characters and different from the one before
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, body, context)
SELECT 3 + i, gen_random_uuid(), 'article_edited', now(), 1, 1, 1, x.title, jsonb_build_object('title', x.title)
  FROM generate_series(1, $retitles) i,
       LATERAL (SELECT left(lpad(i::text, 8, '0') || ' ' || repeat(md5(i::text), 10), 300) AS title) x
 ORDER BY i;
SELECT setval('drivetribe.event_seq', (SELECT max(seq) FROM drivetribe.events));
VACUUM (ANALYZE) drivetribe.events;
SQL
say "  drivetribe.events $(sql -d retitles -c "SELECT pg_size_pretty(pg_total_relation_size('drivetribe.events'))")"
measure retitles "retitles: rebuild()" "SELECT drivetribe.rebuild()"
measure retitles "retitles: verify()" "SELECT count(*) FROM drivetribe.verify()"
[ "$LAST_RESULT" = 0 ] || { say "verify() found $LAST_RESULT differences"; exit 1; }

# ------------------------------------------------------------ 3. long comments
say "comments: $comments comments of 10,000 characters on 10 articles"
createdb comments
sql -d comments >/dev/null <<SQL
CREATE EXTENSION drivetribe;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, body, context)
VALUES (1, gen_random_uuid(), 'user_registered', now(), 1, NULL, NULL, 'Verbose Commenter', '{}'),
       (2, gen_random_uuid(), 'tribe_created', now(), 1, 1, NULL, 'Essays', '{}');
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, body, context)
SELECT 2 + a, gen_random_uuid(), 'article_posted', now(), 1, 1, a, 'Essay ' || a, '{}'
  FROM generate_series(1, 10) a;
INSERT INTO drivetribe.events (seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, comment_id,
                               target_id, recipient_id, body, context)
SELECT 12 + i, gen_random_uuid(), 'comment_posted', now(), 1, 1, 1 + i % 10, i, 1, 1,
       left(lpad(i::text, 8, '0') || ' ' || repeat(md5(i::text) || ' ', 304), 10000), '{}'
  FROM generate_series(1, $comments) i
 ORDER BY i;
SELECT setval('drivetribe.event_seq', (SELECT max(seq) FROM drivetribe.events));
VACUUM (ANALYZE) drivetribe.events;
SQL
say "  drivetribe.events $(sql -d comments -c "SELECT pg_size_pretty(pg_total_relation_size('drivetribe.events'))")" \
    "(comment bodies $(sql -d comments -c "SELECT pg_size_pretty(sum(length(body))) FROM drivetribe.events WHERE kind = 'comment_posted'") of text)"
measure comments "comments: rebuild()" "SELECT drivetribe.rebuild()"
measure comments "comments: verify()" "SELECT count(*) FROM drivetribe.verify()"
[ "$LAST_RESULT" = 0 ] || { say "verify() found $LAST_RESULT differences"; exit 1; }

# ------------------------------------------------------------ the table
mkdir -p "$(dirname "$results")"
{
  echo "drivetribe replay memory (issue 8 item 4): bash test/bench/replay_memory.sh${*:+ $*}" \
       "($events events, $retitles retitles, $comments comments)"
  echo "machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(free -g | awk '/^Mem:/ {print $2}') GB RAM;" \
       "$(sql -d postgres -c "SELECT 'PostgreSQL ' || current_setting('server_version') || ', shared_buffers ' || current_setting('shared_buffers')")," \
       "durable (fsync, synchronous_commit on); $(date -u +%Y-%m-%d)"
  echo "load average (1/5/15 min) at the start $load0, at the end $(cut -d' ' -f1-3 /proc/loadavg): other work on the machine slows the times, not the memory"
  echo "library: $lib md5 $lib0 (installed $lib0_at) at the start; repository $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD -- src 2>/dev/null || echo ' with uncommitted changes in src/')"
  if [ "$(sort -u "$work/libs" | wc -l)" -eq 1 ] && [ "$(lib_md5)" = "$(head -n 1 "$work/libs")" ]; then
    echo "         every measurement ran library md5 $(head -n 1 "$work/libs")"
  else
    echo "WARNING: the installed library changed during the measurements ($(sort -u "$work/libs" | paste -sd ' '), now $(lib_md5)): figures may mix builds"
  fi
  echo "log: $log_events events generated set-based in $gen_secs s (VACUUM ANALYZE $vac_secs s), drivetribe.events $log_size with indexes"
  echo "     $mix"
  echo
  printf '%-20s %10s %10s %9s %6s %9s %9s %8s\n' case events proj.rows "replay MB" "B/row" "VmHWM MB" "anon MB" "time s"
  printf '%-20s %10s %10s %9s %6s %9s %9s %8s\n' "idle backend" - - - - "$IDLE_HWM" "$IDLE_ANON" -
  awk -F'|' '{printf "%-20s %10s %10s %9s %6s %9s %9s %8s\n", $1, $2, $3, $4,
              ($3 > 0 ? sprintf("%.0f", $11 / $3) : "-"), $5, $6, $7}' "$work/rows"
  echo
  echo "replay MB: the replay's own memory (DEBUG1 \"drivetribe replay: ... replay memory\"), its hash tables;"
  echo "           B/row: that per projection row (in the two small cases mostly the empty tables' fixed size)."
  echo "VmHWM MB:  the backend's peak resident set (/proc/PID/status), including the shared buffers it"
  echo "           touched (up to shared_buffers) and the code; an idle backend's is shown first."
  echo "anon MB:   the backend's peak private memory (RssAnon, sampled every 50 ms while the call ran)."
  echo "rebuild() of the log starts from empty projections and inserts every row: $rebuild_rate events/s."
  echo "Issue 8 measured verify() on 1.0 at 454 MB (500,000 retitles) and 753 MB (60,000 comments of 10,000 characters)."
  awk -F'|' '$8 ~ /rebuild:/ {print $1 ": " $8}' "$work/rows"
  echo "projection rows per table (DEBUG1 of each case's verify()):"
  sed 's/^/  /' "$work/replay_lines"
} >"$results"
echo
cat "$results"
say "written to ${results#"$root"/} ($(( SECONDS - T0 )) s in all)"
