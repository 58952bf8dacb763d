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
# Replies (1.9 on): a drivetribe slot created under 1.0 (before the
# comments of the 1.0 calls), read with pg_logical_slot_get_changes() after
# the update, gives the events of 1.0 with "version":1 and
# "parent_comment_id":null and the replies with version 2 and their parent;
# read_log() reads every event of 1.0 as version 1 with no parent; replies
# to comments of 1.0 (by a role made a writer under 1.0) notify the old
# comment's author and show in the old comments' reply counts; verify()
# stays empty and rebuild() writes nothing.  The fresh database is then fed
# the same calls (the same generated community, the 1.0 calls, the writes
# after the update) and gives the same reads as the upgraded one, times
# aside: every article's comment page, user_stats, tribe_stats,
# article_view, the log.
# Needs PGHOST/PGPORT/PGUSER of a running server with drivetribe installed,
# wal_level = logical and drivetribe in output_plugin_libraries (15.19+).
set -euo pipefail
PATH=/usr/lib/postgresql/15/bin:$PATH
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
db=dt_e2e_upgrade
fresh=dt_e2e_upgrade_fresh
slot=dt_e2e_upgrade_slot
writer=dt_e2e_upgrade_writer
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  psql -X -q -d "$db" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null 2>&1 || true
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
  dropdb --if-exists "$fresh" >/dev/null 2>&1 || true
  psql -X -q -d postgres -c "DROP ROLE IF EXISTS $writer" >/dev/null 2>&1 || true
}
trap cleanup EXIT

fail() { echo "upgrade: FAILED: $*"; exit 1; }
# the installed scripts and library, to tell a difference between the
# upgraded and the fresh database from a `make install` during the run
installed() { cat "$(pg_config --sharedir)"/extension/drivetribe* "$(pg_config --pkglibdir)"/drivetribe.so 2>/dev/null | md5sum; }
installed_at_start=$(installed)
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }       # one value
qf() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$fresh" "$@"; }

psql -X -q -d postgres -c "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot'" >/dev/null 2>&1 || true
for d in "$db" "$fresh"; do dropdb --if-exists "$d" >/dev/null 2>&1 || true; createdb "$d"; done
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS $writer" -c "CREATE ROLE $writer" >/dev/null ||
  fail "could not create role $writer"
[ "$(q -c "SHOW wal_level")" = logical ] || fail "wal_level is $(q -c "SHOW wal_level"), the stream part needs logical"

