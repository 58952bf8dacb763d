#!/usr/bin/env bash
# drivetribe test suite: installs what is missing, builds and installs the
# extension, starts a throwaway PostgreSQL 15 cluster (Unix socket only) and
# runs, against it:
#   regress  make installcheck  (pg_regress: sql/*.sql -> expected/*.out)
#   pgtap    pg_prove, one run per test/pgtap/*.sql, database drivetribe_tap
#   isolation  pg_isolation_regress (test/isolation/specs/*.spec ->
#            test/isolation/expected/*.out) on a fresh database dt_isolation
#            with the extension; each spec's setup builds its own world
#   e2e      every executable test/e2e/*.sh (exit 0 = pass), each with a fresh
#            database drivetribe_e2e (PGHOST PGPORT PGUSER PGDATABASE set, and
#            DT_ROOT = the repository; a script that needs a cluster of its
#            own can `. "$DT_ROOT/scripts/cluster.sh"` and use dt_cluster_temp)
# One test per pg_regress test, per pgTAP file, per isolation spec, per e2e
# script.  Ends with the line "N passed, N failed"; exits non-zero when
# anything failed or a suite could not run.
#
#   bash scripts/test.sh [--keep] [--no-build] [--only regress|pgtap|isolation|e2e]...
#     --keep      leave the cluster running afterwards (prints how to reach it)
#     --no-build  skip installing dependencies and building/installing
#     --only S    run only suite S (repeatable)
#   env: DT_TEST_PORT (default 54310), DT_E2E_TIMEOUT (seconds, default 600),
#        DT_E2E_ONLY (a glob of e2e script names to run, default all),
#        DT_ISOLATION_TIMEOUT (seconds an isolation step may run before it is
#        cancelled, default 30: a step that hangs fails its spec)
set -uo pipefail
shopt -s extglob   # DT_E2E_ONLY may be a pattern such as @(a|b)

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT=$(pwd)
. scripts/cluster.sh

KEEP=0; BUILD=1; ONLY=()
while [ $# -gt 0 ]; do
  case $1 in
    --keep) KEEP=1 ;;
    --no-build) BUILD=0 ;;
    --only) shift; ONLY+=("${1:-}") ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$ROOT/scripts/test.sh"; exit 0 ;;
    *) echo "test: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
