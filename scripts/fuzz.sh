#!/usr/bin/env bash
# Fuzzes a parser or decoder with libFuzzer + AddressSanitizer.
#   scripts/fuzz.sh TARGET [RUNS] [extra libFuzzer args…]
# TARGET: a parser name from parsers/ (syslog, sshd, cef, json, …), event-binary / event-json, or a
# network target: packet, packets (decoder, flows and analyzers), dns, dns-tcp, http-request,
# http-response, tls-client, tls-server, ssh-banner, quic; or sketch (every VigilSketch decoder: HyperLogLog,
# Bloom, Count-Min, heavy hitters, running moments, reservoirs; what decodes is merged and re-serialized);
# or regex (the rules' regex engine: pattern, 0x00, subject).
# Seeds: the parser's examples and real samples when present (corpus kept in .build-fuzz/corpus/TARGET).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:?usage: scripts/fuzz.sh TARGET [RUNS]}
RUNS=${2:-1000000}
shift $(( $# > 1 ? 2 : 1 ))
# VIGIL_FUZZ_BIN names an already built VigilFuzz (long runs from a copy while the tree changes).
if [ -n "${VIGIL_FUZZ_BIN:-}" ]; then
  BIN=$VIGIL_FUZZ_BIN
else
  swift build --scratch-path .build-fuzz --product VigilFuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DVIGIL_FUZZ >/dev/null
  BIN=$(swift build --scratch-path .build-fuzz --show-bin-path)/VigilFuzz
fi
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
# Seed the sketch target with one small valid encoding of each sketch (docs/sketches.md).
if [ "$TARGET" = sketch ]; then
  python3 - "$CORPUS" <<'PY' || true
import sys, os, struct, hashlib
corpus = sys.argv[1]
def varint(v):
    out = b""
    while v >= 0x80: out += bytes([v & 0x7F | 0x80]); v >>= 7
    return out + bytes([v])
def head(t): return bytes([0x56, t, 1])
seeds = []
entries = sorted([(5 << 6) | 3, (100 << 6) | 1, (70000 << 6) | 7])
body, prev = b"", 0
for e in entries: body += varint(e - prev); prev = e
seeds.append(head(1) + bytes([8]) + struct.pack("<Q", 0) + b"\0" + varint(len(entries)) + body)
seeds.append(head(1) + bytes([4]) + struct.pack("<Q", 1) + b"\1" + bytes([0x41, 0x10, 0x04] * 4))
seeds.append(head(2) + struct.pack("<QBQ", 0, 3, 2) + struct.pack("<QQ", 0x1000000100, 0x80000000000))
cms = struct.pack("<QIBQ", 0, 4, 2, 3) + struct.pack("<8Q", 1, 2, 0, 0, 0, 0, 3, 0)
seeds.append(head(3) + cms)
seeds.append(head(4) + varint(2) + cms + varint(1) + varint(1) + b"a")
seeds.append(head(5) + struct.pack("<Qdddd", 2, 1.5, 0.5, 1.0, 2.0))
seeds.append(head(6) + varint(2) + struct.pack("<Q4Q", 3, 1, 2, 3, 4) + varint(2) + b"\1a\1b")
for s in seeds: open(os.path.join(corpus, hashlib.sha1(s).hexdigest()), "wb").write(s)
PY
fi
# Seed the regex target with patterns (pattern, 0x00, subject) from docs/regex.md's syntax.
if [ "$TARGET" = regex ]; then
  python3 - "$CORPUS" <<'PY' || true
import sys, os, hashlib
corpus = sys.argv[1]
seeds = [r"(?i)powershell.*-enc(odedcommand)?\s", r"\b(?:\d{1,3}\.){3}\d{1,3}\b", r"^[A-Z][a-z]{2} [ 0-9]\d",
         r"(?x) a+ # c\n [^\]x-z[:alpha:]]{2,5}?", r"(?<n>a|b)*?c\z", r"(?s:.)(?m)^$\Z\A\B", r"\x{e9}\u00e9\Q.*\E\cA\0",
         r"(?i:ΣΑΣ|привет|ÿ)+", r"(a?){30}a{30}", r"(?=x)(?<=y)\1\p{L}(?>a)a*+"]
for s in seeds:
    data = s.encode() + b"\0" + b"xx aaa PowerShell -enc 10.0.0.1 \xff\xc3\xa9 \xce\xa3 c\n"
    open(os.path.join(corpus, hashlib.sha1(data).hexdigest()), "wb").write(data)
PY
fi
export VIGIL_FUZZ_TARGET=$TARGET SWIFT_BACKTRACE=enable=no ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
mkdir -p .build-fuzz/artifacts
# Leak detection is off: the Swift runtime and Regex keep process-lifetime caches that
# LeakSanitizer reports; crashes, overflows and use-after-free are still caught by ASan.
"$BIN" -runs="$RUNS" -max_len=4096 -detect_leaks=0 -print_final_stats=1 -artifact_prefix=.build-fuzz/artifacts/"$TARGET"- \
  "$@" "$CORPUS" 2>&1 | tail -n 12
