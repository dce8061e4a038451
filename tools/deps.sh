#!/bin/sh
# Install the Debian 12 packages plumb needs, and only the missing ones.
# Runs apt-get directly as root (containers, CI) and through sudo otherwise.
#
# usage: tools/deps.sh [--test] [--list] [--dry-run]
#   (none)     what building and running plumb needs
#   --test     also what the test suite needs (tools/check-all.sh): the man
#              page checker, SIMDe, the aarch64 cross compiler and qemu,
#              clang and its fuzzer runtime, python3; openssl, brotli, zstd and
#              python3-protego for the fetch tests
#   --list     print the missing packages, one line, and install nothing
#   --dry-run  print the apt-get commands instead of running them
# Exits 0 when everything asked for is installed (or was installed now).
set -u

build_pkgs="build-essential autoconf automake libtool pkg-config
            libsleef-dev libutf8proc-dev zlib1g-dev libjansson-dev
            libxml2-dev libsqlite3-dev libmbedtls-dev libcurl4-openssl-dev
            bubblewrap poppler-utils python3"
test_pkgs="groff-base libsimde-dev gcc-aarch64-linux-gnu qemu-user
           clang libclang-rt-14-dev openssl iproute2 brotli zstd python3-protego"

pkgs=$build_pkgs
list=no
dry=no
for a in "$@"; do
    case $a in
    --test) pkgs="$build_pkgs $test_pkgs" ;;
    --list) list=yes ;;
    --dry-run) dry=yes ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "deps.sh: unknown option $a (try --help)" >&2; exit 2 ;;
    esac
done

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system; install the equivalents of:" >&2
    echo "  "$pkgs >&2
    exit 1
fi

missing=
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
missing=${missing# }

if [ $list = yes ]; then
    [ -z "$missing" ] || echo "$missing"
    exit 0
fi
[ -n "$missing" ] || exit 0
echo "deps.sh: installing: $missing" >&2

sudo=
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "deps.sh: not root and sudo is not installed; as root run:" >&2
        echo "  apt-get update && apt-get install -y $missing" >&2
        exit 1
    fi
    sudo=sudo
fi
run() {
    if [ $dry = yes ]; then echo "$*"; else "$@"; fi
}
run $sudo apt-get update -qq &&
    run $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing || {
    echo "deps.sh: apt-get install failed:" $missing >&2
    exit 1
}
