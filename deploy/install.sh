#!/bin/sh
# Installs Vigil: the binary, the systemd units, /etc/vigil (configuration, parsers, rules,
# enrichment) and the data directory /var/lib/vigil (mode 0700, owned by the vigil user).
# Idempotent: running it again updates the binary and units and keeps an existing
# /etc/vigil/vigil.yaml and data.
#
#   deploy/install.sh [--binary PATH] [--prefix DIR] [--dry-run] [--no-user] [--enable UNIT]
#
#   --binary PATH  the vigil executable to install (default: .build/release/vigil, else .build/debug/vigil)
#   --prefix DIR   install under DIR instead of / (a staging root, like DESTDIR): no user is created,
#                  no ownership changed, systemd is not reloaded; the units still name the final paths
#   --dry-run      print what would be done, change nothing
#   --no-user      do not create the vigil user and group
#   --enable UNIT  enable and start UNIT after installing (vigil, vigil-sensor, vigil-indexer, vigil-stream@1)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
prefix=/
binary=
dry_run=0
create_user=1
enable=

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --binary) binary=${2:?--binary needs a path}; shift 2 ;;
        --binary=*) binary=${1#--binary=}; shift ;;
        --dry-run) dry_run=1; shift ;;
        --no-user) create_user=0; shift ;;
        --enable) enable="$enable ${2:?--enable needs a unit}"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "$binary" ]; then
    for candidate in "$repo/.build/release/vigil" "$repo/.build/debug/vigil"; do
        if [ -x "$candidate" ]; then binary=$candidate; break; fi
    done
fi
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    echo "install.sh: no vigil binary (build with 'swift build -c release' or pass --binary PATH)" >&2
    exit 1
fi

root=${prefix%/}
staged=0
[ -n "$root" ] && staged=1
if [ "$staged" = 0 ] && [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: installing into / needs root (or use --prefix DIR for a staging root)" >&2
    exit 1
fi

run() {
    if [ "$dry_run" = 1 ]; then echo "would run: $*"; else "$@"; fi
}

# The user: a system account without a shell or home of its own.
if [ "$staged" = 0 ] && [ "$create_user" = 1 ]; then
    if getent passwd vigil >/dev/null 2>&1; then
        echo "user vigil exists"
    else
        run useradd --system --user-group --home-dir /var/lib/vigil --no-create-home --shell /usr/sbin/nologin vigil
    fi
fi

# Directories.
run install -d -m 0755 "$root/usr/local/bin" "$root/etc/systemd/system" "$root/usr/local/share/doc/vigil"
run install -d -m 0750 "$root/etc/vigil"
run install -d -m 0700 "$root/var/lib/vigil"
if [ "$staged" = 0 ] && [ "$create_user" = 1 ]; then
    run chown vigil:vigil "$root/var/lib/vigil"
    run chown root:vigil "$root/etc/vigil"
fi

# The binary and the units (replaced on every run).
run install -m 0755 "$binary" "$root/usr/local/bin/vigil"
for unit in "$here"/systemd/*.service; do
    run install -m 0644 "$unit" "$root/etc/systemd/system/$(basename "$unit")"
done
run install -m 0644 "$here/README.md" "$root/usr/local/share/doc/vigil/README.md"

# Parsers, rules and enrichment definitions: replaced, so upgrades bring new ones.
for dir in parsers rules enrichment; do
    if [ -d "$repo/$dir" ]; then
        run rm -rf "$root/etc/vigil/$dir.new"
        run cp -R "$repo/$dir" "$root/etc/vigil/$dir.new"
        run rm -rf "$root/etc/vigil/$dir"
        run mv "$root/etc/vigil/$dir.new" "$root/etc/vigil/$dir"
    fi
done

# The configuration: installed once, never overwritten (a newer example goes next to it).
if [ -e "$root/etc/vigil/vigil.yaml" ]; then
    echo "keeping $root/etc/vigil/vigil.yaml (the current example: $root/etc/vigil/vigil.yaml.example)"
    run install -m 0640 "$here/single-node.yaml" "$root/etc/vigil/vigil.yaml.example"
else
    run install -m 0640 "$here/single-node.yaml" "$root/etc/vigil/vigil.yaml"
fi
if [ "$staged" = 0 ] && [ "$create_user" = 1 ]; then
    run chown root:vigil "$root/etc/vigil/vigil.yaml"
fi

if [ "$staged" = 0 ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
    for unit in $enable; do run systemctl enable --now "$unit"; done
elif [ -n "$enable" ]; then
    echo "not enabling$enable: no running systemd here (or a staged --prefix install)"
fi
echo "vigil installed under ${root:-/}"
