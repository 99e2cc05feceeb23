#!/usr/bin/env bash
# Measures the lake command's own benchmark beside Redis, in one run on one
# Redis: redis-benchmark SET/GET (1 KiB values) and one EVAL per request
# (a Lake commit is one script call), then `lake bench write`, `read` and
# `mixed` (64 clients, 1 KiB values, memory storage), ROUNDS times in turn so
# that a shared machine's noise hits both sides alike, and compares the
# medians: Lake write ops/s against EVAL requests/s, Lake read ops/s against
# GET requests/s.
#
# Env: LAKE_TEST_REDIS_URL (default redis://127.0.0.1:6379; a throwaway
# redis-server is started when none answers), CLIENTS (64), DURATION (10s),
# ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/redis.sh
CLIENTS="${CLIENTS:-64}"
DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-3}"
bench_redis
url="$BENCH_REDIS_URL"
redis_cleanup="$BENCH_REDIS_CLEANUP"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"; '"$redis_cleanup" EXIT
hostport="${url#*://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"
host="${hostport%:*}"; port="${hostport##*:}"
[ "$host" = "$hostport" ] && port=6379

go build -o "$tmp/lake" ./cmd/lake

# json_field FILE KEY prints the value of KEY in the JSON object in FILE.
json_field() {
  if command -v jq >/dev/null; then
    jq -r ".$2" "$1"
  else
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
  fi
}

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(go version | cut -d' ' -f3), $(redis-server --version 2>/dev/null | cut -d' ' -f3 || echo 'redis ?'), Redis at $host:$port; $ROUNDS rounds, medians"
evalscript="redis.call('set',KEYS[1],ARGV[1]) return 1"
echo "## redis-benchmark -c $CLIENTS -n 200000 -d 1024 -t set,get"
echo "## redis-benchmark -c $CLIENTS -n 200000 eval \"$evalscript\" 1 lakebench:evalkey x"
for op in write read mixed; do
  echo "## lake bench $op --json --clients $CLIENTS --duration $DURATION --value-size 1024 --storage memory"
done

# results.tsv: one line per measurement: name, rate, p99 ms (or -).
: >"$tmp/results.tsv"
for round in $(seq "$ROUNDS"); do
  redis-benchmark -h "$host" -p "$port" -c "$CLIENTS" -n 200000 -d 1024 -t set,get --csv 2>/dev/null |
    tail -n +2 | tr -d '"' | awk -F, '{ print $1 "\t" $2 "\t-" }' >>"$tmp/results.tsv"
  redis-benchmark -h "$host" -p "$port" -c "$CLIENTS" -n 200000 --csv eval "$evalscript" 1 lakebench:evalkey x 2>/dev/null |
    tail -n +2 | awk -F'","' '{ gsub(/"/, "", $2); print "EVAL\t" $2 "\t-" }' >>"$tmp/results.tsv"
  redis-cli -h "$host" -p "$port" del lakebench:evalkey >/dev/null 2>&1 || true
  for op in write read mixed; do
    "$tmp/lake" --meta "$url" bench "$op" --json --clients "$CLIENTS" --duration "$DURATION" --value-size 1024 --storage memory >"$tmp/$op.json"
    echo "round $round: $(cat "$tmp/$op.json")"
    printf 'lake-%s\t%s\t%s\n' "$op" "$(json_field "$tmp/$op.json" ops_per_sec)" "$(json_field "$tmp/$op.json" p99_ms)" >>"$tmp/results.tsv"
  done
done

# median NAME COLUMN prints the median of a column over the rounds.
median() {
  awk -F'\t' -v n="$1" -v c="$2" '$1 == n { v[++k] = $c } END { asort(v); print (k ? v[int((k + 1) / 2)] : 0) }' "$tmp/results.tsv"
}
echo "## medians of $ROUNDS rounds"
for name in SET GET EVAL; do
  printf '%-4s %10.0f requests/s\n' "$name" "$(median "$name" 2)"
done
echo "## Lake beside Redis"
awk -v w="$(median lake-write 2)" -v e="$(median EVAL 2)" -v r="$(median lake-read 2)" -v g="$(median GET 2)" \
  -v m="$(median lake-mixed 2)" -v p="$(median lake-write 3)" 'BEGIN {
  printf "%-18s %12s   %-10s %12s   %s\n", "", "ops/s", "", "requests/s", "ratio"
  printf "%-18s %12.0f   %-10s %12.0f   %.2f\n", "Lake write", w, "vs EVAL", e, (e > 0 ? w / e : 0)
  printf "%-18s %12.0f   %-10s %12.0f   %.2f\n", "Lake read", r, "vs GET", g, (g > 0 ? r / g : 0)
  printf "%-18s %12.0f\n", "Lake mixed", m
  printf "%-18s %12.3f ms\n", "Lake write p99", p
}'
