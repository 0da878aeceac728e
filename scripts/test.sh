#!/usr/bin/env bash
# Installs what is missing, builds Vigil and its tests, and runs them (unit, integration, crash tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
swift build --build-tests
swift test
# A short fuzz of every parser and decoder (libFuzzer + AddressSanitizer); scripts/fuzz-all.sh 1000000 for the long run.
bash scripts/fuzz-all.sh "${VIGIL_CI_FUZZ_RUNS:-3000}"
