#!/usr/bin/env bash
# Installs the Debian packages Vigil needs that are missing (apt-get update first), and checks the
# Swift toolchain. Safe to run again: it installs nothing when everything is present.
set -euo pipefail
PACKAGES=(pkg-config util-linux coreutils libssl-dev openssl libpcap-dev libmaxminddb-dev libsqlite3-dev libzstd-dev liblz4-dev librdkafka-dev tcpdump tshark softflowd publicsuffix
  iproute2 dnsmasq-base bind9-dnsutils curl python3)  # the second line: the live capture test's network, servers and clients
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The peer of `vigil bench sketch` (Apache DataSketches' Python bindings, from PyPI); optional.
if ! python3 -c "import datasketches" 2>/dev/null; then
  python3 -m pip install --quiet datasketches 2>/dev/null || echo "note: pip install datasketches failed; vigil bench sketch will report its peer as not measured"
fi
if ! command -v swift >/dev/null 2>&1; then
  [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "Swift 6.1 or later is required: https://www.swift.org/install/linux/" >&2; exit 1; }
