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
# The network sensor on a sample trace, when the shared sample data is next to the repository.
TRACE=../shared/data/pcap/zeek/wikipedia-default/trace.pcap
if [ -f "$TRACE" ]; then
  OUT=$(mktemp)
  $V replay --stdout "$TRACE" > "$OUT"                             # flow, DNS, HTTP records as JSON lines
  head -n 5 "$OUT"; rm -f "$OUT"
else
  echo "(no $TRACE here: skipping the network sensor demo; vigil replay FILE.pcap --stdout runs it on any trace)"
fi
