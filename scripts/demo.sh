#!/usr/bin/env bash
# drivetribe demo: a local PostgreSQL 15 cluster with the extension and a
# generated community (scripts/generate_community.sql), then a sample article
# page, some stats, and how to connect.
#
#   bash scripts/demo.sh          install deps, build, install, start (or
#                                 restart) the cluster, load the community once
#   bash scripts/demo.sh stop     stop the cluster (data kept)
#   bash scripts/demo.sh reset    stop it and delete its data
#   bash scripts/demo.sh status   say whether it runs and how to connect
#
# env: DT_PORT (default 54321), DT_DEMO_DIR (default /tmp/drivetribe-demo),
#      DT_USERS DT_TRIBES DT_ARTICLES DT_EVENTS DT_SEED DT_BATCH (community
#      size; a different size reloads the community), DT_NO_BUILD=1 (skip
#      dependencies and build).
# The cluster listens on a Unix socket in DT_DEMO_DIR only; durable settings.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
. scripts/cluster.sh

DIR=${DT_DEMO_DIR:-/tmp/drivetribe-demo}
PORT=${DT_PORT:-54321}
DB=drivetribe
USERS=${DT_USERS:-5000} TRIBES=${DT_TRIBES:-300} ARTICLES=${DT_ARTICLES:-30000}
EVENTS=${DT_EVENTS:-300000} SEED=${DT_SEED:-42} BATCH=${DT_BATCH:-10000}

die() { echo "demo: $*" >&2; exit 1; }
ENVP=""; [ "$DIR" = /tmp/drivetribe-demo ] || ENVP="DT_DEMO_DIR=$DIR "
connect_help() {
  echo "connect:  psql -h $DIR -p $(dt_cluster_port "$DIR") -U postgres $DB"
  echo "stop:     ${ENVP}bash scripts/demo.sh stop    (start again: ${ENVP}bash scripts/demo.sh; delete: ${ENVP}bash scripts/demo.sh reset)"
}

# the directory must belong to whoever runs the server (postgres when root)
if [ -e "$DIR" ]; then
  owner=$(stat -c %U "$DIR")
  if [ "$(id -u)" -eq 0 ]; then want=postgres; else want=$(id -un); fi
  [ "$owner" = "$want" ] || die "$DIR belongs to $owner, not $want (set DT_DEMO_DIR to another directory)"
fi

case ${1:-start} in
  stop)
    if [ -f "$DIR/data/PG_VERSION" ] && dt_cluster_running "$DIR"; then
      dt_cluster_stop "$DIR" && echo "demo: stopped (data kept in $DIR; bash scripts/demo.sh reset deletes it)"
    else
      echo "demo: not running"
    fi
    exit 0 ;;
  reset)
    if [ -e "$DIR" ]; then dt_cluster_remove "$DIR" && echo "demo: removed $DIR"; else echo "demo: nothing in $DIR"; fi
    exit 0 ;;
  status)
    if [ -f "$DIR/data/PG_VERSION" ] && dt_cluster_running "$DIR"; then
      echo "demo: running in $DIR"; connect_help
    else
      echo "demo: not running"
    fi
    exit 0 ;;
  start) ;;
  *) die "usage: bash scripts/demo.sh [stop|reset|status]" ;;
esac

T0=$SECONDS
if [ "${DT_NO_BUILD:-0}" != 1 ]; then
  bash scripts/build.sh || die "build failed"
fi

# ---------------------------------------------------------------- cluster
if [ -f "$DIR/data/PG_VERSION" ]; then
  if [ "$(dt_cluster_port "$DIR")" != "$PORT" ]; then
    dt_cluster_stop "$DIR"
    echo "port = $PORT" | dt_as_pg tee -a "$DIR/data/postgresql.conf" >/dev/null
  fi
  if dt_cluster_running "$DIR"; then
    echo "demo: restarting the cluster in $DIR (port $PORT) to load the freshly installed library"
  else
    echo "demo: starting the cluster in $DIR (port $PORT)"
  fi
  dt_cluster_restart "$DIR" || die "the cluster did not start"
else
  echo "demo: creating a cluster in $DIR (port $PORT)"
  dt_cluster_init "$DIR" "$PORT" "$DB" durable || die "initdb failed"
  dt_cluster_start "$DIR" || die "the cluster did not start"
fi
dt_cluster_env "$DIR"
export PGDATABASE=$DB
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

# ---------------------------------------------------------------- database
# the community is reloaded when its size or the installed extension changed
build_id=$(cat "$("$DT_PGBIN/pg_config" --sharedir)"/extension/drivetribe* \
               "$("$DT_PGBIN/pg_config" --pkglibdir)"/drivetribe.so 2>/dev/null | md5sum | cut -c1-12)
