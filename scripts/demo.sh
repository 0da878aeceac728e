#!/usr/bin/env bash
# Installs what is missing, builds Vigil (release) and runs the pipeline on the bundled sample data
# with the embedded broker: no servers needed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
swift build -c release --product vigil
V=.build/release/vigil
$V parsers test --config deploy/vigil.yaml                       # every parser's examples
$V run --config deploy/vigil.yaml                                # sample events → broker → printed
$V ingest --parser syslog --config deploy/vigil.yaml deploy/sample/auth.log || true   # one line is rejected on purpose
$V topics tail errors --config deploy/vigil.yaml                 # …with its reason and original bytes
$V topics list --config deploy/vigil.yaml
