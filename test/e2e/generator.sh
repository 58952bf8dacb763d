#!/usr/bin/env bash
# Smoke test of the demo's community generator: a tiny community loads
# through the public API with no error, every kind of call shows up in the
# log, and verify() finds no difference.
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
db=dt_e2e_generator
trap 'dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
psql -X -q -d "$db" -c "CREATE EXTENSION drivetribe CASCADE"
psql -X -q -v users=60 -v tribes=6 -v articles=200 -v events=3000 -v batch=500 \
     -f "$root/scripts/generate_community.sql" "$db" >/dev/null
kinds=$(psql -X -At -d "$db" -c "SELECT count(DISTINCT kind) FROM drivetribe.events")
events=$(psql -X -At -d "$db" -c "SELECT count(*) FROM drivetribe.events")
diffs=$(psql -X -At -d "$db" -c "SELECT count(*) FROM drivetribe.verify()")
echo "generator: $events events of $kinds kinds, $diffs differences"
[ "$kinds" -ge 14 ] || { echo "expected at least 14 of the 16 event kinds"; exit 1; }
[ "$diffs" -eq 0 ] || { psql -X -d "$db" -c "SELECT * FROM drivetribe.verify() LIMIT 20"; exit 1; }
