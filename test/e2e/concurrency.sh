#!/usr/bin/env bash
# Concurrency: 8 clients hammer a small world (few users, tribes, articles:
# every call contends) with a random mix of every write call for a few
# seconds, while a ninth session alternates verify() and rebuild().  Passes
# when no client hit a deadlock or any error outside SPEC's table, every
# verify() during the load returned no rows (it reads one snapshot), no
# rebuild() failed, verify() is empty at the end, and rebuild() reproduces
# the projections.
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed.
set -euo pipefail
PATH=/usr/lib/postgresql/15/bin:$PATH
db=dt_e2e_concurrency
seconds=${DT_CONCURRENCY_SECONDS:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"; dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT

dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
CREATE EXTENSION drivetribe CASCADE;
SELECT drivetribe.register_user(u, 'user ' || u) FROM generate_series(1, 12) u;
SELECT drivetribe.create_tribe(t, t, 'tribe ' || t) FROM generate_series(1, 3) t;
SELECT drivetribe.post_article(a, a % 12 + 1, a % 3 + 1, 'article ' || a) FROM generate_series(1, 6) a;
CREATE SEQUENCE public.new_ids START 1000;

-- One random call.  SPEC's errors (a deleted article, an unknown comment,
-- a taken id) are expected in a random mix and swallowed; anything else,
-- a deadlock above all, propagates and aborts the pgbench client.
CREATE FUNCTION public.random_call(op int, a bigint, b bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  u bigint := a % 12 + 1;
  v bigint := b % 12 + 1;
  art bigint := a % 8 + 1;
  t bigint := b % 3 + 1;
BEGIN
  CASE op
    WHEN 0 THEN PERFORM drivetribe.bump(art, u);
    WHEN 1 THEN PERFORM drivetribe.unbump(art, u);
    WHEN 2 THEN PERFORM drivetribe.view_article(art, u);
    WHEN 3 THEN PERFORM drivetribe.post_comment(nextval('public.new_ids'), art, u, 'comment');
    WHEN 4 THEN PERFORM drivetribe.delete_comment(1000 + b % 200);
    WHEN 5 THEN PERFORM drivetribe.join_tribe(u, t);
    WHEN 6 THEN PERFORM drivetribe.leave_tribe(u, t);
    WHEN 7 THEN IF u <> v THEN PERFORM drivetribe.follow_user(u, v); END IF;
    WHEN 8 THEN IF u <> v THEN PERFORM drivetribe.unfollow_user(u, v); END IF;
    WHEN 9 THEN PERFORM drivetribe.rename_user(u, 'name ' || b % 3);
    WHEN 10 THEN PERFORM drivetribe.rename_tribe(t, 'tribe name ' || a % 3);
    WHEN 11 THEN PERFORM drivetribe.edit_article(art, 'title ' || b % 3);
    WHEN 12 THEN IF b % 20 = 0 THEN PERFORM drivetribe.delete_article(art); END IF;
    WHEN 13 THEN PERFORM drivetribe.post_article(art, u, t, 'article ' || art);
    ELSE PERFORM drivetribe.bump(art, v);
  END CASE;
EXCEPTION
  WHEN object_not_in_prerequisite_state OR foreign_key_violation
       OR unique_violation THEN NULL;
END
$$;
SQL

cat >"$work/mix.sql" <<'EOF2'
\set op random(0, 14)
\set a random(1, 1000000)
\set b random(1, 1000000)
SELECT public.random_call(:op, :a, :b);
EOF2

# the maintenance session: verify() under load, and a rebuild() now and then
(
  set +e
  i=0
  while [ ! -e "$work/done" ]; do
    i=$((i + 1))
    n=$(psql -X -At -d "$db" -c "SELECT count(*) FROM drivetribe.verify()" 2>&1)
    echo "verify $n" >>"$work/maintenance.out"
    if [ $((i % 3)) = 0 ]; then
      psql -X -At -d "$db" -c "SELECT 'rebuild ok ' || drivetribe.rebuild()" >>"$work/maintenance.out" 2>&1
    fi
  done
) &
maintenance=$!

if ! pgbench -n -c 8 -j 2 -T "$seconds" -f "$work/mix.sql" "$db" >"$work/pgbench.out" 2>&1; then
  touch "$work/done"; wait "$maintenance" || true
  echo "pgbench failed:"; grep -E 'aborted|ERROR|deadlock' "$work/pgbench.out" | head -5
  grep -vE '^(verify 0|rebuild ok [0-9]+)$' "$work/maintenance.out" | head -5; exit 1
fi
touch "$work/done"; wait "$maintenance" || true
verifies=$(grep -c '^verify ' "$work/maintenance.out" || true)
rebuilds=$(grep -c '^rebuild ok ' "$work/maintenance.out" || true)
if grep -vqE '^(verify 0|rebuild ok [0-9]+)$' "$work/maintenance.out"; then
  echo "verify()/rebuild() under load:"; grep -vE '^(verify 0|rebuild ok [0-9]+)$' "$work/maintenance.out" | head; exit 1
fi
if grep -Eq 'aborted|deadlock|ERROR' "$work/pgbench.out"; then
  echo "a client failed:"; grep -E 'aborted|deadlock|ERROR' "$work/pgbench.out" | head; exit 1
fi
tps=$(awk -F' = ' '/^tps/ {print int($2); exit}' "$work/pgbench.out")
events=$(psql -X -At -d "$db" -c "SELECT count(*) FROM drivetribe.events")

diffs=$(psql -X -At -d "$db" -c "SELECT count(*) FROM drivetribe.verify()")
if [ "$diffs" != 0 ]; then
  echo "verify() found $diffs differences after concurrent load:"
  psql -X -d "$db" -c "SELECT * FROM drivetribe.verify() LIMIT 20"; exit 1
fi

# what a reader sees (counts are rows plus their counter stripes, which
# rebuild() folds: the raw tables may change, the reads must not)
checksum="SELECT md5(string_agg(r, '|' ORDER BY r)) FROM (
  SELECT 'u' || u::text AS r FROM drivetribe.user_stats u UNION ALL
  SELECT 't' || t::text FROM drivetribe.tribe_stats t UNION ALL
  SELECT 'a' || a::text FROM drivetribe.article_view a UNION ALL
  SELECT 'd' || a.article_id FROM drivetribe.articles a WHERE a.deleted UNION ALL
  SELECT 'c' || c::text FROM drivetribe.comments c UNION ALL
  SELECT 'm' || m::text FROM drivetribe.memberships m UNION ALL
  SELECT 'f' || f::text FROM drivetribe.follows f UNION ALL
  SELECT 'b' || b::text FROM drivetribe.bumps b) s"
before=$(psql -X -At -d "$db" -c "$checksum")
psql -X -q -At -d "$db" -c "SELECT drivetribe.rebuild()" >/dev/null
after=$(psql -X -At -d "$db" -c "$checksum")
if [ "$before" != "$after" ]; then
  echo "rebuild() changed the projections: $before -> $after"; exit 1
fi
echo "concurrency: 8 clients, ${seconds}s, ${tps} calls/s, ${events} events; ${verifies} verify() and ${rebuilds} rebuild() under load, all clean; verify() empty, rebuild() identical"
