# shellcheck shell=bash
# Helpers for e2e scripts that need the binaries of the server under test
# (a cluster of their own must run the same installation, and
# drivetribe-consume is installed beside it).

# e2e_use_server_bindir: the running server's bindir (its checkpointer's
# executable), else DT_PGBIN, else Debian's; exported as DT_PGBIN and put
# first in PATH
e2e_use_server_bindir() {
  local bindir="" ckpt exe
  ckpt=$(psql -X -At -d postgres -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" 2>/dev/null || true)
  if [ -n "$ckpt" ] && exe=$(readlink "/proc/$ckpt/exe" 2>/dev/null) && [ -x "$(dirname "$exe")/pg_ctl" ]; then
    bindir=$(dirname "$exe")
  fi
  DT_PGBIN=${bindir:-${DT_PGBIN:-/usr/lib/postgresql/15/bin}}
  export DT_PGBIN
  PATH=$DT_PGBIN:$PATH
}
