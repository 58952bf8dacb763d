#!/usr/bin/env bash
# The README's "Getting started" runs as pasted (issue 19): every ```sql
# block between the "## Getting started" heading and the next "## " heading
# is run, in order, by one psql session with ON_ERROR_STOP on a fresh
# database, as a user would paste it.  Then the paging it shows is checked:
# the page after the \gset cursor is the rest of the feed.
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed.
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
db=dt_e2e_readme
work=$(mktemp -d)
cleanup() { dropdb --if-exists "$db" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "readme_getting_started: FAILED: $*"; exit 1; }

awk '/^## Getting started/ { on = 1; next }
     on && /^## / { exit }
     on && /^```sql/ { inblock = 1; next }
     inblock && /^```/ { inblock = 0; next }
     inblock { print }' "$root/README.md" >"$work/getting_started.sql"
n=$(grep -c ';' "$work/getting_started.sql" || true)
[ "$n" -ge 10 ] || fail "found only $n statements under \"## Getting started\" in README.md"

dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
psql -X -v ON_ERROR_STOP=1 -d "$db" -f "$work/getting_started.sql" >"$work/out" 2>&1 ||
  { cat "$work/out"; fail "a statement of README's Getting started failed (output above)"; }
if grep -n 'ERROR\|WARNING' "$work/out"; then fail "README's Getting started printed an error or warning"; fi
# scores settle (the rank worker folds within 2 s; fold now), so that the
# pages below see one order
psql -X -q -At -d "$db" -c "SELECT drivetribe.fold_stripes()" >/dev/null
# the two pages the README shows are the feed's first 4 rows, none twice
pages=$(psql -X -At -d "$db" <<'SQL'
SELECT article_id FROM drivetribe.feed(2, 2);
SELECT score AS after_score, article_id AS after_id
  FROM drivetribe.feed(2, 2) ORDER BY score, article_id LIMIT 1 \gset
SELECT article_id FROM drivetribe.feed(2, 2, :after_score, :after_id);
SQL
)
whole=$(psql -X -At -d "$db" -c "SELECT article_id FROM drivetribe.feed(2, 4)")
[ "$pages" = "$whole" ] || fail "two pages of 2 ($(echo $pages)) are not the first 4 rows ($(echo $whole))"
# a rounded score pages wrongly; the printed one does not
printed=$(psql -X -At -d "$db" -c "SELECT score FROM drivetribe.feed(2, 1)")
first=$(psql -X -At -d "$db" -c "SELECT article_id FROM drivetribe.feed(2, 1)")
again=$(psql -X -At -d "$db" -c "SELECT count(*) FROM drivetribe.feed(2, 20, $printed, $first) WHERE article_id = $first")
[ "$again" = 0 ] || fail "paging after the printed score $printed repeats article $first"
echo "readme_getting_started: ok: $n statements ran as pasted; paging with \\gset and with psql's printed score is right"
