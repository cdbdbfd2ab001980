#!/usr/bin/env bash
# Usage: bench/ab-checkpoint.sh OLD_BINARY NEW_BINARY [ROUNDS] [KEYS] [MODES]
#   Session 6's A/B (docs/benchmarks.md): checkpoint write and load of KEYS (default 10,000,000)
#   keys with two release builds, ROUNDS (default 3) alternating rounds per mode (MODES, default
#   "sequential sparse"). OLD_BINARY is a `binlog-reconciler` from before the benchmarks left the
#   product (it has the hidden `bench-checkpoint`), NEW_BINARY a `binlog-reconciler-bench` (its
#   `checkpoint`); both print one JSON line (write_s, load_s, bytes, peak extra memory). Each run is
#   timed with `/usr/bin/time -v` (wall, user+sys CPU, peak RSS of the whole process: building
#   the map, the stall and concurrent-write measurements included). Builds nothing; holds
#   /tmp/swift-build.lock while measuring so that no build runs meanwhile. Prints a Markdown table
#   (median and min of each figure) and keeps every run in $OUT (default /tmp/ab-checkpoint).
set -euo pipefail
OLD=${1:?usage: bench/ab-checkpoint.sh OLD_BINARY NEW_BINARY [ROUNDS] [KEYS] [MODES]}
NEW=${2:?usage: bench/ab-checkpoint.sh OLD_BINARY NEW_BINARY [ROUNDS] [KEYS] [MODES]}
ROUNDS=${3:-3} KEYS=${4:-10000000} MODES=${5:-sequential sparse}
OUT=${OUT:-/tmp/ab-checkpoint}
rm -rf "$OUT"; mkdir -p "$OUT"
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 1; }
one() {  # label mode: one run, appends "wall cpu rss_kb write_s load_s bytes" to $OUT/label-mode
  local label=$1 mode=$2 dir="$OUT/store-$1-$2"
  rm -rf "$dir"
  if [[ $label == old ]]; then cmd=("$OLD" bench-checkpoint); else cmd=("$NEW" checkpoint); fi
  /usr/bin/time -v -o "$OUT/time" "${cmd[@]}" --keys "$KEYS" --mode "$mode" --dir "$dir" > "$OUT/json" 2> "$OUT/err" \
    || { cat "$OUT/err" >&2; exit 1; }
  cat "$OUT/json" >> "$OUT/$label-$mode.jsonl"
  local wall cpu rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$OUT/time")
  cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.2f", u+s}' "$OUT/time")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$OUT/time")
  echo "$wall $cpu $rss $(jq -r '"\(.write_s) \(.load_s) \(.file_bytes)"' "$OUT/json")" >> "$OUT/$label-$mode"
  rm -rf "$dir"
}
exec 9>/tmp/swift-build.lock; flock 9
for r in $(seq "$ROUNDS"); do
  for mode in $MODES; do
    if (( r % 2 )); then one old "$mode"; one new "$mode"; else one new "$mode"; one old "$mode"; fi
  done
done
flock -u 9
col() {  # file column -> "median min all"
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{v[NR]=$1; all=all (NR>1?" ":"") $1} END {printf "%s %s %s\n", v[int((NR+1)/2)], v[1], all}'
}
echo "$KEYS keys, $ROUNDS alternating rounds, $(nproc) cores, $(date -u '+%F %H:%M') UTC"
echo
echo "| mode | build | write s (median, min) | load s (median, min) | process wall s (median, min) | process CPU s (median) | peak RSS MB (median) | file bytes | write runs | load runs |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|---|"
for mode in $MODES; do
  for label in old new; do
    f="$OUT/$label-$mode"
    read -r wm wn wa <<<"$(col "$f" 4)"; read -r lm ln la <<<"$(col "$f" 5)"
    read -r pm pn _ <<<"$(col "$f" 1)"; read -r cm _ _ <<<"$(col "$f" 2)"; read -r rm _ _ <<<"$(col "$f" 3)"
    read -r bm _ _ <<<"$(col "$f" 6)"
    awk -v m="$mode" -v l="$label" -v wm="$wm" -v wn="$wn" -v lm="$lm" -v ln="$ln" -v pm="$pm" -v pn="$pn" -v cm="$cm" -v rm="$rm" -v bm="$bm" -v wa="$wa" -v la="$la" 'BEGIN {
      printf "| %s | %s | %.2f (%.2f) | %.2f (%.2f) | %.2f (%.2f) | %.2f | %.0f | %d | %s | %s |\n", m, l, wm, wn, lm, ln, pm, pn, cm, rm/1024, bm, wa, la }'
  done
done
