#!/bin/sh
# Every command has a man page that renders cleanly and names every option
# its --help prints.
set -u
srcdir=${top_srcdir:-.}
PLUMB=${PLUMB:-./plumb}
fail=0
note() { echo "man.sh: $*" >&2; fail=1; }

render() {
    # groff reports warnings on stderr; treat any as a failure.
    if command -v groff >/dev/null 2>&1; then
        out=$(groff -man -Tutf8 -ww -z "$1" 2>&1) || note "$1: groff failed"
        [ -z "$out" ] || note "$1: groff warnings: $out"
    fi
}

options_of() {
    # Long and short options as they appear in usage text.
    sed 's/\\-/-/g; s/\\f[BIRP]//g' | grep -oE -- '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' |
        sed 's/^[^-]*//' | sort -u
}

check() {
    cmd=$1 page=$2
    [ -f "$page" ] || { note "$page: missing"; return; }
    render "$page"
    grep -q '^\.SH NAME' "$page" || note "$page: no NAME section"
    grep -q '^\.SH SYNOPSIS' "$page" || note "$page: no SYNOPSIS section"
    help=$($PLUMB $cmd --help 2>&1) || note "plumb $cmd --help: non-zero exit"
    man_opts=$(options_of < "$page")
    for opt in $(printf '%s\n' "$help" | options_of); do
        printf '%s\n' "$man_opts" | grep -qx -- "$opt" ||
            note "$page: option $opt of 'plumb $cmd --help' is not documented"
    done
}

check "" "$srcdir/man/plumb.1"
for c in run eval tokenize inspect mkmodel bench; do
    check "$c" "$srcdir/man/plumb-$c.1"
done
exit $fail
