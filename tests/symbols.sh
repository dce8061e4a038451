#!/bin/sh
# The shared library exports exactly the functions src/plumb.h declares, and
# plumb.h marks every one of them PLUMB_API.
set -u
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
header=$srcdir/src/plumb.h
lib=$builddir/.libs/libplumb.so
fail=0
note() { echo "symbols.sh: $*" >&2; fail=1; }

if [ ! -f "$lib" ]; then
    echo "symbols.sh: $lib not built (configured with --disable-shared?): skipped"
    exit 77
fi
command -v nm >/dev/null 2>&1 || { echo "symbols.sh: no nm: skipped"; exit 77; }

# Declarations of plumb.h, comments removed, one per line.
decls=$(perl -0777 -ne 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g; s{^\s*#[^\n]*}{}mg;
    s{\s+}{ }g; print "$_\n" for grep { /\bplumb_\w+\s*\(/ } split /[;{}]/' "$header")
[ -n "$decls" ] || note "$header: no function declarations found"

declared=$(printf '%s\n' "$decls" | sed -n 's/.*\b\(plumb_[A-Za-z0-9_]*\) *(.*/\1/p' | sort -u)
printf '%s\n' "$decls" | while read -r d; do
    case $d in
    "PLUMB_API "*) ;;
    *) echo "symbols.sh: $header: not marked PLUMB_API: $d" >&2; echo x ;;
    esac
done | grep -q x && fail=1

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWiDdBbRrVv]$/ { print $3 }' |
    sed 's/@.*//' | sort -u)
[ -n "$exported" ] || note "$lib: exports nothing"

for s in $exported; do
    printf '%s\n' "$declared" | grep -qx -- "$s" ||
        note "$lib exports $s, which plumb.h does not declare"
done
for s in $declared; do
    printf '%s\n' "$exported" | grep -qx -- "$s" ||
        note "plumb.h declares $s, which $lib does not export"
done
[ $fail = 0 ] && echo "symbols.sh: $(printf '%s\n' "$exported" | wc -l) functions exported, all in plumb.h"
exit $fail
