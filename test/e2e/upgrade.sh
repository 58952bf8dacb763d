#!/usr/bin/env bash
# Upgrade from the released 1.0 with data (SPEC "Versions").  Installs
# `CREATE EXTENSION drivetribe VERSION '1.0'`, loads a generated community
# plus calls with event_ids (one of them a no-op), snapshots every read of
# the API and the log, then walks the update path from 1.0 to the default
# version one `ALTER EXTENSION drivetribe UPDATE TO` at a time.  After each
# step: every read and the log are identical to the snapshot, verify() is
# empty, rebuild() writes no row and leaves every read identical.  At the
# newest version: new calls of every kind work and keep verify() empty, a
# retry of a call logged under 1.0 returns its seq and appends nothing,
# extversion is the default version, read_log() (1.4 on) pages through every
# pre-update event once (txid 0, seq order) and then exactly the new ones,
# and a fresh `CREATE EXTENSION` in
# another database has the same objects, columns, constraints, indexes,
# triggers, function definitions and privileges as the upgraded one.
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed.
set -euo pipefail
PATH=/usr/lib/postgresql/15/bin:$PATH
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
db=dt_e2e_upgrade
fresh=dt_e2e_upgrade_fresh
work=$(mktemp -d)
trap 'rm -rf "$work"; dropdb --if-exists "$db" >/dev/null 2>&1 || true; dropdb --if-exists "$fresh" >/dev/null 2>&1 || true' EXIT

fail() { echo "upgrade: FAILED: $*"; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }       # one value
qf() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$fresh" "$@"; }

for d in "$db" "$fresh"; do dropdb --if-exists "$d" >/dev/null 2>&1 || true; createdb "$d"; done

# ---------------------------------------------------------------- 1.0 + data
q -c "CREATE EXTENSION drivetribe VERSION '1.0'"
[ "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'")" = 1.0 ] ||
  fail "CREATE EXTENSION drivetribe VERSION '1.0' did not install 1.0"
psql -X -q -v ON_ERROR_STOP=1 -v users=80 -v tribes=8 -v articles=300 -v events=4000 -v batch=1000 \
     -f "$root/scripts/generate_community.sql" "$db" >/dev/null

# Calls with event_ids under 1.0, each remembered as NAME<TAB>SQL<TAB>SEQ:
# a retry after the update must return the same seq.  Ids 9001.. are new.
: >"$work/calls"
call() {  # NAME SQL
  local seq
  seq=$(q -c "SELECT $2") || fail "1.0 call $1 failed: $2"
  printf '%s\t%s\t%s\n' "$1" "$2" "$seq" >>"$work/calls"
}
call register  "drivetribe.register_user(9001, 'Upgrade Tester', 'a0000000-0000-4000-8000-000000000001')"
call tribe     "drivetribe.create_tribe(9001, 9001, 'Upgraders', 'a0000000-0000-4000-8000-000000000002')"
call post      "drivetribe.post_article(9001, 9001, 9001, 'Upgrading in place', 'a0000000-0000-4000-8000-000000000003')"
call comment   "drivetribe.post_comment(9001, 9001, 1, 'Worked for me', 'a0000000-0000-4000-8000-000000000004')"
call bump      "drivetribe.bump(9001, 2, 'a0000000-0000-4000-8000-000000000005')"
call view      "drivetribe.view_article(9001, 3, 'a0000000-0000-4000-8000-000000000006')"
call follow    "drivetribe.follow_user(9001, 1, 'a0000000-0000-4000-8000-000000000007')"
call join      "drivetribe.join_tribe(1, 9001, 'a0000000-0000-4000-8000-000000000008')"
call edit      "drivetribe.edit_article(9001, 'Upgrading in place, step by step', 'a0000000-0000-4000-8000-000000000009')"
call rename    "drivetribe.rename_user(9001, 'Upgrade Tester (1.0)', 'a0000000-0000-4000-8000-00000000000a')"
# the no-op: user 2 has bumped article 9001 already
call noop_bump "drivetribe.bump(9001, 2, 'a0000000-0000-4000-8000-00000000000b')"
# a retry under 1.0 itself returns the first seq
[ "$(q -c "SELECT drivetribe.bump(9001, 2, 'a0000000-0000-4000-8000-000000000005')")" = \
  "$(awk -F'\t' '$1 == "bump" {print $3}' "$work/calls")" ] || fail "a retry under 1.0 did not return the first seq"
