#!/usr/bin/env bash
# Measures Lake's write path on S3 against the raw baseline, in one run on
# one machine: a throwaway versitygw on a loopback port (its POSIX backend in
# a temporary directory, one bucket) holds the bodies; a lake config naming
# it is stored under a fresh --key-prefix on Redis. ROUNDS times in turn, so
# that the machine's noise hits both sides alike:
#
#   lake bench put      --storage config --clients 64    raw PutObject loop
#   lake bench write    --storage config --clients 64    (16 catalogs, as below)
#   lake bench put      --storage config --clients 512
#   lake bench write    --storage config --clients 512
#   lake bench write    --storage config --clients 1     sequential latency
#   lake bench coldread --storage config --deltas 1000   GETs and latency per cold read
#
# then ROUNDS times `lake bench write --storage local --clients 64`. All with
# 1 KiB values; every write run spreads over 16 catalogs. It prints the CPU
# model, the load average, every command, each run's JSON, and the medians:
# Lake write ops/s over raw put ops/s at 64 and 512 clients, PUTs per write,
# single-client p50/p99, the cold read's GETs and p50/p99, local writes/s.
#
# Env: LAKE_TEST_REDIS_URL (default redis://127.0.0.1:6379; a throwaway
# redis-server is started when none answers), DURATION (10s), ROUNDS (5),
# DELTAS (1000), LAKE_VERSITYGW (a versitygw binary; default the one
# `go install` puts in GOBIN or GOPATH/bin, built when missing, as the S3
# tests do). Everything it starts or stores is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/redis.sh
DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-5}"
DELTAS="${DELTAS:-1000}"
bench_redis
url="$BENCH_REDIS_URL"
redis_cleanup="$BENCH_REDIS_CLEANUP"
ensure_command redis-cli redis-tools

tmp="$(mktemp -d)"
prefix="lakebenchpacks:$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n'):"
vgw_pid=""
cleanup() {
  if [ -n "$vgw_pid" ]; then
    kill "$vgw_pid" 2>/dev/null || true
    wait "$vgw_pid" 2>/dev/null || true
  fi
  # The config, and whatever an interrupted bench left under the prefix.
  redis-cli -u "$url" --scan --pattern "${prefix}*" 2>/dev/null | xargs -r -n 500 redis-cli -u "$url" del >/dev/null 2>&1 || true
  rm -rf "$tmp"
  eval "$redis_cleanup"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# versitygw: the binary the S3 tests use (internal/s3test), built the same
# way when missing.
vgw_version="$(sed -n 's/^const Version = "\(.*\)"$/\1/p' internal/s3test/s3test.go)"
vgw="${LAKE_VERSITYGW:-}"
if [ -z "$vgw" ]; then
  gobin="$(go env GOBIN)"
  [ -n "$gobin" ] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
  vgw="$gobin/versitygw"
  if ! "$vgw" --version >/dev/null 2>&1; then
    echo "bench-packs: building versitygw $vgw_version (go install; minutes on a cold module cache)" >&2
    (cd "$tmp" && go install "github.com/versity/versitygw/cmd/versitygw@$vgw_version")
  fi
fi
"$vgw" --version >/dev/null

go build -o "$tmp/lake" ./cmd/lake
lake() { "$tmp/lake" --meta "$url" --key-prefix "$prefix" "$@"; }

# A throwaway versitygw on a free loopback port.
vgw_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))"
access="lake-bench-access"
secret="lake-bench-secret-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
mkdir "$tmp/s3"
# Without the variables versitygw reads, as the S3 tests start it.
# shellcheck disable=SC2046
env $(env | awk -F= '/^(VGW_|ROOT_)|^(LOGFILE|WEBHOOK)=/ { printf "-u %s ", $1 }') "$vgw" --port "127.0.0.1:$vgw_port" --access "$access" --secret "$secret" --region us-east-1 --quiet \
  posix "$tmp/s3" >"$tmp/versitygw.log" 2>&1 &
vgw_pid=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$vgw_port") 2>/dev/null && break
  sleep 0.1
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$vgw_port") 2>/dev/null; then
  echo "bench-packs: versitygw did not start:" >&2
  cat "$tmp/versitygw.log" >&2
  exit 1
fi
bucket="lake-bench-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
cfg="{\"storage\":\"s3\",\"endpoint\":\"http://127.0.0.1:$vgw_port\",\"region\":\"us-east-1\",\"bucket\":\"$bucket\",\"access_key\":\"$access\",\"secret_key\":\"$secret\"}"
lake config set --create-bucket "$cfg" >/dev/null 2>"$tmp/config.log" || { cat "$tmp/config.log" >&2; exit 1; }

