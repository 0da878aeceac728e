#!/usr/bin/env bash
# Installs what is missing, builds Vigil and its tests, and runs them (unit, integration, crash tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
swift build --build-tests
swift test