# ---------------------------------------------------------------- 1.0 + data
q -c "CREATE EXTENSION drivetribe VERSION '1.0'"
[ "$(q -c "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'")" = 1.0 ] ||
  fail "CREATE EXTENSION drivetribe VERSION '1.0' did not install 1.0"
psql -X -q -v ON_ERROR_STOP=1 -v users=80 -v tribes=8 -v articles=300 -v events=4000 -v batch=1000 \
     -f "$root/scripts/generate_community.sql" "$db" >/dev/null

# Under 1.0: a role made a writer (1.9 gives it the new forms of
# post_comment), and a drivetribe slot: the stream of the calls below is read
# after the update.  (No slot before the generated community: its events
# are imported history, not part of what the stream check looks at.)
q -c "SELECT drivetribe.grant_writer('$writer')" >/dev/null
q -c "SELECT 'created' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null ||
  fail "could not create a drivetribe slot (is drivetribe in output_plugin_libraries?)"
slot_seq=$(q -c "SELECT max(seq) FROM drivetribe.events")

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
# comments of 1.0 that get replies after the update (9002 by user 2, 9004
# by 9001 on a generated article) and one deleted under 1.0
call comment2  "drivetribe.post_comment(9002, 9001, 2, 'Which version did you start from?', 'a0000000-0000-4000-8000-00000000000c')"
call comment3  "drivetribe.post_comment(9003, 9001, 3, 'Never mind', 'a0000000-0000-4000-8000-00000000000d')"
call uncomment "drivetribe.delete_comment(9003, 'a0000000-0000-4000-8000-00000000000e')"
call comment4  "drivetribe.post_comment(9004, 1, 9001, 'Old article, comment of 1.0', 'a0000000-0000-4000-8000-00000000000f')"
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
    # every article with a comment, deleted articles and deleted comments
    # included (SPEC's columns: later versions add some; WITH ORDINALITY
    # without a column alias list, which would rename those)
    article_comments) echo "SELECT i.id, c.ord, c.comment_id, c.author_id, c.author_name, c.body, c.posted_at
                              FROM (SELECT DISTINCT article_id AS id FROM drivetribe.events
                                     WHERE kind = 'comment_posted') i
                              LEFT JOIN LATERAL (SELECT f.*, f.ordinality AS ord
                                                   FROM drivetribe.article_comments(i.id, 1000) WITH ORDINALITY f) c
                                     ON true
                             ORDER BY i.id, c.ord" ;;
    # the second page of two after each article's first live comment
    article_comments_paged) echo "SELECT i.id, c.ord, c.comment_id, c.author_id, c.author_name, c.body, c.posted_at
                              FROM (SELECT DISTINCT article_id AS id FROM drivetribe.events
                                     WHERE kind = 'comment_posted') i
                              LEFT JOIN LATERAL (SELECT f.comment_id FROM drivetribe.article_comments(i.id, 1) f) p ON true
                              LEFT JOIN LATERAL (SELECT f.*, f.ordinality AS ord
                                                   FROM drivetribe.article_comments(i.id, 2, p.comment_id) WITH ORDINALITY f) c
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
  # (1.7 warns that the writer made under 1.0 loses read_log(), as documented)
  if grep WARNING "$work/alter.err" | grep -v "WARNING:  drivetribe 1.7: role $writer may no longer call read_log()" >/dev/null; then
    cat "$work/alter.err"; fail "warnings in the update to $v"
  fi
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
cat >"$work/new_writes.sql" <<'SQL'
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
q -f "$work/new_writes.sql" >/dev/null || fail "new writes after the update failed"
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

