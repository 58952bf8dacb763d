#!/usr/bin/env bash
# The fan-out example (examples/notifications, README "Notifications in five
# minutes"), driven by the real drivetribe-consume: one notification per
# recipient for every committed article_bumped, comment_posted, user_followed
# and tribe_joined whose recipient is not the actor, none for anything else,
# and none twice when the same events are delivered again.
# Needs PGHOST/PGPORT/PGUSER of a running server (wal_level = logical,
# drivetribe allowed in output_plugin_libraries) with drivetribe installed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/stream_world.sh"
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
. "$(dirname "${BASH_SOURCE[0]}")/lib/server.sh"
e2e_use_server_bindir
db=dt_e2e_notify
slot=dt_e2e_notify
work=$(mktemp -d)
cleanup() {
  psql -X -q -d "$db" -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null 2>&1 || true
  dropdb --if-exists "$db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "notifications: FAILED: $*"; exit 1; }
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
sender=$root/examples/notifications/send-notifications

dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
stream_world_sql | q >/dev/null
q -c "SELECT 'init' FROM pg_create_logical_replication_slot('$slot', 'drivetribe')" >/dev/null
base=$(q -c "SELECT max(seq) FROM drivetribe.events")
# notifying calls by others and by the recipient, and calls that notify no one
q >/dev/null <<'SQL'
SELECT drivetribe.bump(1, 5);                  -- article 1's author is user 2
SELECT drivetribe.bump(1, 2);                  -- the author's own bump: no one
SELECT drivetribe.post_comment(9001, 1, 7, 'Lovely "car" ✓');
SELECT drivetribe.post_comment(9002, 1, 2, 'Thanks');  -- the author: no one
SELECT drivetribe.follow_user(3, 4);
SELECT drivetribe.join_tribe(9, 2);            -- tribe 2's owner is user 2
SELECT drivetribe.join_tribe(2, 2) IS NULL;    -- the owner is a member already
SELECT drivetribe.view_article(1, 6);
SELECT drivetribe.rename_user(4, 'Renamed');
SQL
q -c "BEGIN" -c "SELECT drivetribe.bump(3, 8)" -c "ROLLBACK" >/dev/null
end=$(q -c "SELECT drivetribe.heartbeat()")
expected=$(q -c "SELECT count(*) FROM drivetribe.events WHERE seq > $base
                   AND kind IN ('article_bumped', 'comment_posted', 'user_followed', 'tribe_joined')
                   AND recipient_id IS NOT NULL AND recipient_id <> user_id")
[ "$expected" -ge 4 ] || fail "only $expected notifying events written"

timeout 60 drivetribe-consume -d "dbname=$db" -S "$slot" -s "$work/state" --endpos "$end" \
  --kinds article_bumped,comment_posted,user_followed,tribe_joined \
  -c "tee -a '$work/delivered.jsonl' | perl '$sender' '$work/outbox'" >"$work/printed" 2>"$work/consume.log" ||
  { cat "$work/consume.log"; fail "the consumer did not reach the heartbeat"; }
sent=$(find "$work/outbox" -name '*.json' | wc -l)
[ "$sent" = "$expected" ] || fail "$sent notifications for $expected notifying events"
[ "$(grep -c '^to user ' "$work/printed")" = "$expected" ] || fail "printed $(grep -c . "$work/printed") lines"
# each for the event's recipient
cat "$work"/outbox/*.json >"$work/all.json"
q -c "CREATE TABLE public.sent (n jsonb)" -c "\\copy public.sent FROM '$work/all.json' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" >/dev/null
wrong=$(q -c "SELECT count(*) FROM public.sent s WHERE NOT EXISTS (SELECT FROM drivetribe.events e
                WHERE e.event_id = (s.n ->> 'event_id')::uuid AND e.recipient_id = (s.n ->> 'recipient_id')::bigint
                  AND e.kind = s.n ->> 'kind' AND e.user_id <> e.recipient_id)")
[ "$wrong" = 0 ] || fail "$wrong notifications do not match their event"
grep -q 'commented on "article 1"' "$work/printed" || fail "no comment notification text: $(cat "$work/printed")"
# delivered again: nothing new
perl "$sender" "$work/outbox" <"$work/delivered.jsonl" >"$work/printed2"
[ ! -s "$work/printed2" ] || fail "a second delivery notified again: $(cat "$work/printed2")"
[ "$(find "$work/outbox" -name '*.json' | wc -l)" = "$expected" ] || fail "a second delivery added files"
echo "notifications: $expected notifications for $expected notifying events of others (own actions, other kinds and rolled-back work: none); a second delivery sent nothing"