# json_field FILE KEY prints the value of KEY in the JSON object in FILE
# ("null" when absent).
json_field() {
  if command -v jq >/dev/null; then
    jq -r ".$2" "$1"
  else
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]))' "$1" "$2"
  fi
}

common=(--json --duration "$DURATION" --value-size 1024)
# name: the bench's arguments after `lake bench`.
declare -A runs=(
  [put-64]="put --storage config --clients 64"
  [write-64]="write --storage config --clients 64 --catalogs 16"
  [put-512]="put --storage config --clients 512"
  [write-512]="write --storage config --clients 512 --catalogs 16"
  [write-1]="write --storage config --clients 1 --catalogs 16"
  [coldread]="coldread --storage config --deltas $DELTAS"
  [local-write-64]="write --storage local --clients 64 --catalogs 16"
)
order=(put-64 write-64 put-512 write-512 write-1 coldread)

echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(go version | cut -d' ' -f3), versitygw $vgw_version on 127.0.0.1:$vgw_port (posix backend, $(df -P "$tmp" | awk 'NR == 2 { print $1 }')), Redis at ${url#*://}; $ROUNDS rounds, medians; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for name in "${order[@]}" local-write-64; do
  echo "## lake --meta URL --key-prefix PREFIX bench ${runs[$name]} ${common[*]}"
done

# results.tsv: one line per run: name and the fields the summary uses.
fields=(ops_per_sec p50_ms p99_ms puts_per_write gets_per_read errors)
: >"$tmp/results.tsv"
failed=0
measure() { # measure ROUND NAME
  local out="$tmp/$2.json"
  # shellcheck disable=SC2086 # the arguments are words
  if ! lake bench ${runs[$2]} "${common[@]}" >"$out" 2>"$tmp/$2.err"; then
    echo "round $1: $2 FAILED: $(tail -n 3 "$tmp/$2.err" | tr '\n' ' ')"
    failed=$((failed + 1))
    [ -s "$out" ] || return 0
  fi
  echo "round $1: $2 (load $(cut -d' ' -f1 /proc/loadavg)) $(cat "$out")"
  local line="$2" f
  for f in "${fields[@]}"; do line+=$'\t'"$(json_field "$out" "$f")"; done
  echo "$line" >>"$tmp/results.tsv"
}
for round in $(seq "$ROUNDS"); do
  for name in "${order[@]}"; do measure "$round" "$name"; done
done
for round in $(seq "$ROUNDS"); do measure "$round" local-write-64; done

# median NAME FIELD prints the median of FIELD over the rounds.
median() {
  local col i
  for i in "${!fields[@]}"; do [ "${fields[$i]}" = "$2" ] && col=$((i + 2)); done
  awk -F'\t' -v n="$1" -v c="$col" '$1 == n && $c != "null" { v[++k] = $c } END { asort(v); print (k ? v[int((k + 1) / 2)] : "nan") }' "$tmp/results.tsv"
}
echo "## medians of $ROUNDS rounds (1 KiB values; S3 = versitygw on loopback)"
awk -v p64="$(median put-64 ops_per_sec)" -v w64="$(median write-64 ops_per_sec)" \
  -v p512="$(median put-512 ops_per_sec)" -v w512="$(median write-512 ops_per_sec)" \
  -v ppw64="$(median write-64 puts_per_write)" -v ppw512="$(median write-512 puts_per_write)" \
  -v s50="$(median write-1 p50_ms)" -v s99="$(median write-1 p99_ms)" -v s1="$(median write-1 ops_per_sec)" \
  -v c50="$(median coldread p50_ms)" -v c99="$(median coldread p99_ms)" -v cg="$(median coldread gets_per_read)" \
  -v l64="$(median local-write-64 ops_per_sec)" -v deltas="$DELTAS" 'BEGIN {
  printf "%-34s %10s %10s %8s %12s\n", "", "lake ops/s", "raw put/s", "lake/raw", "puts/write"
  printf "%-34s %10.0f %10.0f %8.2f %12.3f\n", "S3 writes, 64 clients", w64, p64, (p64 > 0 ? w64 / p64 : 0), ppw64
  printf "%-34s %10.0f %10.0f %8.2f %12.3f\n", "S3 writes, 512 clients", w512, p512, (p512 > 0 ? w512 / p512 : 0), ppw512
  printf "%-34s %10.0f ops/s  p50 %.3f ms  p99 %.3f ms\n", "S3 writes, 1 client", s1, s50, s99
  printf "%-34s %10.1f GETs/read  p50 %.3f ms  p99 %.3f ms\n", "S3 cold read, " deltas " deltas", cg, c50, c99
  printf "%-34s %10.0f ops/s\n", "local writes, 64 clients", l64
}'
if [ "$failed" -gt 0 ]; then
  echo "bench-packs: $failed run(s) failed" >&2
  exit 1
fi
