#!/usr/bin/env bash
# An error's LOCATION names the C function that raised it (issue 19 item
# 10): up to 1.6 the errors for an unknown or taken id were raised in
# helpers named unknown() and taken(), so psql's \set VERBOSITY verbose
# showed "LOCATION:  unknown, write_api.c:150" -- which reads as "location
# unknown".  For each kind of rejected call, the function named is checked
# against the one expected, and it must be defined in the file named.
# Needs PGHOST/PGPORT/PGUSER/PGDATABASE of a server with drivetribe installed.
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
fail() { echo "error_location: FAILED: $*"; exit 1; }
psql -XAq -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS drivetribe" \
     -c "SELECT drivetribe.register_user(1, 'one'), drivetribe.create_tribe(1, 1, 'tribe'),
                drivetribe.post_article(10, 1, 1, 'title')" >/dev/null

bad=0
# call | the function LOCATION must name
while IFS='|' read -r call want; do
  out=$(psql -X -v VERBOSITY=verbose -c "SELECT $call" 2>&1 || true)
  loc=$(printf '%s\n' "$out" | sed -n 's/^LOCATION:  *//p')
  fn=${loc%%,*}
  file=${loc#*, }; file=${file%%:*}
  if [ -z "$loc" ]; then
    echo "  $call: no LOCATION in: $out"; bad=1; continue
  fi
  if [ "$fn" != "$want" ]; then
    echo "  $call: LOCATION '$loc', expected function $want"; bad=1; continue
  fi
  if ! grep -qE "^$fn\(" "$root/src/$file" 2>/dev/null; then
    echo "  $call: LOCATION '$loc': no function $fn in src/$file"; bad=1; continue
  fi
  echo "  ok  $call: $loc"
done <<'CALLS'
drivetribe.follow_user(1, 999)|user_name
drivetribe.join_tribe(1, 999)|read_tribe
drivetribe.bump(999, 1)|article_from_result
drivetribe.edit_article(999, 'x')|article_from_result
drivetribe.delete_comment(999)|drivetribe_delete_comment
drivetribe.register_user(1, 'again')|require_new
drivetribe.create_tribe(1, 1, 'again')|require_new
CALLS
[ $bad = 0 ] || fail "an error's LOCATION does not name the function that raised it"
echo "error_location: ok"