awk -F'\t' '$1 != "noop_bump" && $3 == "" {bad = 1} $1 == "noop_bump" && $3 != "" {bad = 1} END {exit bad}' "$work/calls" ||
  fail "unexpected results of the 1.0 calls: $(cat "$work/calls")"
[ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = 0 ] || fail "verify() not empty under 1.0"

# ---------------------------------------------------------------- snapshots
# Every read of the API, with the columns SPEC names (a later version may
# add columns), in a deterministic order, as CSV (bodies may hold newlines).
read_names=(article_view user_stats tribe_stats article article_comments article_comments_paged has_bumped events)
read_sql() {
  case $1 in
    article_view) echo "SELECT article_id, tribe_id, tribe_name, author_id, author_name, title, posted_at,
                               views, comments, bumps, score
                          FROM drivetribe.article_view ORDER BY article_id" ;;
    user_stats) echo "SELECT user_id, name, articles, comments, bumps_given, bumps_received, followers,
                             following, tribes
                        FROM drivetribe.user_stats ORDER BY user_id" ;;
    tribe_stats) echo "SELECT tribe_id, name, owner_id, members, articles
                         FROM drivetribe.tribe_stats ORDER BY tribe_id" ;;
    # every article id ever posted (deleted ones give no row) and unknown ones
    article) echo "SELECT i.id, a.article_id, a.tribe_id, a.tribe_name, a.author_id, a.author_name, a.title,
                          a.posted_at, a.views, a.comments, a.bumps, a.score
                     FROM (SELECT article_id AS id FROM drivetribe.events WHERE kind = 'article_posted'
                           UNION SELECT unnest(ARRAY[0, 424242])) i
                     LEFT JOIN LATERAL drivetribe.article(i.id) a ON true
                    ORDER BY i.id, a.article_id" ;;
    # every article with a comment, deleted articles and deleted comments included
    article_comments) echo "SELECT i.id, c.ord, c.comment_id, c.author_id, c.author_name, c.body, c.posted_at
                              FROM (SELECT DISTINCT article_id AS id FROM drivetribe.events
                                     WHERE kind = 'comment_posted') i
                              LEFT JOIN LATERAL drivetribe.article_comments(i.id, 1000)
                                        WITH ORDINALITY AS c(comment_id, author_id, author_name, body, posted_at, ord)
                                     ON true
                             ORDER BY i.id, c.ord" ;;
    # the second page of two after each article's first live comment
    article_comments_paged) echo "SELECT i.id, c.ord, c.comment_id, c.author_id, c.author_name, c.body, c.posted_at
                              FROM (SELECT DISTINCT article_id AS id FROM drivetribe.events
                                     WHERE kind = 'comment_posted') i
                              LEFT JOIN LATERAL (SELECT f.comment_id FROM drivetribe.article_comments(i.id, 1) f) p ON true
                              LEFT JOIN LATERAL drivetribe.article_comments(i.id, 2, p.comment_id)
                                        WITH ORDINALITY AS c(comment_id, author_id, author_name, body, posted_at, ord)
                                     ON true
                             ORDER BY i.id, c.ord" ;;
    # every current bump, every pair ever bumped or unbumped, and a grid of
    # pairs that mostly never were
    has_bumped) echo "SELECT p.article_id, p.user_id, drivetribe.has_bumped(p.article_id, p.user_id)
                        FROM (SELECT article_id, user_id FROM drivetribe.bumps
                              UNION SELECT article_id, user_id FROM drivetribe.events
                                     WHERE kind IN ('article_bumped', 'article_unbumped')
                              UNION SELECT a, u FROM generate_series(1, 40) a, generate_series(1, 40) u
                              UNION VALUES (424242, 1), (1, 424242)) p
                       ORDER BY 1, 2" ;;
    events) echo "SELECT seq, event_id, kind, occurred_at, user_id, tribe_id, article_id, comment_id,
                         target_id, recipient_id, body, context
                    FROM drivetribe.events ORDER BY seq" ;;
  esac
}
snapshot() {  # DIR
  mkdir -p "$1"
  local n
  for n in "${read_names[@]}"; do
    q -c "COPY ($(read_sql "$n")) TO STDOUT WITH (FORMAT csv, HEADER)" >"$1/$n.csv" ||
      fail "read $n failed"
  done
}
same_as_before() {  # DIR WHEN
  snapshot "$1"
  if ! diff -r -q "$work/before" "$1" >/dev/null; then
    echo "upgrade: reads differ $2:"
    diff -r "$work/before" "$1" | head -n 40
    fail "reads differ $2"
  fi
}
# physical identity of every projection row: rebuild() of a consistent
# database must write nothing
row_versions() {
  local sql
  sql=$(q -c "SELECT string_agg(format('SELECT %L AS t, count(*) AS n, md5(coalesce(string_agg(ctid::text || '':'' || xmin::text, '','' ORDER BY ctid), '''')) FROM %s',
                                       c.relname, c.oid::regclass), ' UNION ALL ')
                FROM pg_class c
               WHERE c.relnamespace = 'drivetribe'::regnamespace AND c.relkind = 'r'
                 AND c.relname NOT IN ('events', 'noop_calls')")
  q -c "$sql ORDER BY 1"
}

