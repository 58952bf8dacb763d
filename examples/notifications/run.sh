#!/usr/bin/env bash
# Notifications from the demo's stream (README "Notifications in five
# minutes"): drivetribe-consume reads a slot of the demo database and hands
# each batch to send-notifications, which writes one notification per
# recipient into an outbox directory and prints it.
#
#   bash examples/notifications/run.sh          create the slot if needed and run
#                                               the consumer (Ctrl-C stops it)
#   bash examples/notifications/run.sh write    in another terminal: a few writes
#                                               that notify someone
#   bash examples/notifications/run.sh reset    drop the slot (ending a consumer still on it),
#                                               the state and the outbox
#
# env: DT_DEMO_DIR (the demo's directory, default /tmp/drivetribe-demo),
#      DT_NOTIFY_DIR (state and outbox, default DT_DEMO_DIR/notifications),
#      DT_NOTIFY_SLOT (the slot, default notifications)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/cluster.sh
DIR=${DT_DEMO_DIR:-/tmp/drivetribe-demo}
WORK=${DT_NOTIFY_DIR:-$DIR/notifications}
dt_cluster_running "$DIR" || { echo "notifications: the demo is not running: bash scripts/demo.sh" >&2; exit 1; }
export PGHOST=$DIR PGPORT=$(dt_cluster_port "$DIR") PGUSER=postgres PGDATABASE=drivetribe
SLOT=${DT_NOTIFY_SLOT:-notifications}   # its own slot: not the README's first_look nor drivetribe-consume's example notify
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

case ${1:-run} in
  run)
    mkdir -p "$WORK"
    if [ "$(q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT'")" = 0 ]; then
      q -c "SELECT 'slot created at ' || lsn FROM pg_create_logical_replication_slot('$SLOT', 'drivetribe')"
    fi
    echo "notifications: outbox $WORK/outbox; in another terminal: bash examples/notifications/run.sh write"
    exec "$DT_PGBIN/drivetribe-consume" -d drivetribe -S "$SLOT" -s "$WORK/state" \
      --kinds article_bumped,comment_posted,user_followed,tribe_joined \
      -c "perl '$PWD/examples/notifications/send-notifications' '$WORK/outbox'" ;;
  write)
    # four calls that notify someone, by random users on live articles
    q <<'SQL'
DO $$
DECLARE
  done_kinds text[] := '{}';
  u bigint; v bigint; art bigint; t bigint;
BEGIN
  FOR i IN 1..200 LOOP
    EXIT WHEN cardinality(done_kinds) = 4;
    SELECT user_id INTO u FROM drivetribe.users ORDER BY random() LIMIT 1;
    SELECT user_id INTO v FROM drivetribe.users ORDER BY random() LIMIT 1;
    SELECT article_id INTO art FROM drivetribe.articles WHERE NOT deleted ORDER BY random() LIMIT 1;
    SELECT tribe_id INTO t FROM drivetribe.tribes ORDER BY random() LIMIT 1;
    BEGIN
      IF NOT 'article_bumped' = ANY (done_kinds) AND drivetribe.bump(art, u) IS NOT NULL THEN
        done_kinds := done_kinds || 'article_bumped'::text;
      ELSIF NOT 'comment_posted' = ANY (done_kinds)
            AND drivetribe.post_comment((SELECT coalesce(max(comment_id), 0) + 1 FROM drivetribe.comments),
                                        art, u, 'Lovely car!') IS NOT NULL THEN
        done_kinds := done_kinds || 'comment_posted'::text;
      ELSIF NOT 'user_followed' = ANY (done_kinds) AND u <> v AND drivetribe.follow_user(u, v) IS NOT NULL THEN
        done_kinds := done_kinds || 'user_followed'::text;
      ELSIF NOT 'tribe_joined' = ANY (done_kinds) AND drivetribe.join_tribe(u, t) IS NOT NULL THEN
        done_kinds := done_kinds || 'tribe_joined'::text;
      END IF;
    EXCEPTION WHEN OTHERS THEN NULL;   -- a deleted article, a banned pair...: try others
    END;
  END LOOP;
  RAISE NOTICE 'wrote %', array_to_string(done_kinds, ', ');
END $$;
SQL
    ;;
  reset)
    # a consumer still reading the slot holds it: end its connection (the
    # consumer then stops with status 3, slot missing), then drop the slot
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      q -c "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
             WHERE slot_name = '$SLOT' AND active_pid IS NOT NULL" >/dev/null
      q -c "SELECT pg_drop_replication_slot('$SLOT') FROM pg_replication_slots
             WHERE slot_name = '$SLOT' AND NOT active" >/dev/null 2>&1 || true
      [ "$(q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT'")" = 0 ] && break
      sleep 0.3
    done
    [ "$(q -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT'")" = 0 ] ||
      { echo "notifications: could not drop slot $SLOT (stop the consumer first)" >&2; exit 1; }
    rm -rf "$WORK"
    echo "notifications: slot, state and outbox removed" ;;
  *) echo "usage: bash examples/notifications/run.sh [run|write|reset]" >&2; exit 2 ;;
esac
