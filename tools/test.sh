#!/usr/bin/env bash
# Runs every Lake test against real parts. It needs only Go: a Redis is found
# at LAKE_TEST_REDIS_URL (default redis://127.0.0.1:6379) or started on a
# free loopback port (redis-server is installed from Debian packages if it is
# missing and we are root).
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/redis.sh

export LAKE_TEST_REDIS_URL="${LAKE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
if ! redis_answers "$LAKE_TEST_REDIS_URL"; then
  echo "test: no Redis at $LAKE_TEST_REDIS_URL; starting a throwaway redis-server" >&2
  start_throwaway_redis
  export LAKE_TEST_REDIS_URL="$THROWAWAY_REDIS_URL"
fi
echo "test: Redis at $LAKE_TEST_REDIS_URL" >&2
# Tests also start redis-servers of their own (restarts, replicas, a
# cluster) and run the README's curl examples.
ensure_redis_server
ensure_command curl curl

go mod download
echo "test: go vet" >&2
go vet ./...
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
  echo "test: gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "test: go test -race" >&2
go test -race -count=1 -timeout 20m "$@" ./...
