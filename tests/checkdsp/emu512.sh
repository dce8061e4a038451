#!/bin/sh
# emu512.sh — run checkdsp's AVX-512, AVX-512 VNNI and AVX-VNNI tiers on a
# CPU without them: the tier files are compiled for AVX2 with the intrinsics
# emulated (tests/checkdsp/emu512.h, over the Debian package libsimde-dev)
# and checked against the C tier like any other.  Not part of `make check`
# (the real tiers are what ships); a check for whoever changes
# simd/x86/*avx512*.c, *avxvnni.c, the row-major kernels they compile again
# (quant_avx2.c, gemm_avx2.c) or simd/x86/x86_kernels.h on a machine without
# those extensions.  The AVX-VNNI tier is emulated only when the build has
# it (PLUMB_HAVE_AVXVNNI).
#
# usage: tests/checkdsp/emu512.sh [BUILDDIR [CHECKDSP-OPTIONS...]]
#   BUILDDIR  a configured and built tree (default .); the other arguments
#             go to checkdsp (--seed N, --kernel SUBSTR, ...)
# Exit: checkdsp's status; 77 when SIMDe, AVX2 or the built libraries are
# missing.

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-.}
[ $# -gt 0 ] && shift
CC=${CC:-cc}

if ! printf '#include <simde/x86/avx512.h>\n' | $CC -mavx2 -E -x c - >/dev/null 2>&1; then
    echo "emu512.sh: SIMDe headers not found (apt-get install libsimde-dev): skipped"
    exit 77
fi
if ! grep -q 'avx2' /proc/cpuinfo 2>/dev/null; then
    echo "emu512.sh: this CPU has no AVX2 to run the emulation on: skipped"
    exit 77
fi
for lib in .libs/libplumb_core.a .libs/libplumb_avx2.a .libs/libplumb_base.a; do
    if [ ! -f "$build/$lib" ]; then
        echo "emu512.sh: $build/$lib not built: skipped"
        exit 77
    fi
done
if ! grep -q '^#define PLUMB_HAVE_AVX512VNNI 1' "$build/config.h"; then
    echo "emu512.sh: this build has no AVX-512 VNNI tier: skipped"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/plumb-emu512.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
flags="-std=c11 -O2 -D_GNU_SOURCE -mavx2 -mfma -mf16c -Wno-psabi -I$build -I$src/src -I$src/quant -I$src/simd -I$src/simd/x86 -I$src/tests/checkdsp"

# the emulated tiers compile slowly (SIMDe's headers): all at once, one
# compiler per file, and every one must succeed
pids=
files="quant_avx512 vec_avx512 attn_avx512 quant_avx512vnni gemm_avx512vnni gemm_rows_avx512vnni attn_avx512vnni"
emulated="PLUMB_CPU_AVX512 | PLUMB_CPU_AVX512VNNI"
if grep -q '^#define PLUMB_HAVE_AVXVNNI 1' "$build/config.h"; then
    files="$files quant_avxvnni gemm_avxvnni"
    emulated="$emulated | PLUMB_CPU_AVXVNNI"
fi
for f in $files; do
    {
        printf '#include "config.h"\n'
        case $f in *avxvnni) printf '#define EMU_AVXVNNI 1\n' ;; esac
        printf '#include "emu512.h"\n'
        case $f in *avx512vnni) printf '#define __AVX512VNNI__ 1\n' ;; esac
        printf '#include "%s/simd/x86/%s.c"\n' "$src" $f
    } >"$tmp/emu_$f.c"
    $CC $flags -c "$tmp/emu_$f.c" -o "$tmp/emu_$f.o" &
    pids="$pids $!"
done
for p in $pids; do
    wait "$p" || exit 1
done
# checkdsp as it is, told that the CPU has the emulated tiers
printf '#include "config.h"\n#include "cpu.h"\nunsigned emu512_cpu_detect(void) { return plumb_cpu_detect() | %s; }\n' \
    "$emulated" >"$tmp/detect.c"
$CC $flags -c "$tmp/detect.c" -o "$tmp/detect.o" || exit 1
$CC $flags -Dplumb_cpu_detect=emu512_cpu_detect -c "$src/tests/checkdsp/checkdsp.c" -o "$tmp/checkdsp.o" || exit 1
sleef=$(pkg-config --libs sleef 2>/dev/null || echo -lsleef)
$CC -o "$tmp/checkdsp-emu512" "$tmp/checkdsp.o" "$tmp/detect.o" "$tmp"/emu_*.o \
    "$build/.libs/libplumb_core.a" "$build/.libs/libplumb_avx2.a" "$build/.libs/libplumb_base.a" \
    $sleef -lm -lpthread || exit 1

echo "emu512.sh: AVX-512 and AVX-VNNI tiers emulated on AVX2"
"$tmp/checkdsp-emu512" "$@"
