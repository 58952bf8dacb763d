#!/usr/bin/env bash
# Write-path throughput, side by side in one run on one durable throwaway
# cluster (fsync on, synchronous_commit on), pgbench with C clients for S
# seconds per case, each call its own transaction:
#   bare_insert   INSERT of one event-shaped row into a plain table (baseline)
#   view_spread   drivetribe.view_article over 1,000 articles
#   bump_spread   drivetribe.bump/unbump over 1,000 articles and 1,000 users
#   view_hot      drivetribe.view_article of ONE article (all clients on one row)
# and prints tps and the ratio of each case to bare_insert.
#   bash test/bench/write_path.sh [CLIENTS=8] [SECONDS=10]
# A benchmark, not a test: scripts/test.sh does not run it.  Needs the
# extension installed (bash scripts/build.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/cluster.sh
clients=${1:-8}; seconds=${2:-10}
DT_PG_CONF="max_connections = 200" dt_cluster_temp "${DT_BENCH_PORT:-54318}" postgres durable >/dev/null
work=$(mktemp -d); trap 'rm -rf "$work"; dt__cleanup_temp' EXIT
createdb bench
psql -X -q -d bench -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION drivetribe CASCADE;
SELECT count(drivetribe.register_user(u, 'user ' || u)) FROM generate_series(1, 1000) u;
SELECT count(drivetribe.create_tribe(t, t, 'tribe ' || t)) FROM generate_series(1, 10) t;
SELECT count(drivetribe.post_article(a, a, a % 10 + 1, 'article ' || a)) FROM generate_series(1, 1000) a;
CREATE TABLE public.bare_events (LIKE drivetribe.events INCLUDING DEFAULTS);
ALTER TABLE public.bare_events ADD PRIMARY KEY (seq), ADD UNIQUE (event_id);
SQL
cat >"$work/bare_insert.sql" <<'B'
\set a random(1, 1000)
INSERT INTO public.bare_events (event_id, kind, occurred_at, article_id, target_id, tribe_id) VALUES (gen_random_uuid(), 'article_viewed', now(), :a, :a, :a % 10 + 1);
B
cat >"$work/view_spread.sql" <<'B'
\set a random(1, 1000)
SELECT drivetribe.view_article(:a);
B
cat >"$work/bump_spread.sql" <<'B'
\set a random(1, 1000)
\set u random(1, 1000)
SELECT drivetribe.bump(:a, :u);
SELECT drivetribe.unbump(:a, :u);
B
cat >"$work/view_hot.sql" <<'B'
SELECT drivetribe.view_article(1);
B
printf '%-12s %10s %8s\n' case tps ratio
base=
for c in bare_insert view_spread bump_spread view_hot; do
  tps=$(pgbench -n -c "$clients" -j 2 -T "$seconds" -f "$work/$c.sql" bench 2>/dev/null | awk -F' = ' '/^tps/ {printf "%d", $2; exit}')
  # bump_spread makes two calls per transaction
  [ "$c" = bump_spread ] && tps=$((tps * 2))
  [ -n "$base" ] || base=$tps
  printf '%-12s %10s %8s\n' "$c" "$tps" "$(awk -v a="$tps" -v b="$base" 'BEGIN {printf "%.2f", a / b}')"
done
diffs=$(psql -X -At -d bench -c "SELECT count(*) FROM drivetribe.verify()")
echo "verify() after the run: $diffs differences ($clients clients, ${seconds}s per case, calls/s; bump_spread counts bump and unbump)"