# ---------------------------------------------------------------- replies (1.9 on)
has_replies=$(q -c "SELECT to_regclass('drivetribe.event_versions') IS NOT NULL")
if [ "$has_replies" = t ]; then
  # every event of 1.0 is version 1 with no parent, in the log and as
  # read_log() reads it
  [ "$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq <= $last_seq AND (version <> 1 OR parent_comment_id IS NOT NULL)")" = 0 ] ||
    fail "events logged under 1.0 are not version 1 with no parent after the update"
  old_events=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq <= $last_seq")
  # every row of the log passes the newest CHECK (event_is_valid() is true
  # or raises 23514 naming what is wrong), validated or not
  q -c "SELECT count(*) FROM ONLY drivetribe.events e
         WHERE NOT drivetribe_internal.event_is_valid(seq, kind, user_id, tribe_id, article_id, comment_id,
                                                      target_id, recipient_id, body, context, version, parent_comment_id)" \
    >"$work/valid.txt" 2>&1 && [ "$(cat "$work/valid.txt")" = 0 ] ||
    fail "a row of the upgraded log fails the CHECK of $target: $(cat "$work/valid.txt")"
  got=$(q -c "SELECT format('%s %s', count(*), count(*) FILTER (WHERE version = 1 AND parent_comment_id IS NULL))
                FROM drivetribe.read_log('0', 0, 10000) WHERE seq <= $last_seq")
  [ "$got" = "$old_events $old_events" ] ||
    fail "read_log() after the update: of the $old_events events of 1.0, (read, version 1 with no parent) = $got"

  # replies to comments of 1.0, by the role made a writer under 1.0: 9110
  # to 9001 (user 1's), 9111 to 9002 (user 2's), 9112 to the reply 9110,
  # 9113 to 9004 on a generated article, 9114 to 9002 then deleted; then
  # 9002 itself deleted (its reply 9111 stays)
  cat >"$work/replies.sql" <<SQL
SET ROLE $writer;
SELECT drivetribe.post_comment(9110, 9001, 9101, 'Reply to a comment of 1.0', 9001);
SELECT drivetribe.post_comment(9111, 9001, 9100, 'Reply with an id', parent_comment_id => 9002,
                               event_id => 'b0000000-0000-4000-8000-000000000010');
SELECT drivetribe.post_comment(9112, 9001, 1, 'Reply to a reply', 9110);
SELECT drivetribe.post_comment(9113, 1, 9101, 'Reply on a generated article', 9004, NULL);
SELECT drivetribe.post_comment(9114, 9001, 9101, 'Soon deleted reply', 9002);
SELECT drivetribe.delete_comment(9114);
SELECT drivetribe.delete_comment(9002);
SELECT drivetribe.post_comment(9115, 9001, 3, 'A comment of 1.9 on the article', 'b0000000-0000-4000-8000-000000000011');
RESET ROLE;
SQL
  q -f "$work/replies.sql" >/dev/null || fail "replies after the update failed"
  got=$(q -c "SELECT string_agg(format('%s:%s:%s:%s:%s', kind, comment_id, version, coalesce(parent_comment_id::text, '-'),
                                       coalesce(recipient_id::text, '-')), ' ' ORDER BY seq)
                FROM drivetribe.events WHERE comment_id BETWEEN 9110 AND 9115 OR (comment_id = 9002 AND kind = 'comment_deleted')")
  want="comment_posted:9110:2:9001:1 comment_posted:9111:2:9002:2 comment_posted:9112:2:9110:9101"
  want+=" comment_posted:9113:2:9004:9001 comment_posted:9114:2:9002:2 comment_deleted:9114:2:9002:-"
  want+=" comment_deleted:9002:2:-:- comment_posted:9115:2:-:9001"
  [ "$got" = "$want" ] ||
    fail "replies to comments of 1.0: (kind:comment:version:parent:recipient) expected $want, got $got"
  # a comment deleted under 1.0 cannot be replied to
  err=$(psql -X -q -At -d "$db" -v VERBOSITY=verbose \
          -c "SELECT drivetribe.post_comment(9119, 9001, 1, 'x', 9003)" 2>&1 || true)
  [ "$(sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' <<<"$err")" = 55000 ] ||
    fail "a reply to a comment deleted under 1.0: expected 55000, got: $err"
  # the old comments' pages and reply counts
  got=$(q -c "SELECT string_agg(format('%s:%s:%s', comment_id, coalesce(parent_comment_id::text, '-'), replies), ' ')
                FROM drivetribe.article_comments(9001)")
  [ "$got" = "9001:-:1 9110:9001:1 9111:9002:0 9112:9110:0 9115:-:0" ] ||
    fail "article_comments(9001) after the replies (comment:parent:replies): $got"
  got=$(q -c "SELECT format('%s %s', (SELECT replies FROM drivetribe.article_comments(1, 1000) WHERE comment_id = 9004),
                                     (SELECT replies FROM drivetribe.comments WHERE comment_id = 9002))")
  [ "$got" = "1 1" ] ||
    fail "reply counts of old comments: 9004 on its page, the deleted 9002 in drivetribe.comments (expected 1 1): $got"
  [ "$(q -c "SELECT count(*) FROM drivetribe.comments WHERE comment_id < 9110 AND replies <> 0 AND comment_id NOT IN (9001, 9002, 9004)")" = 0 ] ||
    fail "generated comments have replies after the update"
  # the writer of 1.0 has every form of post_comment
  [ "$(q -c "SELECT bool_and(has_function_privilege('$writer', f, 'EXECUTE')) FROM unnest(ARRAY[
               'drivetribe.post_comment(bigint,bigint,bigint,text,uuid)',
               'drivetribe.post_comment(bigint,bigint,bigint,text,text)',
               'drivetribe.post_comment(bigint,bigint,bigint,text,bigint,uuid)',
               'drivetribe.article_comments(bigint,integer,bigint)']) f")" = t ] ||
    fail "a role made a writer under 1.0 lacks a form of post_comment or article_comments after the update"
  # verify() empty; rebuild() writes nothing and changes no read
  diffs=$(q -c "SELECT count(*) FROM drivetribe.verify()")
  [ "$diffs" = 0 ] || { q -c "SELECT * FROM drivetribe.verify() LIMIT 20"; fail "verify() after the replies: $diffs differences"; }
  comments_sql="SELECT comment_id, article_id, author_id, body, posted_at, deleted, parent_comment_id, replies
                  FROM drivetribe.comments ORDER BY comment_id"
  q -c "COPY ($comments_sql) TO STDOUT" >"$work/comments-before-rebuild" || fail "reading drivetribe.comments failed"
  snapshot "$work/replies-before-rebuild"
  versions=$(row_versions)
  q -c "SELECT drivetribe.rebuild()" >/dev/null || fail "rebuild() after the replies failed"
  [ "$(row_versions)" = "$versions" ] || fail "rebuild() after the replies rewrote projection rows"
  snapshot "$work/replies-after-rebuild"
  q -c "COPY ($comments_sql) TO STDOUT" >"$work/comments-after-rebuild" || fail "reading drivetribe.comments failed"
  diff -r -q "$work/replies-before-rebuild" "$work/replies-after-rebuild" >/dev/null &&
    cmp -s "$work/comments-before-rebuild" "$work/comments-after-rebuild" ||
    fail "rebuild() after the replies changed a read"
  [ "$(q -c "SELECT count(*) FROM drivetribe.verify()")" = 0 ] || fail "verify() after rebuild() after the replies is not empty"

  # the stream of the slot made under 1.0: every comment event since then,
  # the ones of 1.0 as version 1 with no parent, each as the log has it
  # (decoding reads flushed WAL only: one commit that flushes first; the
  # test cluster runs with synchronous_commit off)
  stream=$(q <<SQL
BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id() IS NOT NULL AS flushing \\gset
COMMIT;
CREATE TEMP TABLE s AS
SELECT data, data::jsonb AS j
  FROM pg_logical_slot_get_changes('$slot', NULL, NULL, 'kinds', 'comment_posted,comment_deleted');
CREATE TEMP TABLE want AS
SELECT seq, kind, version, parent_comment_id, recipient_id FROM drivetribe.events
 WHERE kind IN ('comment_posted', 'comment_deleted') AND seq > $slot_seq;
SELECT format('objects=%s old=%s old_v1_null_parent=%s key_order=%s differ=%s reply=%s',
  (SELECT count(*) FROM s),
  (SELECT count(*) FROM s WHERE (j->>'seq')::bigint <= $last_seq),
  (SELECT count(*) FROM s WHERE (j->>'seq')::bigint <= $last_seq AND j->'version' = '1'
                                AND j ? 'parent_comment_id' AND j->'parent_comment_id' = 'null'),
  (SELECT count(*) FROM s WHERE data ~ '"kind":"comment_(posted|deleted)","version":[12],'),
  (SELECT count(*) FROM (
     (SELECT (j->>'seq')::bigint, j->>'kind', (j->>'version')::smallint,
             (j->>'parent_comment_id')::bigint, (j->>'recipient_id')::bigint FROM s
      EXCEPT ALL SELECT * FROM want)
     UNION ALL
     (SELECT * FROM want EXCEPT ALL
      SELECT (j->>'seq')::bigint, j->>'kind', (j->>'version')::smallint,
             (j->>'parent_comment_id')::bigint, (j->>'recipient_id')::bigint FROM s)) d),
  (SELECT format('%s/%s/%s', j->'version', j->'parent_comment_id', j->'recipient_id')
     FROM s WHERE j->>'kind' = 'comment_posted' AND j->'comment_id' = '9110'));
SQL
) || fail "reading the slot made under 1.0 failed"
  want_stream="objects=$(q -c "SELECT count(*) FROM drivetribe.events WHERE kind IN ('comment_posted', 'comment_deleted') AND seq > $slot_seq")"
  want_stream+=" old=5 old_v1_null_parent=5 key_order=$(q -c "SELECT count(*) FROM drivetribe.events WHERE kind IN ('comment_posted', 'comment_deleted') AND seq > $slot_seq")"
  want_stream+=" differ=0 reply=2/9001/1"
  [ "$stream" = "$want_stream" ] ||
    fail "the stream of a slot made under 1.0: expected $want_stream, got $stream"
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

# The fresh database fed the same calls: the same generated community, the
# 1.0 calls, the writes after the update (the retries and refused calls
# append nothing).  Every read is the same as the upgraded database's,
# times aside (posted_at, and the score that depends on it): every
# article's comment page (the columns of the newest version), user_stats,
# tribe_stats, article_view, and the log (seq, ids, bodies, context; not
# event_id, generated where the call gave none, nor version: the comments
# of the 1.0 calls are version 1 in one and 2 in the other).
qf -c "SELECT drivetribe.grant_writer('$writer')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -v users=80 -v tribes=8 -v articles=300 -v events=4000 -v batch=1000 \
     -f "$root/scripts/generate_community.sql" "$fresh" >/dev/null || fail "generating the community in the fresh database failed"
while IFS=$'\t' read -r name sql seq; do
  got=$(qf -c "SELECT $sql") || fail "the fresh database: call $name failed: $sql"
  [ "$got" = "$seq" ] || fail "the fresh database: call $name returned '$got', under 1.0 '$seq': $sql"
done <"$work/calls"
qf -f "$work/new_writes.sql" >/dev/null || fail "the fresh database: the writes after the update failed"
if [ "$has_replies" = t ]; then
  qf -f "$work/replies.sql" >/dev/null || fail "the fresh database: the replies failed"
fi
same_names=(pages user_stats tribe_stats article_view events)
same_sql() {
  case $1 in
    pages) echo "SELECT i.id, c.*
                   FROM (SELECT DISTINCT article_id AS id FROM drivetribe.events
                          WHERE kind IN ('article_posted', 'comment_posted')) i
                   LEFT JOIN LATERAL (SELECT to_jsonb(f) - 'posted_at' AS r
                                        FROM drivetribe.article_comments(i.id, 1000) WITH ORDINALITY f) c ON true
                  ORDER BY i.id, (c.r->>'ordinality')::bigint" ;;
    user_stats) echo "SELECT to_jsonb(u) FROM drivetribe.user_stats u ORDER BY user_id" ;;
    tribe_stats) echo "SELECT to_jsonb(t) FROM drivetribe.tribe_stats t ORDER BY tribe_id" ;;
    article_view) echo "SELECT to_jsonb(a) - 'posted_at' - 'score' FROM drivetribe.article_view a ORDER BY article_id" ;;
    events) echo "SELECT to_jsonb(e) - 'event_id' - 'occurred_at' - 'txid' - 'version'
                    FROM drivetribe.events e ORDER BY seq" ;;
  esac
}
mkdir -p "$work/same-upgraded" "$work/same-fresh"
for n in "${same_names[@]}"; do
  q -c "COPY ($(same_sql "$n")) TO STDOUT" >"$work/same-upgraded/$n" || fail "read $n failed"
  qf -c "COPY ($(same_sql "$n")) TO STDOUT" >"$work/same-fresh/$n" || fail "read $n failed (fresh)"
