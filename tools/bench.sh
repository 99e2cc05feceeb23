#!/usr/bin/env bash
# Measures Lake beside Redis itself, in one run on one Redis, so the noise of
# a shared machine hits both: redis-benchmark SET/GET with 64 clients and
# 1 KiB values, then Lake's go test benchmarks (64 goroutines, memory
# storage), each run COUNT times with the median reported.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/redis.sh
COUNT="${COUNT:-5}"
export LAKE_TEST_REDIS_URL="${LAKE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
if ! redis_answers "$LAKE_TEST_REDIS_URL"; then
  start_throwaway_redis
  export LAKE_TEST_REDIS_URL="$THROWAWAY_REDIS_URL"
fi
hostport="${LAKE_TEST_REDIS_URL#*://}"; hostport="${hostport%%/*}"
host="${hostport%:*}"; port="${hostport##*:}"

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(go version | cut -d' ' -f3), $(redis-server --version | cut -d' ' -f3)"
echo "## redis-benchmark -h $host -p $port -c 64 -n 200000 -d 1024 -t set,get (median of $COUNT)"
for i in $(seq "$COUNT"); do
  redis-benchmark -h "$host" -p "$port" -c 64 -n 200000 -d 1024 -t set,get --csv 2>/dev/null | tail -n +2
done | tr -d '"' | awk -F, '{ v[$1] = v[$1] " " $2 } END { for (t in v) { n = split(v[t], a, " "); asort(a); printf "%-4s %10.0f requests/s\n", t, a[int((n + 1) / 2)] } }'

echo "## go test -run '^$' -bench '^Benchmark(Write1KiB|ReadUnchanged|ReadCold1000Deltas)$' -benchmem -count $COUNT . (median of $COUNT)"
go test -run '^$' -bench '^Benchmark(Write1KiB|ReadUnchanged|ReadCold1000Deltas)$' -benchmem -count "$COUNT" . | awk '
  /^Benchmark/ { name = $1; ns[name] = ns[name] " " $3; for (i = 4; i < NF; i++) { if ($(i+1) == "B/op") bop[name] = $i; if ($(i+1) == "allocs/op") aop[name] = $i } }
  END { for (b in ns) { n = split(ns[b], a, " "); asort(a); m = a[int((n + 1) / 2)]; printf "%-34s %12.0f ns/op %10.0f ops/s %8s B/op %6s allocs/op\n", b, m, 1e9 / m, bop[b], aop[b] } }' | sort
