#!/usr/bin/env bash
# Fuzzes every parser in parsers/, both event decoders and the sketch decoders with RUNS inputs each (default 1,000,000),
# and the network analyzers with NET_RUNS each (default RUNS), and prints one line per target.
# Exits non-zero on the first crash (the reproducer is kept).
#   scripts/fuzz-all.sh [RUNS] [NET_RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}
NET_RUNS=${2:-$RUNS}
targets=(event-binary event-json sketch enrich-config regex)
for f in parsers/*.yaml; do targets+=("$(basename "$f" .yaml)"); done
network=(packet packets dns dns-tcp http-request http-response tls-client tls-server ssh-banner quic)
for t in "${targets[@]}" "${network[@]}"; do
  runs=$RUNS
  for n in "${network[@]}"; do [ "$t" = "$n" ] && runs=$NET_RUNS; done
  out=$(bash scripts/fuzz.sh "$t" "$runs" 2>&1) || { echo "$out"; echo "FUZZ FAILURE: $t"; exit 1; }
  runs=$(echo "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
  rate=$(echo "$out" | sed -n 's/^stat::average_exec_per_sec: *//p')
  echo "fuzz $t: $runs inputs, $rate/s, no crash"
done