marker="drivetribe demo community: users=$USERS tribes=$TRIBES articles=$ARTICLES events=$EVENTS seed=$SEED build=$build_id"
exists=$("${PSQL[@]}" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB'") || die "cannot reach the cluster"
if [ "$exists" = 1 ]; then
  current=$("${PSQL[@]}" -d postgres -Atc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$DB'")
  if [ "$current" != "$marker" ]; then
    echo "demo: database $DB holds no complete community of this size and build: recreating it"
    "${PSQL[@]}" -d postgres -c "DROP DATABASE $DB WITH (FORCE)" || die "cannot drop database $DB"
    exists=
  fi
fi
if [ "$exists" != 1 ]; then
  "${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" || die "cannot create database $DB"
fi
"${PSQL[@]}" -c "SET client_min_messages = warning" \
             -c "CREATE EXTENSION IF NOT EXISTS pg_cron" \
             -c "CREATE EXTENSION IF NOT EXISTS drivetribe CASCADE" \
             -c "ALTER EXTENSION drivetribe UPDATE" || die "CREATE EXTENSION failed"
echo "demo: database $DB with extension drivetribe $("${PSQL[@]}" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'drivetribe'")"

# ---------------------------------------------------------------- community
if [ "$exists" = 1 ]; then
  echo "demo: community already loaded ($marker); bash scripts/demo.sh reset && bash scripts/demo.sh reloads it"
else
  t1=$SECONDS
  "${PSQL[@]}" -v users="$USERS" -v tribes="$TRIBES" -v articles="$ARTICLES" \
     -v events="$EVENTS" -v seed="$SEED" -v batch="$BATCH" \
     -f scripts/generate_community.sql || die "loading the community failed"
  "${PSQL[@]}" -c "COMMENT ON DATABASE $DB IS '$marker'" -c "VACUUM ANALYZE" || die "finishing the load failed"
  echo "demo: community loaded in $((SECONDS - t1)) s"
fi

# ---------------------------------------------------------------- a look at it
echo
"${PSQL[@]}" -At <<'SQL' || die "reading the sample article failed"
SELECT coalesce((SELECT article_id FROM drivetribe.article_view
                 ORDER BY score DESC, article_id DESC LIMIT 1), 0) AS top_id \gset
SELECT :top_id > 0 AS has_top \gset
\if :has_top
SELECT format(E'=== top article #%s  in "%s"\n    %s\n    by %s, posted %s\n    %s views | %s comments | %s bumps | score %s',
              article_id, tribe_name, title, author_name,
              to_char(posted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
              views, comments, bumps, round(score::numeric, 3))
FROM drivetribe.article(:top_id);
\echo '    first comments:'
SELECT format('      #%s %s: %s', comment_id, author_name, body)
FROM drivetribe.article_comments(:top_id, 5);
\else
\echo '(no articles)'
\endif
SQL
echo
echo "=== most followed users (drivetribe.user_stats)"
"${PSQL[@]}" -P footer=off -c "SELECT user_id, name, articles, comments, bumps_given, bumps_received, followers, following, tribes
                                FROM drivetribe.user_stats ORDER BY followers DESC, user_id LIMIT 5" || die "user_stats failed"
echo "=== biggest tribes (drivetribe.tribe_stats)"
"${PSQL[@]}" -P footer=off -c "SELECT tribe_id, name, owner_id, members, articles
                                FROM drivetribe.tribe_stats ORDER BY members DESC, tribe_id LIMIT 5" || die "tribe_stats failed"
reader=$("${PSQL[@]}" -Atc "SELECT user_id FROM drivetribe.user_stats ORDER BY tribes + following DESC, user_id LIMIT 1")
if [ -n "$reader" ]; then
  echo "=== the first page of user $reader's feed (drivetribe.feed($reader, 5)): their tribes' and followees' articles, best first"
  "${PSQL[@]}" -P footer=off -c "SELECT article_id, tribe_name, author_name, title, views, comments, bumps, round(score::numeric, 3) AS score
                                  FROM drivetribe.feed($reader, 5)" || die "feed failed"
fi
echo "=== the log (drivetribe.events)"
"${PSQL[@]}" -P footer=off -c "SELECT kind, count(*) AS events FROM drivetribe.events GROUP BY kind ORDER BY 2 DESC" || die "events failed"

echo "demo: ready in $((SECONDS - T0)) s; the cluster keeps running (data in $DIR)"
connect_help
