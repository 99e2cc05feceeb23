#!/usr/bin/env bash
# Measures what background compaction does to Redis under sustained writes,
# and what it costs them, in one run on one Redis: a throwaway redis-server
# on a port of its own (started here with tools/redis.sh, so that its
# used_memory is this run's alone, and FLUSHALLed before every run). ROUNDS
# times, alternating which goes first:
#
#   lake bench write --storage local --ops OPS --clients 64 --catalogs 100 --value-size 128
#     --compact-every 1s --compact-min-age 1s --compact-keep 1000   (with)
#     --compact-every off                                            (without)
#
# each with --sample-memory (used_memory once a second). It prints the CPU
# model, every command and each run's JSON, then: write throughput per round
# and the medians, their ratio (with / without), used_memory at 200,000
# writes and at the end for both and the ratio of the two, the growth per
# write without compaction, and renders the median round (by the with
# runs' throughput) as a PNG with tools/plotmem.
#
# Bodies go to --storage local (a temporary directory): background
# compaction skips bodies held in process memory.
#
# Env: ROUNDS (3), OPS (2000000), CLIENTS (64), CATALOGS (100), VALUE_SIZE
# (128), WITH_FLAGS (the with runs' compaction flags, default as above;
# "--compact-every 0" is the library's default policy), RESULTS (a
# directory for the CSVs and JSONs; default a new temporary one, kept), PNG
# (BENCHMARKS-redis-memory.png in the repository root). Everything else it
# starts or writes is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/redis.sh
ROUNDS="${ROUNDS:-3}"
OPS="${OPS:-2000000}"
CLIENTS="${CLIENTS:-64}"
CATALOGS="${CATALOGS:-100}"
VALUE_SIZE="${VALUE_SIZE:-128}"
RESULTS="${RESULTS:-$(mktemp -d /tmp/lake-lifecycle.XXXXXX)}"
PNG="${PNG:-BENCHMARKS-redis-memory.png}"
WITH_FLAGS="${WITH_FLAGS:---compact-every 1s --compact-min-age 1s --compact-keep 1000}"
AT=200000 # the write count the end is compared with: the tail is full by then
ensure_command redis-cli redis-tools
mkdir -p "$RESULTS"

# A Redis of this run's own: FLUSHALL between runs must erase nothing else,
# and used_memory must count nothing else.
start_throwaway_redis
url="$THROWAWAY_REDIS_URL"
eval "set -- $(trap -p EXIT)"
redis_cleanup="${3:-}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"; '"$redis_cleanup" EXIT
trap 'exit 130' INT TERM

go build -o "$tmp/lake" ./cmd/lake
(cd tools/plotmem && go build -o "$tmp/plotmem" .)

# json_field FILE KEY prints the value of KEY in the JSON object in FILE.
json_field() {
  if command -v jq >/dev/null; then
    jq -r ".$2" "$1"
  else
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
  fi
}

# mem_stats CSV prints, from a --sample-memory file: the first sample's
# used_memory; the ops and used_memory of the first sample at AT writes or
# more; the last sample's ops and used_memory; the highest used_memory from
# AT writes on.
mem_stats() {
  awk -F, -v at="$AT" 'NR == 1 { next }
    NR == 2 { first = $3 }
    $2 >= at && !seen { seen = 1; ops_at = $2; used_at = $3 }
    seen && $3 > peak { peak = $3 }
    { ops_end = $2; used_end = $3 }
    END { print first, ops_at + 0, used_at + 0, ops_end, used_end, peak + 0 }' "$1"
}

model="$(lscpu 2>/dev/null | awk -F: '/^Model name/ { sub(/^[ \t]+/, "", $2); print $2; exit }')"
echo "# $(date -u +%Y-%m-%dT%H:%MZ) CPU: ${model:-unknown}, $(nproc) cores, $(go version | cut -d' ' -f3), redis $(redis-server --version 2>/dev/null | sed -n 's/.*v=\([^ ]*\).*/\1/p') on $url (throwaway, no persistence); $ROUNDS rounds, medians; results in $RESULTS"
common=(bench write --json --storage local --ops "$OPS" --clients "$CLIENTS" --catalogs "$CATALOGS" --value-size "$VALUE_SIZE")
read -r -a with_flags <<<"$WITH_FLAGS"
without_flags=(--compact-every off)
echo "## with:    lake --meta $url ${common[*]} ${with_flags[*]} --sample-memory $RESULTS/with-ROUND.csv"
echo "## without: lake --meta $url ${common[*]} ${without_flags[*]} --sample-memory $RESULTS/without-ROUND.csv"

