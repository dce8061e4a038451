#!/bin/sh
# hostile.sh — the HTTP layer (src/agent/http.c) against hostile servers:
# makes a throwaway PKI (pki.sh), starts hostile.py on loopback and runs
# test_http against it (the bombs in a process of their own, for ru_maxrss).
#
# As root with unshare and ip, everything runs in a new network namespace
# holding only lo, with 1.2.3.4 added to lo as a "public" address: then the
# guard is also tested through a redirect from an allowed page to 127.0.0.1.
set -u
: "${top_srcdir:=..}" "${top_builddir:=.}"
here=$top_srcdir/tests/agent
prog=$top_builddir/tests/agent/test_http
public=1.2.3.4

[ -x "$prog" ] || { echo "hostile.sh: $prog not built" >&2; exit 1; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: hostile.sh: python3 not found"; exit 77; }
command -v openssl >/dev/null 2>&1 || { echo "SKIP: hostile.sh: openssl not found"; exit 77; }

if [ -z "${HOSTILE_INNER:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 &&
    command -v ip >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
    HOSTILE_INNER=1 top_srcdir=$top_srcdir top_builddir=$top_builddir \
        exec unshare -n sh -c 'ip link set lo up && ip addr add '$public'/32 dev lo &&
            HOSTILE_PUBLIC='$public' exec sh "$0"' "$0"
fi

tmp=$(mktemp -d) || exit 1
server=
cleanup() {
    exec 3>&- 2>/dev/null # end of input: the server exits
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir "$tmp/pki" && sh "$here/pki.sh" "$tmp/pki" || exit 1
mkfifo "$tmp/in" || exit 1
bind=127.0.0.1
[ -n "${HOSTILE_PUBLIC:-}" ] && bind=0.0.0.0
timeout 170 python3 "$here/hostile.py" --pki "$tmp/pki" --bind "$bind" --deadline 160 \
    <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
server=$!
exec 3>"$tmp/in"

i=0
until grep -q '^ready$' "$tmp/out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$server" 2>/dev/null; then
        echo "hostile.sh: the server did not start:" >&2
        cat "$tmp/out" "$tmp/err" >&2
        exit 1
    fi
    sleep 0.2
done

port() { awk -v n="$1" '$1 == n { print $2 }' "$tmp/out"; }
HOSTILE_HTTP=$(port http)
HOSTILE_GUARD=$(port guard)
HOSTILE_HTTPS_GOOD=$(port https-good)
HOSTILE_HTTPS_WRONGHOST=$(port https-wronghost)
HOSTILE_HTTPS_EXPIRED=$(port https-expired)
HOSTILE_HTTPS_UNKNOWN=$(port https-unknown)
HOSTILE_BOMBS=$(awk '$1 == "bombs" { $1 = ""; print }' "$tmp/out")
HOSTILE_CA=$tmp/pki/ca.crt
HOSTILE_PUBLIC=${HOSTILE_PUBLIC:-}
export HOSTILE_HTTP HOSTILE_GUARD HOSTILE_HTTPS_GOOD HOSTILE_HTTPS_WRONGHOST HOSTILE_HTTPS_EXPIRED \
    HOSTILE_HTTPS_UNKNOWN HOSTILE_BOMBS HOSTILE_CA HOSTILE_PUBLIC

status=0
timeout 60 "$prog" bombs || status=1
timeout 90 "$prog" main || status=1
exit $status
