# Sourced by the tools/*.sh shell tools: find or start a Redis.

# redis_answers URL: true if a Redis at URL answers PING.
redis_answers() {
  local hostport host port
  hostport="${1#*://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"; hostport="${hostport%%\?*}"
  host="${hostport%:*}"; port="${hostport##*:}"
  [ "$host" = "$hostport" ] && port=6379
  [ -z "$host" ] && host=127.0.0.1
  local reply
  reply="$( (exec 3<>"/dev/tcp/$host/$port" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3) 2>/dev/null || true)"
  [[ "$reply" == +PONG* || "$reply" == -NOAUTH* ]]
}

# ensure_command CMD PACKAGE: installs the Debian PACKAGE when CMD is
# missing and we are root; fails when CMD is still missing.
ensure_command() {
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "tools: installing $2 from Debian packages" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2
  fi
  command -v "$1" >/dev/null || { echo "tools: $1 is not installed and could not be installed" >&2; return 1; }
}

ensure_redis_server() { ensure_command redis-server redis-server; }

# start_throwaway_redis: starts redis-server on a free loopback port, without
# persistence, stopped when the calling shell exits. Sets THROWAWAY_REDIS_URL.
start_throwaway_redis() {
  ensure_redis_server
  local port dir
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))"
  dir="$(mktemp -d)"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no \
    --logfile "$dir/redis.log" &
  THROWAWAY_REDIS_PID=$!
  trap 'kill "$THROWAWAY_REDIS_PID" 2>/dev/null; rm -rf "'"$dir"'"' EXIT
  THROWAWAY_REDIS_URL="redis://127.0.0.1:$port"
  for _ in $(seq 100); do
    redis_answers "$THROWAWAY_REDIS_URL" && return 0
    sleep 0.1
  done
  echo "redis: redis-server did not start on port $port:" >&2
  cat "$dir/redis.log" >&2
  return 1
}

# bench_redis: the Redis a benchmark runs against: LAKE_TEST_REDIS_URL
# (default the local one), or a throwaway one when none answers. Sets
# BENCH_REDIS_URL, and BENCH_REDIS_CLEANUP: the command that stops the
# throwaway one, for the caller's own EXIT trap (which replaces the one
# start_throwaway_redis set).
bench_redis() {
  BENCH_REDIS_URL="${LAKE_TEST_REDIS_URL:-redis://127.0.0.1:6379}"
  BENCH_REDIS_CLEANUP=""
  if ! redis_answers "$BENCH_REDIS_URL"; then
    start_throwaway_redis
    BENCH_REDIS_URL="$THROWAWAY_REDIS_URL"
    eval "set -- $(trap -p EXIT)"
    BENCH_REDIS_CLEANUP="${3:-}"
  fi
}
