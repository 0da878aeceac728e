#!/usr/bin/env bash
# Fuzzes a parser or decoder with libFuzzer + AddressSanitizer.
#   scripts/fuzz.sh TARGET [RUNS] [extra libFuzzer args…]
# TARGET: a parser name from parsers/ (syslog, sshd, cef, json, …), event-binary / event-json, or a
# network target: packet, packets (decoder, flows and analyzers), dns, dns-tcp, http-request,
# http-response, tls-client, tls-server, ssh-banner, quic.
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
# Seed the packet targets with the frames of the sample traces (classic pcap, Ethernet).
SHARED=${VIGIL_SHARED_DATA:-../shared/data}
if { [ "$TARGET" = packet ] || [ "$TARGET" = packets ]; } && [ -d "$SHARED/pcap" ]; then
  python3 - "$TARGET" "$CORPUS" "$SHARED/pcap" <<'PY' || true
import sys, os, struct, hashlib, glob
target, corpus, root = sys.argv[1:4]
def frames(path):
    data = open(path, "rb").read()
    if len(data) < 24: return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"): e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"): e = ">"
    else: return
    if struct.unpack(e + "I", data[20:24])[0] != 1: return
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
        yield data[off + 16:off + 16 + incl]
        off += 16 + incl
for path in sorted(glob.glob(root + "/**/*.pcap", recursive=True)):
    fs = list(frames(path))
    if target == "packet":
        for f in fs[:200]:
            seed = b"\x00" + f[:4000]
            open(os.path.join(corpus, hashlib.sha1(seed).hexdigest()), "wb").write(seed)
    else:
        seed = b""
        for f in fs:
            f = f[:1500]
            if len(seed) + 2 + len(f) > 4096: break
            seed += struct.pack(">H", len(f)) + f
        if seed: open(os.path.join(corpus, hashlib.sha1(seed).hexdigest()), "wb").write(seed)
PY
fi
export VIGIL_FUZZ_TARGET=$TARGET SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
mkdir -p .build-fuzz/artifacts
# Leak detection is off: the Swift runtime and Regex keep process-lifetime caches that
# LeakSanitizer reports; crashes, overflows and use-after-free are still caught by ASan.
"$BIN" -runs="$RUNS" -max_len=4096 -detect_leaks=0 -print_final_stats=1 -artifact_prefix=.build-fuzz/artifacts/"$TARGET"- \
  "$@" "$CORPUS" 2>&1 | tail -n 12
