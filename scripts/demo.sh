#!/usr/bin/env bash
# Installs what is missing, builds Vigil (release) and runs the pipeline on the bundled sample data
# with the embedded broker: no servers needed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
swift build -c release --product vigil
.build/release/vigil run --config deploy/vigil.yaml
.build/release/vigil topics list --config deploy/vigil.yaml
