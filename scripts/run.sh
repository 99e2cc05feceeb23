#!/usr/bin/env bash
# Runs Lake's quick start: a Redis must answer at localhost:6379, so one is
# started there (and stopped afterwards) when none does.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/redis.sh
if ! redis_answers redis://127.0.0.1:6379; then
  ensure_redis_server
  echo "run: starting redis-server on 127.0.0.1:6379 for this run" >&2
  dir="$(mktemp -d)"
  redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no --logfile "$dir/redis.log" &
  pid=$!
  trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
  for _ in $(seq 100); do redis_answers redis://127.0.0.1:6379 && break; sleep 0.1; done
fi
go run ./examples/quickstart
