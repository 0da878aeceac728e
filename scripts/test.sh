#!/usr/bin/env bash
# Installs what is missing, builds Vigil and its tests, and runs them (unit, integration, crash tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
swift build --build-tests
# A Kafka-protocol broker (Tansu) on loopback and librdkafka 2.16 for the Kafka tests (docs/kafka.md).
# Assigned first, then evaluated: a failed start fails the run instead of skipping those tests.
KAFKA_ENV=$(bash scripts/kafka-test-env.sh start)
eval "$KAFKA_ENV"
trap 'bash scripts/kafka-test-env.sh stop' EXIT
swift test
# The block layout's writer once depended on lifetimes that only an optimized build shortens
# (docs/alerts.md): its regression test runs against a release binary as well.
swift build -c release --product vigil
VIGIL_EXECUTABLE="$(swift build -c release --show-bin-path)/vigil" swift test --skip-build --filter blocksWrittenInSmallBatchesStayReadable
# A short fuzz of every parser and decoder (libFuzzer + AddressSanitizer); scripts/fuzz-all.sh 1000000 for the long run.
bash scripts/fuzz-all.sh "${VIGIL_CI_FUZZ_RUNS:-3000}"
