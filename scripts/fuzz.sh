#!/usr/bin/env bash
# Fuzzes a parser or decoder with libFuzzer + AddressSanitizer.
#   scripts/fuzz.sh TARGET [RUNS] [extra libFuzzer args…]
# TARGET: a parser name from parsers/ (syslog, sshd, cef, json, …), event-binary / event-json, or a
# network analyzer: dns, dns-tcp, http-request, http-response, tls-client, tls-server, ssh-banner.
# Seeds: the parser's examples and real samples when present (corpus kept in .build-fuzz/corpus/TARGET).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:?usage: scripts/fuzz.sh TARGET [RUNS]}
RUNS=${2:-1000000}
shift $(( $# > 1 ? 2 : 1 ))
swift build --scratch-path .build-fuzz --product VigilFuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DVIGIL_FUZZ >/dev/null
BIN=$(swift build --scratch-path .build-fuzz --show-bin-path)/VigilFuzz
CORPUS=.build-fuzz/corpus/$TARGET
mkdir -p "$CORPUS"
# Seed with the parser's example lines.
if [ -f "parsers/$TARGET.yaml" ]; then
  python3 - "$TARGET" "$CORPUS" <<'PY' || true
import sys, yaml, hashlib, os
name, corpus = sys.argv[1], sys.argv[2]
doc = yaml.safe_load(open(f"parsers/{name}.yaml"))
for ex in doc.get("examples", []) or []:
    line = ex.get("line", "").encode()
    open(os.path.join(corpus, hashlib.sha1(line).hexdigest()), "wb").write(line)
PY
fi
export VIGIL_FUZZ_TARGET=$TARGET SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
mkdir -p .build-fuzz/artifacts
# Leak detection is off: the Swift runtime and Regex keep process-lifetime caches that
# LeakSanitizer reports; crashes, overflows and use-after-free are still caught by ASan.
"$BIN" -runs="$RUNS" -max_len=4096 -detect_leaks=0 -print_final_stats=1 -artifact_prefix=.build-fuzz/artifacts/"$TARGET"- \
  "$@" "$CORPUS" 2>&1 | tail -n 12