want() { [ ${#ONLY[@]} -eq 0 ] && return 0; local s; for s in "${ONLY[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

T0=$SECONDS
PG_CONFIG=$DT_PGBIN/pg_config
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/drivetribe-testlog.XXXXXX")
# ---------------------------------------------------------------- build
if [ $BUILD = 1 ]; then
  if ! bash scripts/build.sh; then echo "0 passed, 1 failed"; exit 1; fi
fi

# ---------------------------------------------------------------- cluster
# shellcheck disable=SC2034  # read by dt__cleanup_temp (cluster.sh)
DT_KEEP=$KEEP
echo "cluster: starting a test cluster"
if ! dt_cluster_temp "${DT_TEST_PORT:-54310}" contrib_regression; then
  echo "cluster: could not start"; echo "0 passed, 1 failed"; exit 1
fi
echo "cluster: PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER ($(psql -XAtc 'show server_version' postgres))"
export PGDATABASE=postgres
# on a signal, end a running e2e script too (timeout passes the signal on),
# then exit: the EXIT trap of cluster.sh stops the cluster
E2E_PID=
stop_e2e() { [ -z "$E2E_PID" ] || kill -TERM "$E2E_PID" 2>/dev/null; }
trap 'stop_e2e; exit 130' INT
trap 'stop_e2e; exit 143' TERM
trap 'stop_e2e; exit 129' HUP

PASS=0; FAIL=0; SUMMARY=()
suite_result() {  # NAME PASSED FAILED [NOTE]
  PASS=$((PASS + $2)); FAIL=$((FAIL + $3))
  SUMMARY+=("$(printf '%-9s %4d passed %4d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}

# ---------------------------------------------------------------- regress
run_regress() {
  local tests=() f
  for f in sql/*.sql; do [ -e "$f" ] && tests+=("$(basename "$f" .sql)"); done
  if [ ${#tests[@]} -eq 0 ]; then echo "regress: no tests in sql/"; suite_result regress 0 0 "no tests"; return; fi
  # a test without an expected file would stop pg_regress at that test: it
  # fails alone, and the others run
  local runnable=() missing=() t
  for t in "${tests[@]}"; do
    if compgen -G "expected/$t.out" >/dev/null || compgen -G "expected/${t}_[0-9].out" >/dev/null; then
      runnable+=("$t")
    else
      missing+=("$t")
    fi
  done
  for t in "${missing[@]}"; do echo "  test $t: FAILED, no expected/$t.out"; done
  if [ ${#runnable[@]} -eq 0 ]; then suite_result regress 0 ${#missing[@]} "no expected files"; return; fi
  echo "regress: make installcheck (${#runnable[@]} tests)"
  local t1=$SECONDS rc
  # results go to a directory of this run: concurrent runs in one tree do not mix
  local out=$LOGDIR/regress
  mkdir -p "$out"
  make installcheck PG_CONFIG="$PG_CONFIG" REGRESS="${runnable[*]}" EXTRA_REGRESS_OPTS="--outputdir=$out ${EXTRA_REGRESS_OPTS:-}" >"$LOGDIR/regress.log" 2>&1; rc=$?
  # PostgreSQL 15:  "test NAME ... ok   12 ms" / "... FAILED" / "... failed (ignored)"
  # (16+: "ok 1  - NAME  12 ms" / "not ok 2 - NAME")
  local ok bad seen
  ok=$(grep -cE '^(test |     )[^ ]+ +\.\.\. ok|^ok [0-9]+ ' "$LOGDIR/regress.log")
  bad=$(grep -cE '^(test |     )[^ ]+ +\.\.\. (FAILED|failed)|^not ok [0-9]+ ' "$LOGDIR/regress.log")
  grep -E '^(test |     )[^ ]+ +\.\.\. |^(not )?ok [0-9]+ ' "$LOGDIR/regress.log" | sed 's/^/  /'
  seen=$((ok + bad))
  local note=""
  if [ $seen -lt ${#runnable[@]} ]; then
    note="$(( ${#runnable[@]} - seen )) did not run"; bad=$(( ${#runnable[@]} - ok ))
  fi
  if [ $rc -ne 0 ] && [ $bad -eq 0 ]; then note="pg_regress failed"; bad=1; fi
  if [ $rc -ne 0 ] || [ $bad -ne 0 ]; then
    if [ -s "$out/regression.diffs" ]; then
      echo "regress: FAILED -- head of $out/regression.diffs:"
      head -n "${DT_DIFF_LINES:-80}" "$out/regression.diffs" | sed "s/^/  | /"
    else
      echo "regress: FAILED (make installcheck exit $rc) -- end of its output:"
      grep -vE "^(test |     )[^ ]+ +\\.\\.\\. |^(not )?ok [0-9]+ " "$LOGDIR/regress.log" | tail -n 25 | sed "s/^/  | /"
    fi
  fi
  echo "regress: $((SECONDS - t1)) s"
  if [ ${#missing[@]} -gt 0 ]; then
    bad=$((bad + ${#missing[@]})); note="${note:+$note, }${#missing[@]} without expected file"
  fi
  suite_result regress "$ok" "$bad" "$note"
}

# ---------------------------------------------------------------- pgtap
run_pgtap() {
  local files=() f
  for f in test/pgtap/*.sql; do [ -e "$f" ] && files+=("$f"); done
  if [ ${#files[@]} -eq 0 ]; then echo "pgtap: no tests in test/pgtap/"; suite_result pgtap 0 0 "no tests"; return; fi
  if ! command -v pg_prove >/dev/null 2>&1; then
    echo "pgtap: pg_prove not found"; suite_result pgtap 0 ${#files[@]} "pg_prove missing"; return
  fi
  echo "pgtap: pg_prove (${#files[@]} files) on database drivetribe_tap"
  local t1=$SECONDS ok=0 bad=0 log n
  if ! { dropdb --if-exists drivetribe_tap && createdb drivetribe_tap; } >"$LOGDIR/pgtap-db.log" 2>&1; then
    echo "pgtap: could not create database drivetribe_tap:"; sed 's/^/  | /' "$LOGDIR/pgtap-db.log"
    suite_result pgtap 0 ${#files[@]} "no database"; return
  fi
  for f in "${files[@]}"; do
    log=$LOGDIR/pgtap-$(basename "$f" .sql).log
    if pg_prove -d drivetribe_tap "$f" >"$log" 2>&1; then
      n=$(sed -n 's/^Files=[0-9]*, Tests=\([0-9]*\),.*/\1/p' "$log")
      printf '  ok      %s (%s assertions)\n' "$f" "${n:-?}"; ok=$((ok + 1))
    else
      printf '  FAILED  %s\n' "$f"; bad=$((bad + 1))
      tail -n 40 "$log" | sed 's/^/  | /'
    fi
  done
  echo "pgtap: $((SECONDS - t1)) s"
  suite_result pgtap $ok $bad
}

# ---------------------------------------------------------------- isolation
run_isolation() {
  local specs=() f
  for f in test/isolation/specs/*.spec; do [ -e "$f" ] && specs+=("$(basename "$f" .spec)"); done
  if [ ${#specs[@]} -eq 0 ]; then echo "isolation: no specs in test/isolation/specs/"; suite_result isolation 0 0 "no tests"; return; fi
  local bin
  bin=$(dirname "$("$PG_CONFIG" --pgxs)")/../test/isolation/pg_isolation_regress
  if [ ! -x "$bin" ]; then
    echo "isolation: $bin not found"; suite_result isolation 0 ${#specs[@]} "pg_isolation_regress missing"; return
  fi
  # a spec without an expected file would stop pg_isolation_regress at that
  # spec: it fails alone, and the others run
  local runnable=() missing=() t
  for t in "${specs[@]}"; do
    if compgen -G "test/isolation/expected/$t.out" >/dev/null || compgen -G "test/isolation/expected/${t}_[0-9].out" >/dev/null; then
      runnable+=("$t")
    else
      missing+=("$t")
    fi
  done
  for t in "${missing[@]}"; do echo "  test $t: FAILED, no test/isolation/expected/$t.out"; done
  if [ ${#runnable[@]} -eq 0 ]; then suite_result isolation 0 ${#missing[@]} "no expected files"; return; fi
  echo "isolation: pg_isolation_regress (${#runnable[@]} specs) on database dt_isolation"
  local t1=$SECONDS rc
  if ! { dropdb --if-exists dt_isolation && createdb dt_isolation &&
         psql -XAq -v ON_ERROR_STOP=1 -d dt_isolation -c 'CREATE EXTENSION drivetribe'; } >"$LOGDIR/isolation-db.log" 2>&1; then
    echo "isolation: could not create database dt_isolation:"; sed 's/^/  | /' "$LOGDIR/isolation-db.log"
    suite_result isolation 0 ${#specs[@]} "no database"; return
  fi
  # results go to a directory of this run: concurrent runs in one tree do not mix
  local out=$LOGDIR/isolation
  mkdir -p "$out"
  # a step that never completes (a lock wait that the spec does not expect)
  # is cancelled after DT_ISOLATION_TIMEOUT seconds instead of 300, and the
  # run gives up on it after twice that
  PGISOLATIONTIMEOUT=${DT_ISOLATION_TIMEOUT:-30} "$bin" --use-existing --dbname=dt_isolation --inputdir=test/isolation --outputdir="$out" \
    "${runnable[@]}" >"$LOGDIR/isolation.log" 2>&1; rc=$?
  # PostgreSQL 15:  "test NAME ... ok   12 ms" / "... FAILED" / "... failed (ignored)"
  # (16+: "ok 1  - NAME  12 ms" / "not ok 2 - NAME")
  local ok bad seen
  ok=$(grep -cE '^(test |     )[^ ]+ +\.\.\. ok|^ok [0-9]+ ' "$LOGDIR/isolation.log")
  bad=$(grep -cE '^(test |     )[^ ]+ +\.\.\. (FAILED|failed)|^not ok [0-9]+ ' "$LOGDIR/isolation.log")
  grep -E '^(test |     )[^ ]+ +\.\.\. |^(not )?ok [0-9]+ ' "$LOGDIR/isolation.log" | sed 's/^/  /'
  seen=$((ok + bad))
  local note=""
  if [ $seen -lt ${#runnable[@]} ]; then
    note="$(( ${#runnable[@]} - seen )) did not run"; bad=$(( ${#runnable[@]} - ok ))
  fi
  if [ $rc -ne 0 ] && [ $bad -eq 0 ]; then note="pg_isolation_regress failed"; bad=1; fi
  if [ $rc -ne 0 ] || [ $bad -ne 0 ]; then
    if [ -s "$out/regression.diffs" ]; then
      echo "isolation: FAILED -- head of $out/regression.diffs:"
      head -n "${DT_DIFF_LINES:-80}" "$out/regression.diffs" | sed "s/^/  | /"
    else
      echo "isolation: FAILED (pg_isolation_regress exit $rc) -- end of its output:"
      grep -vE "^(test |     )[^ ]+ +\\.\\.\\. |^(not )?ok [0-9]+ " "$LOGDIR/isolation.log" | tail -n 25 | sed "s/^/  | /"
    fi
  fi
  echo "isolation: $((SECONDS - t1)) s"
  if [ ${#missing[@]} -gt 0 ]; then
    bad=$((bad + ${#missing[@]})); note="${note:+$note, }${#missing[@]} without expected file"
  fi
  suite_result isolation "$ok" "$bad" "$note"
}

# ---------------------------------------------------------------- e2e
run_e2e() {
  local files=() f
  for f in test/e2e/${DT_E2E_ONLY:-*}.sh; do [ -f "$f" ] && [ -x "$f" ] && files+=("$f"); done
  if [ ${#files[@]} -eq 0 ]; then echo "e2e: no executable test/e2e/*.sh"; suite_result e2e 0 0 "no tests"; return; fi
  echo "e2e: ${#files[@]} scripts, each on a fresh database drivetribe_e2e"
  local t1=$SECONDS ok=0 bad=0 log rc t2
  for f in "${files[@]}"; do
    log=$LOGDIR/e2e-$(basename "$f" .sh).log
    t2=$SECONDS
    if ! { dropdb --if-exists drivetribe_e2e && createdb drivetribe_e2e; } >"$LOGDIR/e2e-db.log" 2>&1; then
      printf '  FAILED  %s (could not create database)\n' "$f"; sed 's/^/  | /' "$LOGDIR/e2e-db.log"; bad=$((bad + 1)); continue
    fi
    # timeout runs the script in a process group of its own, which a Ctrl-C
    # does not reach: wait for it in the background so that a signal stops
    # the run at once (see the traps below)
    DT_ROOT=$ROOT PGDATABASE=drivetribe_e2e timeout "${DT_E2E_TIMEOUT:-600}" "$ROOT/$f" </dev/null >"$log" 2>&1 &
    E2E_PID=$!
    wait "$E2E_PID"; rc=$?
    E2E_PID=
    if [ $rc -eq 0 ]; then
      printf '  ok      %s (%d s)\n' "$f" $((SECONDS - t2)); ok=$((ok + 1))
    else
      [ $rc -eq 124 ] && rc="$rc, timed out"
      printf '  FAILED  %s (exit %s, %d s)\n' "$f" "$rc" $((SECONDS - t2)); bad=$((bad + 1))
      tail -n 40 "$log" | sed 's/^/  | /'
    fi
  done
  echo "e2e: $((SECONDS - t1)) s"
  suite_result e2e $ok $bad
}

want regress && run_regress
want pgtap && run_pgtap
want isolation && run_isolation
want e2e && run_e2e

# a server that died under the tests fails the run even if every test passed
if ! dt_cluster_running "$DT_CLUSTER_DIR"; then
  echo "cluster: the server is no longer running; end of its log:"
  tail -n 30 "$DT_CLUSTER_DIR/server.log" | sed 's/^/  | /'
  suite_result cluster 0 1 "server died"
elif grep -qE "terminated by signal (4|6|7|8|11)|terminated by exception" "$DT_CLUSTER_DIR/server.log"; then
  echo "cluster: a backend crashed during the tests:"
  grep -E "terminated by signal|terminated by exception" "$DT_CLUSTER_DIR/server.log" | head -n 5 | sed 's/^/  | /'
  suite_result cluster 0 1 "backend crash"
fi

echo "---- summary ($((SECONDS - T0)) s; logs in $LOGDIR)"
printf '%s\n' "${SUMMARY[@]}"
rc=0
if [ $FAIL -ne 0 ]; then rc=1; fi
if [ $((PASS + FAIL)) -eq 0 ]; then echo "test: no test ran"; rc=1; fi
[ $rc -eq 0 ] && [ $KEEP = 0 ] && rm -rf "$LOGDIR"
if [ $KEEP = 1 ]; then
  echo "cluster: kept running: export PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=postgres"
  echo "cluster: stop and delete it with: bash -c '. scripts/cluster.sh && dt_cluster_remove $DT_CLUSTER_DIR'"
  # shellcheck disable=SC2034  # the list cluster.sh stops at exit
  DT__TEMP_CLUSTERS=()
fi
echo "$PASS passed, $FAIL failed"
exit $rc
