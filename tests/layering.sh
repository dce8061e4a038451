#!/bin/sh
# Headers are included downwards only (doc/layering.md):
#   quant/ includes from quant/; simd/ from simd/ and quant/; src/ from src/,
#   simd/ and quant/; examples/ only <plumb.h>.
# A quoted include is resolved as the compiler does: the including file's
# directory first, then -I src, quant, simd.
set -u
srcdir=${top_srcdir:-.}
fail=0
note() { echo "layering.sh: $*" >&2; fail=1; }

# where FILE INCLUDE: the directory (relative to srcdir) INCLUDE resolves to
where() {
    for d in "$(dirname "$1")" src quant simd; do
        [ -f "$srcdir/$d/$2" ] && { echo "$d"; return; }
    done
    echo "?"
}

# check DIR ALLOWED...: every quoted include of DIR's files resolves into one
# of the ALLOWED directories (config.h, generated, is always allowed)
check() {
    dir=$1
    shift
    for f in $(cd "$srcdir" && find "$dir" -name '*.[ch]' | sort); do
        for inc in $(sed -n 's/^[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$srcdir/$f"); do
            [ "$inc" = config.h ] && continue
            to=$(where "$f" "$inc")
            ok=no
            for a in "$@"; do
                case $to in "$a" | "$a"/*) ok=yes ;; esac
            done
            [ $ok = yes ] || note "$f includes \"$inc\" (from $to); $dir may include only from: $*"
        done
    done
}

check quant quant
check simd simd quant
check src src simd quant
for f in $(cd "$srcdir" && find examples -name '*.c' 2>/dev/null); do
    grep -n '^[ \t]*#[ \t]*include' "$srcdir/$f" | grep -v '<[a-z0-9_/]*\.h>' |
        while read -r l; do echo "layering.sh: $f: $l: an example includes system headers and <plumb.h> only" >&2; echo x; done |
        grep -q x && fail=1
    grep -q '#include <plumb.h>' "$srcdir/$f" || note "$f does not include <plumb.h>"
done
exit $fail
