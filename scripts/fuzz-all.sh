#!/usr/bin/env bash
# Fuzzes every parser in parsers/ and both event decoders with RUNS inputs each (default 1,000,000)
# and prints one line per target. Exits non-zero on the first crash (the reproducer is kept).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}
targets=(event-binary event-json)
for f in parsers/*.yaml; do targets+=("$(basename "$f" .yaml)"); done
for t in "${targets[@]}"; do
  out=$(bash scripts/fuzz.sh "$t" "$RUNS" 2>&1) || { echo "$out"; echo "FUZZ FAILURE: $t"; exit 1; }
  runs=$(echo "$out" | sed -n 's/^stat::number_of_executed_units: *//p')
  rate=$(echo "$out" | sed -n 's/^stat::average_exec_per_sec: *//p')
  echo "fuzz $t: $runs inputs, $rate/s, no crash"
done
