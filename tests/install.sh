#!/bin/sh
# `make install DESTDIR=...`, then examples/two_sessions.c built against the
# installed plumb.pc only (no path into the build or source tree but the
# example's source), dynamically and statically, run on a model: it must print
# what the in-tree example prints.
set -u
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
model=${PLUMB_DATA:-$srcdir/tests/data}/models/mini-f32.gguf
fail=0
note() { echo "install.sh: $*" >&2; fail=1; }
skip() { echo "install.sh: $*: skipped"; exit 77; }

[ -f "$builddir/Makefile" ] || skip "no Makefile in $builddir"
[ -n "${prefix:-}" ] && [ -n "${libdir:-}" ] && [ -n "${pkgconfigdir:-}" ] ||
    skip "prefix, libdir or pkgconfigdir not set (run through make check)"
command -v pkg-config >/dev/null 2>&1 || skip "no pkg-config"
[ -f "$builddir/.libs/libplumb.so" ] || skip "shared library not built"
[ -f "$builddir/.libs/libplumb.a" ] || skip "static library not built"
CC=${CC:-cc}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plumb-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/root

# MAKEFLAGS of the make running this test would pass its jobserver and
# variables on: install with a clean one.
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$builddir" install DESTDIR="$dest" \
    >"$tmp/install.log" 2>&1; then
    cat "$tmp/install.log" >&2
    note "make install failed"
    exit 1
fi
for f in "$libdir/libplumb.so" "$libdir/libplumb.a" "$pkgconfigdir/plumb.pc" \
    "$prefix/include/plumb.h" "$prefix/share/man/man3/plumb.3" \
    "$prefix/share/man/man3/plumb_session_eval.3"; do
    [ -e "$dest$f" ] || note "not installed: $f"
done
[ -e "$dest$libdir/libplumb_core.a" ] && note "a convenience library was installed"

# Only the installed tree: its plumb.pc comes first, and the example is
# copied away from the source tree's headers.
PKG_CONFIG_PATH=$dest$pkgconfigdir
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
cp "$srcdir/examples/two_sessions.c" "$tmp/app.c" || exit 1
cflags=$(pkg-config --cflags plumb) || { note "pkg-config --cflags plumb failed"; exit 1; }
libs=$(pkg-config --libs plumb) || { note "pkg-config --libs plumb failed"; exit 1; }
slibs=$(pkg-config --static --libs plumb) || { note "pkg-config --static --libs plumb failed"; exit 1; }
# Paths outside DESTDIR must not lead into the build or source tree.
abs_build=$(cd "$builddir" && pwd) abs_src=$(cd "$srcdir" && pwd)
for w in $cflags $slibs; do
    case $w in -I* | -L*) p=${w#-?} ;; *) continue ;; esac
    case $p in
    "$dest"/*) ;;
    "$abs_build" | "$abs_build"/* | "$abs_src" | "$abs_src"/*) note "pkg-config points into the build tree: $w" ;;
    esac
done
# (pkg-config puts the sysroot in front of the variable)
case $(pkg-config --variable=libdir plumb) in
"$libdir" | "$dest$libdir") ;;
*) note "plumb.pc: libdir is $(pkg-config --variable=libdir plumb), not $libdir" ;;
esac

# The same example, in the build tree, gives the expected output.
"$builddir/examples/two_sessions" "$model" "Hello" "Goodbye" 8 >"$tmp/want" ||
    note "the in-tree example failed"

# shared: libplumb.so found through LD_LIBRARY_PATH into DESTDIR
# shellcheck disable=SC2086
if $CC ${SAN_CFLAGS:-} -pthread "$tmp/app.c" -o "$tmp/app" $cflags $libs 2>"$tmp/cc.log"; then
    LD_LIBRARY_PATH=$dest$libdir "$tmp/app" "$model" "Hello" "Goodbye" 8 >"$tmp/got" ||
        note "the example linked with libplumb.so failed"
    cmp -s "$tmp/want" "$tmp/got" || note "the example linked with libplumb.so printed other text"
    LD_LIBRARY_PATH=$dest$libdir ldd "$tmp/app" 2>/dev/null | grep -q "$dest$libdir/libplumb.so" ||
        note "the shared build does not load $dest$libdir/libplumb.so"
else
    cat "$tmp/cc.log" >&2
    note "the example does not build with: pkg-config --cflags --libs plumb"
fi

# static: libplumb.a plus what `pkg-config --static` adds (its dependencies
# have no static archives on every system, so only libplumb is forced static)
slibs=$(printf '%s\n' "$slibs" | sed 's/\(^\| \)-lplumb\( \|$\)/ -Wl,-Bstatic -lplumb -Wl,-Bdynamic /')
# shellcheck disable=SC2086
if $CC ${SAN_CFLAGS:-} -pthread "$tmp/app.c" -o "$tmp/app-static" $cflags $slibs 2>"$tmp/cc.log"; then
    readelf -d "$tmp/app-static" 2>/dev/null | grep -q 'libplumb' &&
        note "the static build still needs libplumb.so"
    "$tmp/app-static" "$model" "Hello" "Goodbye" 8 >"$tmp/got-static" ||
        note "the example linked with libplumb.a failed"
    cmp -s "$tmp/want" "$tmp/got-static" || note "the example linked with libplumb.a printed other text"
else
    cat "$tmp/cc.log" >&2
    note "the example does not build with: pkg-config --static --cflags --libs plumb"
fi
[ $fail = 0 ] && echo "install.sh: installed under $dest$prefix; example built with $cflags $slibs"
exit $fail