done
if ! diff -r -q "$work/same-upgraded" "$work/same-fresh" >/dev/null; then
  echo "upgrade: the upgraded database (<) and a fresh one fed the same calls (>) read differently:"
  diff -r "$work/same-upgraded" "$work/same-fresh" | head -n 40
  fail "the upgraded database and a fresh one fed the same calls read differently"
fi
same_rows=$(for n in "${same_names[@]}"; do printf '%s=%d\n' "$n" "$(wc -l <"$work/same-fresh/$n")"; done | paste -sd ' ')
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
    # events_valid: an update on a log with events adds 1.9's NOT VALID (no
    # scan under the lock; docs/design.md, "Updates that do not stop
    # writers"), a new installation's is validated
    constraints) echo "SELECT conrelid::regclass::text, conname, contype,
                              replace(pg_get_constraintdef(oid), ' NOT VALID', ''),
                              CASE WHEN conname = 'events_valid' THEN NULL ELSE convalidated END,
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
  [ "$(installed)" = "$installed_at_start" ] ||
    echo "upgrade: (the installed extension changed during the run: a make install from another tree?)"
  fail "fresh and upgraded installs differ"
fi
members=$(($(wc -l <"$work/shape-fresh/members.csv") - 1))

echo "upgrade: 1.0 -> $target along $path (rebuild() replayed ${replays[*]} events) with $(q -c "SELECT count(*) FROM drivetribe.events") events: reads identical ($rows), verify() empty and rebuild() a no-op after each step, $(wc -l <"$work/calls") 1.0 event_id retries returned their seq, $new_events new events keep verify() empty, fresh install = upgraded ($members members), fed the same calls it reads the same ($same_rows)$([ "$has_read_log" = t ] && echo ", read_log() returned every pre-update event once, then the new ones")"