snapshot "$work/before"
rows=$(for n in "${read_names[@]}"; do printf '%s=%d\n' "$n" $(($(wc -l <"$work/before/$n.csv") - 1)); done | paste -sd ' ')
last_seq=$(q -c "SELECT last_value FROM drivetribe.event_seq")

# ---------------------------------------------------------------- update path
target=$(q -c "SELECT default_version FROM pg_available_extensions WHERE name = 'drivetribe'")
repo_target=$(sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" "$root/drivetribe.control")
[ "$target" = "$repo_target" ] ||
  fail "the installed drivetribe.control has default_version $target, $root/drivetribe.control $repo_target (installed from another tree?)"
path=$(q -c "SELECT path FROM pg_extension_update_paths('drivetribe') WHERE source = '1.0' AND target = '$target'")
[ -n "$path" ] || fail "no update path from 1.0 to the default version $target"
replays=()
IFS=' ' read -r -a steps <<<"$(q -c "SELECT array_to_string((string_to_array('$path', '--'))[2:], ' ')")"
prev=1.0
for v in "${steps[@]}"; do
  [ -f "$root/drivetribe--$prev--$v.sql" ] || fail "the update path uses drivetribe--$prev--$v.sql, which the repository does not have"
  prev=$v
  q -c "ALTER EXTENSION drivetribe UPDATE TO '$v'" 2>"$work/alter.err" ||
    { cat "$work/alter.err"; fail "ALTER EXTENSION drivetribe UPDATE TO '$v' failed"; }
  if grep -q WARNING "$work/alter.err"; then cat "$work/alter.err"; fail "warnings in the update to $v"; fi
  [ "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'")" = "$v" ] ||
    fail "extversion is not $v after the update to $v"
  same_as_before "$work/at-$v" "after the update to $v"
  [ "$(q -c "SELECT last_value FROM drivetribe.event_seq")" = "$last_seq" ] || fail "event_seq moved in the update to $v"
  diffs=$(q -c "SELECT count(*) FROM drivetribe.verify()")
  [ "$diffs" = 0 ] || { q -c "SELECT * FROM drivetribe.verify() LIMIT 20"; fail "verify() after the update to $v: $diffs differences"; }
  versions=$(row_versions)
  replayed=$(q -c "SELECT drivetribe.rebuild()")
  same_as_before "$work/rebuilt-$v" "after rebuild() at $v"
  [ "$(row_versions)" = "$versions" ] || fail "rebuild() at $v rewrote projection rows of a consistent database"
  diffs=$(q -c "SELECT count(*) FROM drivetribe.verify()")
  [ "$diffs" = 0 ] || fail "verify() after rebuild() at $v: $diffs differences"
  replays+=("$v: $replayed")
done
[ "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'")" = "$target" ] ||
  fail "extversion is not the default version $target"
# the newest version the repository ships an update script to is the
# default one (another tree's `make install` can leave other scripts in the
# shared extension directory: those are not looked at)
newest=$(ls "$root" | sed -n 's/^drivetribe--[^-]*--\(.*\)\.sql$/\1/p' | sort -V | tail -n 1)
[ "$newest" = "$target" ] || fail "the default version is $target, the repository's newest update script goes to ${newest:-nothing}"

# ---------------------------------------------------------------- read_log (1.4 on)
# every event logged before the update, read by pages of 1,000 from the
# start: each once, in seq order (their txid is 0: they are all final)
has_read_log=$(q -c "SELECT to_regprocedure('drivetribe.read_log(xid8,bigint,integer)') IS NOT NULL")
if [ "$has_read_log" = t ]; then
  q >"$work/read_log_pre.txt" <<'SQL' || fail "paging the upgraded log with read_log() failed"
DO $$
DECLARE t xid8 := '0'; s bigint := 0; n int; e record;
BEGIN
  CREATE TEMP TABLE got (seq bigint, txid xid8);
  LOOP
    n := 0;
    FOR e IN SELECT * FROM drivetribe.read_log(t, s, 1000) LOOP
      INSERT INTO got VALUES (e.seq, e.txid); t := e.txid; s := e.seq; n := n + 1;
    END LOOP;
    EXIT WHEN n < 1000;
  END LOOP;
END $$;
SELECT format('%s %s %s %s', count(*), count(DISTINCT seq), count(*) FILTER (WHERE txid <> '0'),
              array_agg(seq) = (SELECT array_agg(seq ORDER BY seq) FROM drivetribe.events))
  FROM got;
SQL
  [ "$(cat "$work/read_log_pre.txt")" = "$(q -c "SELECT count(*) FROM drivetribe.events") $(q -c "SELECT count(*) FROM drivetribe.events") 0 t" ] ||
    fail "read_log() after the update did not return every pre-update event once with txid 0 in seq order (count, distinct, nonzero txid, order: $(cat "$work/read_log_pre.txt"))"
  read -r pre_txid pre_seq < <(q -F ' ' -c "SELECT txid, seq FROM drivetribe.events ORDER BY txid DESC, seq DESC LIMIT 1")
fi

# ---------------------------------------------------------------- retries of 1.0 calls
events_before=$(q -c "SELECT count(*) FROM drivetribe.events")
while IFS=$'\t' read -r name sql seq; do
  got=$(q -c "SELECT $sql") || fail "retry of the 1.0 call $name failed: $sql"
  [ "$got" = "$seq" ] || fail "retry of the 1.0 call $name returned '$got', the 1.0 call '$seq': $sql"
done <"$work/calls"
[ "$(q -c "SELECT count(*) FROM drivetribe.events")" = "$events_before" ] || fail "retries of 1.0 calls appended events"
# the same event_id with other arguments is still 23505
err=$(psql -X -q -At -d "$db" -v VERBOSITY=verbose \
        -c "SELECT drivetribe.bump(9001, 3, 'a0000000-0000-4000-8000-000000000005')" 2>&1 || true)
[ "$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' <<<"$err")" = 23505 ] ||
  fail "a 1.0 event_id reused with other arguments: expected 23505, got: $err"
same_as_before "$work/after-retries" "after the retries"

# ---------------------------------------------------------------- new writes
q >/dev/null <<'SQL' || fail "new writes after the update failed"
SELECT drivetribe.register_user(9100, 'After Update', 'b0000000-0000-4000-8000-000000000001');
SELECT drivetribe.register_user(9101, 'Second After');
SELECT drivetribe.rename_user(9100, 'After Update (renamed)');
SELECT drivetribe.create_tribe(9100, 9100, 'Updated Tribe');
SELECT drivetribe.rename_tribe(9100, 'Updated Tribe, renamed');
SELECT drivetribe.join_tribe(9101, 9100);
SELECT drivetribe.join_tribe(9101, 1);
SELECT drivetribe.leave_tribe(9101, 1);
SELECT drivetribe.follow_user(9101, 9100);
SELECT drivetribe.follow_user(9100, 1);
SELECT drivetribe.unfollow_user(9100, 1);
SELECT drivetribe.post_article(9100, 9100, 9100, 'Written after the update');
SELECT drivetribe.post_article(9101, 9101, 1, 'Soon deleted');
SELECT drivetribe.edit_article(9100, 'Written after the update (edited)');
SELECT drivetribe.view_article(9100);
SELECT drivetribe.view_article(9100, 9101);
SELECT drivetribe.view_article(1, 9101);
SELECT drivetribe.post_comment(9100, 9100, 9101, 'First!');
SELECT drivetribe.post_comment(9101, 1, 9100, 'Old article, new comment');
SELECT drivetribe.post_comment(9102, 9101, 9100, 'Doomed');
SELECT drivetribe.delete_comment(9100);
SELECT drivetribe.bump(9100, 9101);
SELECT drivetribe.bump(9100, 9100);
SELECT drivetribe.unbump(9100, 9100);
SELECT drivetribe.bump(1, 9100);
SELECT drivetribe.bump(9101, 9100);
SELECT drivetribe.bump(9001, 9101);
SELECT drivetribe.delete_article(9101);
-- a no-op with an event_id, and its retry
SELECT drivetribe.join_tribe(9101, 9100, 'b0000000-0000-4000-8000-000000000002');
SELECT drivetribe.join_tribe(9101, 9100, 'b0000000-0000-4000-8000-000000000002');
SQL
[ "$(q -c "SELECT drivetribe.register_user(9100, 'After Update', 'b0000000-0000-4000-8000-000000000001')")" = \
  "$(q -c "SELECT seq FROM drivetribe.events WHERE event_id = 'b0000000-0000-4000-8000-000000000001'")" ] ||
  fail "a retry of a call made after the update did not return its seq"
card=$(q -c "SELECT format('%s|%s|%s|%s|%s|%s', title, author_name, tribe_name, views, comments, bumps)
               FROM drivetribe.article(9100)")
[ "$card" = "Written after the update (edited)|After Update (renamed)|Updated Tribe, renamed|2|0|1" ] ||
  fail "the card of an article written after the update is wrong: $card"
[ -z "$(q -c "SELECT article_id FROM drivetribe.article(9101)")" ] || fail "a deleted article still has a card"
[ "$(q -c "SELECT format('%s %s %s', drivetribe.has_bumped(9100, 9101), drivetribe.has_bumped(9100, 9100),
                                      drivetribe.has_bumped(NULL, 9100) IS NULL)")" = "t f t" ] ||
  fail "has_bumped() wrong after the update (expected true, false, and NULL for a NULL article)"
diffs=$(q -c "SELECT count(*) FROM drivetribe.verify()")
[ "$diffs" = 0 ] || { q -c "SELECT * FROM drivetribe.verify() LIMIT 20"; fail "verify() after new writes: $diffs differences"; }
new_events=$(( $(q -c "SELECT count(*) FROM drivetribe.events") - events_before ))

# from the cursor after the last pre-update event, read_log() returns
# exactly the events written since (retries appended none)
if [ "$has_read_log" = t ]; then
  [ "$(q -c "SELECT count(*) FROM drivetribe.read_log('$pre_txid', $pre_seq, 10000)")" = "$new_events" ] ||
    fail "read_log() after the last pre-update event did not return the $new_events new events"
  [ "$(q -c "SELECT count(*) FROM drivetribe.read_log('$pre_txid', $pre_seq, 10000) WHERE txid = '0' OR seq <= $pre_seq")" = 0 ] ||
    fail "read_log() returned an old event after the cursor"
fi

# ---------------------------------------------------------------- feeds (1.3 on)
# every user's and tribe's feed over the upgraded data and the new writes,
# paged to the end three rows at a time, is SPEC's definition
if [ "$(q -c "SELECT to_regprocedure('drivetribe.feed(bigint,integer,double precision,bigint)') IS NOT NULL")" = t ]; then
  bad=$(q <<'SQL'
CREATE FUNCTION pg_temp.walk(reader bigint, tribe bigint) RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE ids bigint[] := '{}'; r record; s float8; a bigint; n int;
BEGIN
  LOOP
    n := 0;
    FOR r IN SELECT * FROM drivetribe.feed(reader, 3, s, a) WHERE tribe IS NULL
             UNION ALL SELECT * FROM drivetribe.tribe_feed(tribe, 3, s, a) WHERE tribe IS NOT NULL LOOP
      ids := ids || r.article_id; s := r.score; a := r.article_id; n := n + 1;
    END LOOP;
    EXIT WHEN n < 3;
  END LOOP;
  RETURN ids;
END $$;
CREATE FUNCTION pg_temp.spec(reader bigint, tribe bigint) RETURNS bigint[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(v.article_id ORDER BY v.score DESC, v.article_id DESC), '{}')
    FROM drivetribe.article_view v
   WHERE v.tribe_id = tribe
      OR v.tribe_id IN (SELECT m.tribe_id FROM drivetribe.memberships m WHERE m.user_id = reader)
      OR v.author_id IN (SELECT f.followee_id FROM drivetribe.follows f WHERE f.follower_id = reader)
$$;
SELECT (SELECT count(*) FROM drivetribe.users u WHERE pg_temp.walk(u.user_id, NULL) IS DISTINCT FROM pg_temp.spec(u.user_id, NULL))
     + (SELECT count(*) FROM drivetribe.tribes t WHERE pg_temp.walk(NULL, t.tribe_id) IS DISTINCT FROM pg_temp.spec(NULL, t.tribe_id));
SQL
)
  [ "$bad" = 0 ] || fail "after the update, $bad feeds differ from SPEC's definition"
  [ "$(q -c "SELECT count(*) FROM drivetribe.feed(9101)")" -ge 1 ] || fail "user 9101's feed is empty after the update"
fi

# ---------------------------------------------------------------- fresh install
qf -c "CREATE EXTENSION drivetribe"
[ "$(qf -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'")" = "$target" ] ||
  fail "a fresh CREATE EXTENSION did not install the default version $target"
shape_names=(members columns constraints indexes triggers functions views sequences privileges config event_triggers)
shape_sql() {
  case $1 in
    members) echo "SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
                    WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                      AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'drivetribe')
                    ORDER BY 1" ;;
    # columns in order (row_number: a dropped column leaves a gap in attnum)
    columns) echo "SELECT table_name, row_number() OVER (PARTITION BY table_name ORDER BY ordinal_position),
                          column_name, data_type, is_nullable, column_default, is_generated,
                          generation_expression, is_identity, collation_name
                     FROM information_schema.columns WHERE table_schema = 'drivetribe'
                    ORDER BY 1, 2" ;;
    constraints) echo "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid), convalidated,
                              condeferrable
                         FROM pg_constraint WHERE connamespace = 'drivetribe'::regnamespace ORDER BY 1, 2" ;;
    indexes) echo "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'drivetribe' ORDER BY 1, 2" ;;
    triggers) echo "SELECT tgrelid::regclass::text, tgname, tgenabled, pg_get_triggerdef(oid)
                      FROM pg_trigger WHERE tgrelid IN (SELECT oid FROM pg_class
                                                         WHERE relnamespace = 'drivetribe'::regnamespace)
                     ORDER BY 1, 2" ;;
    functions) echo "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), p.proacl::text,
                            obj_description(p.oid, 'pg_proc')
                       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                      WHERE n.nspname IN ('drivetribe', 'drivetribe_internal') ORDER BY 1" ;;
    views) echo "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c
                  WHERE c.relnamespace = 'drivetribe'::regnamespace AND c.relkind IN ('v', 'm') ORDER BY 1" ;;
    sequences) echo "SELECT sequencename, data_type, start_value, min_value, max_value, increment_by, cycle, cache_size
                       FROM pg_sequences WHERE schemaname = 'drivetribe' ORDER BY 1" ;;
    privileges) echo "SELECT c.relname::text, c.relkind::text, c.relacl::text, c.reloptions::text,
                             c.relpersistence::text, c.relreplident::text, c.relrowsecurity
                        FROM pg_class c WHERE c.relnamespace = 'drivetribe'::regnamespace
                      UNION ALL
                      SELECT 'schema ' || n.nspname, 'schema', n.nspacl::text, NULL, NULL, NULL, NULL
                        FROM pg_namespace n WHERE n.nspname IN ('drivetribe', 'drivetribe_internal')
                      ORDER BY 1" ;;
    config) echo "SELECT extrelocatable, extnamespace::regnamespace::text,
                         (SELECT array_agg(c::regclass::text ORDER BY c::regclass::text) FROM unnest(extconfig) c),
                         extcondition
                    FROM pg_extension WHERE extname = 'drivetribe'" ;;
    event_triggers) echo "SELECT evtname, evtevent, evtenabled, evtfoid::regprocedure::text, evttags
                            FROM pg_event_trigger ORDER BY 1" ;;
  esac
}
mkdir -p "$work/shape-upgraded" "$work/shape-fresh"
for n in "${shape_names[@]}"; do
  q -c "COPY ($(shape_sql "$n")) TO STDOUT WITH (FORMAT csv, HEADER)" >"$work/shape-upgraded/$n.csv" || fail "shape $n failed"
  qf -c "COPY ($(shape_sql "$n")) TO STDOUT WITH (FORMAT csv, HEADER)" >"$work/shape-fresh/$n.csv" || fail "shape $n failed"
done
if ! diff -r -q "$work/shape-upgraded" "$work/shape-fresh" >/dev/null; then
  echo "upgrade: the upgraded database (<) and a fresh install (>) differ:"
  diff -r "$work/shape-upgraded" "$work/shape-fresh" | head -n 60
  fail "fresh and upgraded installs differ"
fi
members=$(($(wc -l <"$work/shape-fresh/members.csv") - 1))

echo "upgrade: 1.0 -> $target along $path (rebuild() replayed ${replays[*]} events) with $(q -c "SELECT count(*) FROM drivetribe.events") events: reads identical ($rows), verify() empty and rebuild() a no-op after each step, $(wc -l <"$work/calls") 1.0 event_id retries returned their seq, $new_events new events keep verify() empty, fresh install = upgraded ($members members)$([ "$has_read_log" = t ] && echo ", read_log() returned every pre-update event once, then the new ones")"
