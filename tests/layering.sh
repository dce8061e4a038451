#!/bin/sh
# Headers are included downwards only (doc/layering.md):
#   quant/ includes from quant/; simd/ from simd/ and quant/; src/ from src/,
#   simd/ and quant/; examples/ only <plumb.h>.  The agent's wings sit on
#   the engine's public face: src/llm/ includes from src/llm/, plumb.h,
#   err.h, utf8.h and the agent's buf.h and hash.h; src/agent/ from
#   src/agent/, src/llm/ and the engine's three.
# A quoted include is resolved as the compiler does: the including file's
# directory first, then -I src, quant, simd.
set -u
srcdir=${top_srcdir:-.}
fail=0
note() { echo "layering.sh: $*" >&2; fail=1; }

# where FILE INCLUDE: the directory (relative to srcdir) INCLUDE resolves to
where() {
    for d in "$(dirname "$1")" src/agent src/llm src quant simd; do
        [ -f "$srcdir/$d/$2" ] && { echo "$d"; return; }
    done
    echo "?"
}

# check DIR ALLOWED...: every quoted include of DIR's files resolves into one
# of the ALLOWED directories (config.h, generated, is always allowed)
check() {
    dir=$1
    shift
    depth=
    [ "$dir" = src ] && depth="-maxdepth 1" # the engine; its wings are checked on their own
    for f in $(cd "$srcdir" && find "$dir" $depth -name '*.[ch]' | sort); do
        for inc in $(sed -n 's/^[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$srcdir/$f"); do
            [ "$inc" = config.h ] && continue
            to=$(where "$f" "$inc")
            ok=no
            for a in "$@"; do
                case $a in
                */*.h) [ "$to/$inc" = "$a" ] && ok=yes ;;
                *) case $to in "$a" | "$a"/*) ok=yes ;; esac ;;
                esac
            done
            [ $ok = yes ] || note "$f includes \"$inc\" (from $to); $dir may include only from: $*"
        done
    done
}

check quant quant
check simd simd quant
check src src simd quant
for f in $(cd "$srcdir" && find src -maxdepth 1 -name '*.[ch]' | sort); do
    grep -n '^[ \t]*#[ \t]*include[ \t]*"\(agent\|llm\)/' "$srcdir/$f" >/dev/null &&
        note "$f includes from the agent's wings; the engine never does"
    for inc in $(sed -n 's/^[ \t]*#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' "$srcdir/$f"); do
        [ -f "$srcdir/src/agent/$inc" ] || [ -f "$srcdir/src/llm/$inc" ] || continue
        [ -f "$srcdir/src/$inc" ] || note "$f includes \"$inc\" of the agent's wings; the engine never does"
    done
done
WING_SHARED="src/plumb.h src/err.h src/utf8.h"
# the bounded buffer and the hash are the small shared headers of both wings
check src/llm src/llm $WING_SHARED src/agent/buf.h src/agent/hash.h
check src/agent src/agent src/llm $WING_SHARED
for f in $(cd "$srcdir" && find examples -name '*.c' 2>/dev/null); do
    grep -n '^[ \t]*#[ \t]*include' "$srcdir/$f" | grep -v '<[a-z0-9_/]*\.h>' |
        while read -r l; do echo "layering.sh: $f: $l: an example includes system headers and <plumb.h> only" >&2; echo x; done |
        grep -q x && fail=1
    grep -q '#include <plumb.h>' "$srcdir/$f" || note "$f does not include <plumb.h>"
done
exit $fail
