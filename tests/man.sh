#!/bin/sh
# Every command has a man page that renders cleanly and names every option
# its --help prints; every function of plumb.h is named, with its prototype,
# by a section 3 page that renders cleanly.
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
# ---------------------------------------------------------------- section 3
# section NAME PAGE: the lines of section NAME of PAGE, roff escapes removed
section() {
    awk -v s="$1" '/^\.SH / { on = ($2 == s) ; next } on' "$2" |
        sed 's/\\-/-/g; s/\\f[BIRP]//g; s/\\(.*//; s/\\e/\\/g'
}
pages3=$(ls "$srcdir"/man/*.3 2>/dev/null)
[ -n "$pages3" ] || note "no section 3 pages in $srcdir/man"
for page in $pages3; do
    render "$page"
    grep -q '^\.SH NAME' "$page" || note "$page: no NAME section"
    grep -q '^\.SH SYNOPSIS' "$page" || note "$page: no SYNOPSIS section"
done
functions=$(perl -0777 -ne 's{/\*.*?\*/}{}gs; s{^\s*#[^\n]*}{}mg;
    print "$1\n" while /\b(plumb_\w+)\s*\(/g' "$srcdir/src/plumb.h" | sort -u)
[ -n "$functions" ] || note "src/plumb.h: no functions found"
for f in $functions; do
    found=
    for page in $pages3; do
        section NAME "$page" | grep -qw -- "$f" || continue
        section SYNOPSIS "$page" | grep -q -- "[ *]$f(" || continue
        found=$page
        break
    done
    [ -n "$found" ] || note "$f (src/plumb.h): no man/*.3 page names it and shows its prototype"
done
exit $fail
