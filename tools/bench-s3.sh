#!/usr/bin/env bash
# S3 write/read throughput and latency, plain beside encrypted, 64 clients,
# against a loopback versitygw. The two variants alternate ROUNDS times so
# that the machine's noise hits both alike; medians are reported.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-5}"
out="$(mktemp)"
for i in $(seq "$ROUNDS"); do
  for b in 'S3Write1KiB$' 'S3WriteEncrypted1KiB$' 'S3Read$' 'S3ReadEncrypted$'; do
    go test -run '^$' -bench "Benchmark$b" -benchtime 2s -count 1 . 2>/dev/null | grep '^Benchmark' >> "$out"
  done
done
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(go version | cut -d' ' -f3); median of $ROUNDS alternating rounds"
awk '{ for (i = 1; i <= NF; i++) { if ($(i+1) == "ops/s") o[$1] = o[$1] " " $i; if ($(i+1) == "p50-ms") p[$1] = p[$1] " " $i; if ($(i+1) == "p99-ms") q[$1] = q[$1] " " $i } }
  function med(s,  a, n) { n = split(s, a, " "); asort(a); return a[int((n + 1) / 2)] }
  END { for (b in o) printf "%-34s %8.0f ops/s  p50 %7.1f ms  p99 %7.1f ms\n", b, med(o[b]), med(p[b]), med(q[b]) }' "$out" | sort
rm -f "$out"
