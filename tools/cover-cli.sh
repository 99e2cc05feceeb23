#!/usr/bin/env bash
# Measures the lake command's test coverage. Its tests mostly run a built
# binary, which `go test -cover` does not see (it counts only the test
# process, about a quarter of the statements): with
# LAKE_COVERDIR set, TestMain builds the binary with `go build -cover` and
# every run of it writes its counters there (GOCOVERDIR); the test process
# writes its own there too (-test.gocoverdir). `go tool covdata percent`
# then adds them up. Extra arguments go to go test (e.g. -run TestHelp).
#
# Env: LAKE_TEST_REDIS_URL (default redis://127.0.0.1:6379; a throwaway
# redis-server is started when none answers), as for tools/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/redis.sh
export LAKE_TEST_REDIS_URL="${LAKE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
redis_cleanup=""
if ! redis_answers "$LAKE_TEST_REDIS_URL"; then
  echo "cover-cli: no Redis at $LAKE_TEST_REDIS_URL; starting a throwaway redis-server" >&2
  start_throwaway_redis
  export LAKE_TEST_REDIS_URL="$THROWAWAY_REDIS_URL"
  # start_throwaway_redis set an EXIT trap; keep its command to run it too.
  eval "set -- $(trap -p EXIT)"
  redis_cleanup="${3:-}"
fi
coverdir="$(mktemp -d)"
trap 'rm -rf "$coverdir"; '"$redis_cleanup" EXIT

LAKE_COVERDIR="$coverdir" go test -count=1 -cover "$@" ./cmd/lake/ -args -test.gocoverdir="$coverdir" >&2
go tool covdata percent -i "$coverdir" -pkg github.com/hkloudou/lake/v2/cmd/lake
