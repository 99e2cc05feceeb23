#!/usr/bin/env bash
# Runs Lake's quick start (examples/quickstart) against a Redis of its own: a
# throwaway redis-server on a free loopback port, stopped afterwards. A lake
# without a config keeps bodies in memory, so a fresh Redis is what makes
# every run start from the same place. Set LAKE_META to use another lake.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/redis.sh
if [ -z "${LAKE_META:-}" ]; then
  start_throwaway_redis
  export LAKE_META="$THROWAWAY_REDIS_URL"
fi
echo "quickstart: lake at $LAKE_META" >&2
go run ./examples/quickstart
