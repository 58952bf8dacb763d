#!/usr/bin/env bash
# Smoke run of the benchmark suite: `test/bench/run.sh --smoke` (every case
# for a few transactions per client on small data, in a durable cluster of
# its own on a port of its own) exits 0, its table has a row for every case
# (ten hot-key rows), no figure failed, and it drew a PNG chart.  The
# results go to a temp dir, never to test/bench/results/.  Takes seconds;
# the full suite (bash test/bench/run.sh) is not part of the tests.
set -euo pipefail
root=${DT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
out=$(mktemp -d "${TMPDIR:-/tmp}/dt-bench-smoke.XXXXXX")
trap 'rm -rf "$out"' EXIT
port=${DT_BENCH_SMOKE_PORT:-$(( ${PGPORT:-54310} + 40 ))}

t0=$SECONDS
if ! DT_BENCH_PORT=$port bash "$root/test/bench/run.sh" --smoke --out "$out" >"$out/stdout" 2>&1; then
  echo "run.sh --smoke failed; end of its output:"
  tail -n 40 "$out/stdout"
  exit 1
fi
echo "run.sh --smoke: $((SECONDS - t0)) s"

for f in latest.md latest.tsv latest.png; do
  [ -s "$out/$f" ] || { echo "missing $out/$f"; ls -la "$out"; exit 1; }
done
# a PNG starts with \x89PNG
[ "$(head -c 4 "$out/latest.png" | tail -c 3)" = PNG ] || { echo "latest.png is not a PNG"; exit 1; }

bad=0
for c in hot ceiling card vote plpgsql rebuild rename projections online_update online_rebuild; do
  n=$(awk -F'\t' -v c="$c" 'NR > 1 && $1 == c' "$out/latest.tsv" | wc -l)
  if [ "$n" -lt 1 ]; then echo "no row for case $c in latest.tsv"; bad=1; fi
done
hot=$(awk -F'\t' 'NR > 1 && $1 == "hot"' "$out/latest.tsv" | wc -l)
[ "$hot" -eq 10 ] || { echo "expected 10 hot-key rows, got $hot"; bad=1; }
# every figure has a number on both sides and a verdict
errs=$(awk -F'\t' 'NR > 1 && ($4 == "ERR" || $5 == "ERR" || $7 == "ERR" || $9 == "error")' "$out/latest.tsv" | wc -l)
[ "$errs" -eq 0 ] || { echo "$errs figures failed:"; awk -F'\t' 'NR > 1 && $9 == "error"' "$out/latest.tsv"; bad=1; }
# the markdown table: header, separator and one line per figure
rows=$(grep -c '^|' "$out/latest.md" || true)
figs=$(( $(wc -l <"$out/latest.tsv") - 1 ))
[ "$rows" -eq $((figs + 2)) ] || { echo "latest.md has $rows table lines for $figs figures"; bad=1; }
grep -q '^| figure | ours | baseline | ratio | goal | met? |$' "$out/latest.md" || { echo "latest.md lacks the table header"; bad=1; }
if [ $bad -ne 0 ]; then
  cat "$out/latest.md"
  exit 1
fi
echo "bench smoke: $figs figures, chart $(wc -c <"$out/latest.png") bytes"
