# shellcheck shell=bash
# drivetribe: throwaway or persistent PostgreSQL 15 clusters for tests and the
# demo.  Source it:   . scripts/cluster.sh
#
#   dt_cluster_init DIR PORT CRON_DB MODE   create DIR (data in DIR/data, the
#                                           Unix socket in DIR itself, log in
#                                           DIR/server.log) unless it exists;
#                                           MODE=test (fsync off) or durable
#   dt_cluster_start DIR                    start it (no-op when running)
#   dt_cluster_restart DIR                  restart it (or start it)
#   dt_cluster_stop DIR                     stop it (no-op when not running)
#   dt_cluster_remove DIR                   stop it and delete DIR
#   dt_cluster_running DIR                  exit status 0 when it runs
#   dt_cluster_env DIR                      export PGHOST PGPORT PGUSER
#   dt_cluster_port DIR / dt_cluster_listen DIR   its port / listen_addresses
#   dt_cluster_temp PORT CRON_DB [MODE]     a new cluster in a fresh temp dir,
#                                           started, environment exported, and
#                                           stopped and deleted at exit (unless
#                                           DT_KEEP=1); sets DT_CLUSTER_DIR
#
# The server listens on its Unix socket only (listen_addresses = ''), unless
# DT_LISTEN names addresses (the demo sets 127.0.0.1), trust authentication
# (initdb -A trust: the socket, 127.0.0.1/32 and ::1/128 only), superuser
# "postgres".  initdb and postgres refuse to run as
# root: as root, they run as the "postgres" user (runuser), and DIR must be
# somewhere postgres can reach (temp dirs go under /tmp).
# Extra postgresql.conf lines: DT_PG_CONF (newline separated).

DT_PGBIN=${DT_PGBIN:-/usr/lib/postgresql/15/bin}
case ":$PATH:" in *":$DT_PGBIN:"*) ;; *) PATH=$DT_PGBIN:$PATH; export PATH ;; esac
# Output plugins a 15.19+ server may load (the setting does not exist before).
DT_OUTPUT_PLUGINS=${DT_OUTPUT_PLUGINS:-pgoutput, test_decoding, drivetribe, wal2json}

