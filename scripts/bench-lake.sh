#!/usr/bin/env bash
# Measures the lake command's own benchmark beside Redis, in one run on one
# Redis: redis-benchmark SET/GET (1 KiB values) and one EVAL per request
# (a Lake commit is one script call), then `lake bench write` and
# `lake bench read` (64 clients, 1 KiB values, memory storage), and compares
# them: Lake write ops/s against EVAL requests/s, Lake read ops/s against
# GET requests/s.
#
# Env: LAKE_TEST_REDIS_URL (default redis://127.0.0.1:6379; a throwaway
# redis-server is started when none answers), CLIENTS (64), DURATION (10s).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/redis.sh
CLIENTS="${CLIENTS:-64}"
DURATION="${DURATION:-10s}"
url="${LAKE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
redis_cleanup=""
if ! redis_answers "$url"; then
  start_throwaway_redis
  url="$THROWAWAY_REDIS_URL"
  # start_throwaway_redis set an EXIT trap; keep its command to run it too.
  eval "set -- $(trap -p EXIT)"
  redis_cleanup="${3:-}"
fi
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

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(go version | cut -d' ' -f3), $(redis-server --version 2>/dev/null | cut -d' ' -f3 || echo 'redis ?'), Redis at $host:$port"

echo "## redis-benchmark -c $CLIENTS -n 200000 -d 1024 -t set,get"
redis-benchmark -h "$host" -p "$port" -c "$CLIENTS" -n 200000 -d 1024 -t set,get --csv 2>/dev/null |
  tail -n +2 | tr -d '"' | cut -d, -f1,2 >"$tmp/redis.csv"
awk -F, '{ printf "%-4s %10.0f requests/s\n", $1, $2 }' "$tmp/redis.csv"
evalscript="redis.call('set',KEYS[1],ARGV[1]) return 1"
echo "## redis-benchmark -c $CLIENTS -n 200000 eval \"$evalscript\" 1 lakebench:evalkey x"
redis-benchmark -h "$host" -p "$port" -c "$CLIENTS" -n 200000 --csv eval "$evalscript" 1 lakebench:evalkey x 2>/dev/null |
  tail -n +2 | awk -F'","' '{ gsub(/"/, "", $2); print "EVAL," $2 }' >>"$tmp/redis.csv"
redis-cli -h "$host" -p "$port" del lakebench:evalkey >/dev/null 2>&1 || true
awk -F, '$1 == "EVAL" { printf "%-4s %10.0f requests/s\n", $1, $2 }' "$tmp/redis.csv"
rps() { awk -F, -v t="$1" '$1 == t { print $2 }' "$tmp/redis.csv"; }

for op in write read; do
  echo "## lake bench $op --json --clients $CLIENTS --duration $DURATION --value-size 1024 --storage memory"
  "$tmp/lake" --meta "$url" bench "$op" --json --clients "$CLIENTS" --duration "$DURATION" --value-size 1024 --storage memory >"$tmp/$op.json"
  cat "$tmp/$op.json"
done

write_ops="$(json_field "$tmp/write.json" ops_per_sec)"
read_ops="$(json_field "$tmp/read.json" ops_per_sec)"
write_p99="$(json_field "$tmp/write.json" p99_ms)"
echo "## Lake beside Redis"
awk -v w="$write_ops" -v e="$(rps EVAL)" -v r="$read_ops" -v g="$(rps GET)" -v p="$write_p99" 'BEGIN {
  printf "%-18s %12s   %-10s %12s   %s\n", "", "ops/s", "", "requests/s", "ratio"
  printf "%-18s %12.0f   %-10s %12.0f   %.2f\n", "Lake write", w, "vs EVAL", e, (e > 0 ? w / e : 0)
  printf "%-18s %12.0f   %-10s %12.0f   %.2f\n", "Lake read", r, "vs GET", g, (g > 0 ? r / g : 0)
  printf "%-18s %12.3f ms\n", "Lake write p99", p
}'