# results.tsv: round, mode, ops/s, p99 ms, gets per write, puts per write.
: >"$RESULTS/results.tsv"
for round in $(seq "$ROUNDS"); do
  order="with without"
  [ $((round % 2)) = 0 ] && order="without with"
  for mode in $order; do
    redis-cli -u "$url" flushall >/dev/null
    if [ "$mode" = with ]; then flags=("${with_flags[@]}"); else flags=("${without_flags[@]}"); fi
    "$tmp/lake" --meta "$url" "${common[@]}" "${flags[@]}" --sample-memory "$RESULTS/$mode-$round.csv" >"$RESULTS/$mode-$round.json"
    echo "round $round $mode: $(cat "$RESULTS/$mode-$round.json")"
    ops="$(json_field "$RESULTS/$mode-$round.json" ops)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$mode" "$(json_field "$RESULTS/$mode-$round.json" ops_per_sec)" \
      "$(json_field "$RESULTS/$mode-$round.json" p99_ms)" \
      "$(awk -v g="$(json_field "$RESULTS/$mode-$round.json" gets)" -v n="$ops" 'BEGIN { printf "%.3f", g / n }')" \
      "$(json_field "$RESULTS/$mode-$round.json" puts_per_write)" >>"$RESULTS/results.tsv"
  done
done
redis-cli -u "$url" flushall >/dev/null

# median MODE COLUMN prints the median of a column of results.tsv over the
# rounds of MODE.
median() {
  awk -F'\t' -v m="$1" -v c="$2" '$2 == m { v[++k] = $c } END { asort(v); print (k ? v[int((k + 1) / 2)] : 0) }' "$RESULTS/results.tsv"
}
with_median="$(median with 3)"
without_median="$(median without 3)"
# The median round: the one whose with run's throughput is the median.
median_round="$(awk -F'\t' -v m="$with_median" '$2 == "with" && $3 == m { print $1; exit }' "$RESULTS/results.tsv")"

echo "## write throughput (ops/s)"
printf '%-6s %12s %12s %8s   %s\n' round with without ratio "gets/write with, without"
for round in $(seq "$ROUNDS"); do
  awk -F'\t' -v r="$round" '$1 == r { t[$2] = $3; g[$2] = $5 } END {
    printf "%-6s %12.0f %12.0f %8.3f   %s, %s\n", r, t["with"], t["without"], t["with"] / t["without"], g["with"], g["without"] }' "$RESULTS/results.tsv"
done
awk -v w="$with_median" -v o="$without_median" 'BEGIN {
  printf "%-6s %12.0f %12.0f %8.3f   (medians; target: with >= 0.9x without: %s)\n", "median", w, o, w / o, (w / o >= 0.9 ? "met" : "NOT met") }'
echo "## Redis used_memory (MB), every round (* the median round, plotted)"
printf '%-6s %-8s %10s %14s %10s %12s %14s %10s\n' round mode start "at writes" "MB there" "end MB" "peak from $AT" "end/at"
for round in $(seq "$ROUNDS"); do
  for mode in with without; do
    read -r first ops_at used_at ops_end used_end peak < <(mem_stats "$RESULTS/$mode-$round.csv")
    mark=" "
    [ "$round" = "$median_round" ] && mark="*"
    awk -v r="$round$mark" -v m="$mode" -v f="$first" -v oa="$ops_at" -v ua="$used_at" -v ue="$used_end" -v p="$peak" 'BEGIN {
      printf "%-6s %-8s %10.1f %14d %10.1f %12.1f %14.1f %10.3f\n", r, m, f / 1e6, oa, ua / 1e6, ue / 1e6, p / 1e6, (ua > 0 ? ue / ua : 0) }'
  done
done
read -r _ w_ops_at w_at w_ops_end w_end w_peak < <(mem_stats "$RESULTS/with-$median_round.csv")
read -r o_first o_ops_at o_at o_ops_end o_end _ < <(mem_stats "$RESULTS/without-$median_round.csv")
echo "## median round ($median_round)"
awk -v wa="$w_at" -v we="$w_end" -v wp="$w_peak" -v woa="$w_ops_at" -v woe="$w_ops_end" \
  -v of="$o_first" -v oa="$o_at" -v oe="$o_end" -v ooa="$o_ops_at" -v ooe="$o_ops_end" 'BEGIN {
  printf "with compaction:    %.1f MB at %d writes, %.1f MB at %d (end), end/at = %.3f (target <= 1.2: %s); peak from there %.1f MB\n",
    wa / 1e6, woa, we / 1e6, woe, we / wa, (we / wa <= 1.2 ? "met" : "NOT met"), wp / 1e6
  printf "without compaction: %.1f MB at %d writes, %.1f MB at %d (end), end/at = %.3f\n", oa / 1e6, ooa, oe / 1e6, ooe, oe / oa
  printf "growth without compaction: %.1f bytes per delta from %d writes to the end, %.1f over the whole run\n",
    (oe - oa) / (ooe - ooa), ooa, (oe - of) / ooe
}'
"$tmp/plotmem" --with "$RESULTS/with-$median_round.csv" --without "$RESULTS/without-$median_round.csv" --out "$PNG" \
  --title "Redis used_memory, lake bench write --storage local, ${CATALOGS} catalogs (round $median_round of $ROUNDS)"
echo "## wrote $PNG"