dt__is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a server-side program as the cluster's owner, from a directory it can
# read (the caller's may be /root).
dt_as_pg() {
  if dt__is_root; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

# true when this server has the output_plugin_libraries setting (15.19+)
dt_server_has_output_plugin_libraries() {
  if "$DT_PGBIN/postgres" --describe-config 2>/dev/null | grep -q '^output_plugin_libraries'; then
    return 0
  fi
  # fallback on the version number (>= 15.19)
  local v
  v=$("$DT_PGBIN/postgres" --version 2>/dev/null | sed -n 's/.* \([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 15 ] || { [ "$1" -eq 15 ] && [ "$2" -ge 19 ]; }
}

dt_cluster_init() {
  local dir=$1 port=$2 crondb=$3 mode=${4:-test}
  if [ -f "$dir/data/PG_VERSION" ]; then
    return 0
  fi
  if [ ! -x "$DT_PGBIN/initdb" ]; then
    echo "cluster: $DT_PGBIN/initdb not found (run scripts/install-deps.sh)" >&2
    return 1
  fi
  if dt__is_root && ! id postgres >/dev/null 2>&1; then
    echo "cluster: running as root needs the 'postgres' user (installed with postgresql-15)" >&2
    return 1
  fi
  mkdir -p "$dir" || return 1
  chmod 700 "$dir"
  if dt__is_root; then chown postgres: "$dir" || return 1; fi
  local out
  if ! out=$(dt_as_pg "$DT_PGBIN/initdb" -D "$dir/data" -A trust -U postgres \
               --no-locale -E UTF8 --no-sync 2>&1); then
    echo "cluster: initdb failed:" >&2
    echo "$out" >&2
    return 1
  fi
  local preload=""
  [ -f "$("$DT_PGBIN/pg_config" --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)/pg_cron.so" ] && preload=pg_cron
  {
    echo ""
    echo "# --- drivetribe (scripts/cluster.sh) ---"
    echo "listen_addresses = '${DT_LISTEN:-}'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "unix_socket_permissions = 0700"
    echo "wal_level = logical"
    echo "max_wal_senders = 10"
    echo "max_replication_slots = 10"
    echo "max_worker_processes = 20"
    echo "shared_preload_libraries = '$preload'"
    if [ -n "$preload" ]; then
      echo "cron.database_name = '$crondb'"
      echo "cron.use_background_workers = on"
    fi
    if dt_server_has_output_plugin_libraries; then
      echo "output_plugin_libraries = '$DT_OUTPUT_PLUGINS'"
    fi
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    if [ "$mode" = test ]; then
      # prepared transactions: tests show that nothing hangs on one
      echo "max_prepared_transactions = 10"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
    [ -z "${DT_PG_CONF:-}" ] || printf '%s\n' "$DT_PG_CONF"
  } | dt_as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
}

dt_cluster_running() {
  dt_as_pg "$DT_PGBIN/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

dt_cluster_start() {
  local dir=$1
  dt_cluster_running "$dir" && return 0
  if ! dt_as_pg "$DT_PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 120 start >/dev/null 2>&1; then
    echo "cluster: server in $dir failed to start; end of $dir/server.log:" >&2
    tail -n 30 "$dir/server.log" >&2
    return 1
  fi
}

dt_cluster_restart() {
  local dir=$1
  if dt_cluster_running "$dir"; then
    if ! dt_as_pg "$DT_PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 120 restart >/dev/null 2>&1; then
      echo "cluster: server in $dir failed to restart; end of $dir/server.log:" >&2
      tail -n 30 "$dir/server.log" >&2
      return 1
    fi
  else
    dt_cluster_start "$dir"
  fi
}

dt_cluster_stop() {
  local dir=$1
  [ -f "$dir/data/PG_VERSION" ] || return 0
  dt_cluster_running "$dir" || return 0
  dt_as_pg "$DT_PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
    dt_as_pg "$DT_PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1
}

dt_cluster_remove() {
  local dir=$1
  [ -n "$dir" ] && [ "$dir" != / ] || return 1
  dt_cluster_stop "$dir"
  rm -rf -- "$dir"
}

dt_cluster_port() {
  sed -n "s/^port = \([0-9]*\)$/\1/p" "$1/data/postgresql.conf" 2>/dev/null | tail -n 1
}

# the listen_addresses the cluster's postgresql.conf sets last (empty: socket only)
dt_cluster_listen() {
  sed -n "s/^listen_addresses = '\(.*\)'$/\1/p" "$1/data/postgresql.conf" 2>/dev/null | tail -n 1
}

dt_cluster_env() {
  export PGHOST=$1 PGPORT PGUSER=postgres
  PGPORT=$(dt_cluster_port "$1")
}

DT__TEMP_CLUSTERS=()
dt__cleanup_temp() {
  local d
  for d in "${DT__TEMP_CLUSTERS[@]}"; do
    if [ "${DT_KEEP:-0}" = 1 ]; then
      echo "cluster: kept running in $d (PGHOST=$d PGPORT=$(dt_cluster_port "$d") PGUSER=postgres);" \
           "stop it with: bash -c '. scripts/cluster.sh && dt_cluster_remove $d'" >&2
    else
      dt_cluster_remove "$d"
    fi
  done
  DT__TEMP_CLUSTERS=()
}

dt_cluster_temp() {
  local port=$1 crondb=$2 mode=${3:-test} dir
  dir=$(mktemp -d /tmp/drivetribe-test.XXXXXX) || return 1
  DT__TEMP_CLUSTERS+=("$dir")
  if [ ${#DT__TEMP_CLUSTERS[@]} -eq 1 ]; then
    trap 'dt__cleanup_temp' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
  fi
  DT_CLUSTER_DIR=$dir; export DT_CLUSTER_DIR
  dt_cluster_init "$dir" "$port" "$crondb" "$mode" || return 1
  dt_cluster_start "$dir" || return 1
  dt_cluster_env "$dir"
}
