#!/bin/sh
# emu512.sh — run the AVX-512, AVX-512 VNNI and AVX-VNNI tiers on a CPU
# without them: the tier files are compiled for AVX2 with the intrinsics
# emulated (tests/checkdsp/emu512.h, over the Debian package libsimde-dev)
# and linked, in place of the real tier libraries, with the build's other
# static pieces and a src/cpu.c whose plumb_cpu_detect also reports the
# emulated features.  Two programs run over them: checkdsp, each kernel
# against the C tier like any other tier, then tests/test_golden (golden
# logits against llama.cpp) with PLUMB_CPU set to each emulated tier, in
# its quick form (PLUMB_GOLDEN_QUICK=1).  Not part of `make check` (the
# real tiers are what ships); a check for whoever changes
# simd/x86/*avx512*.c, *avxvnni.c, the row-major kernels they compile again
# (quant_avx2.c, gemm_avx2.c) or simd/x86/x86_kernels.h on a machine without
# those extensions.  The AVX-VNNI tier is emulated only when the build has
# it (PLUMB_HAVE_AVXVNNI).
#
# usage: tests/checkdsp/emu512.sh [BUILDDIR [CHECKDSP-OPTIONS...]]
#   BUILDDIR  a configured and built tree (default .); the other arguments
#             go to checkdsp (--seed N, --kernel SUBSTR, ...)
#   PLUMB_DATA  the test data (default tests/data of this source tree)
# Output: checkdsp's, then one "ok:" or "FAIL:" line per tier for
# test_golden (with its output on failure).
# Exit: 0 when checkdsp and every golden run pass, else 1; 77 when SIMDe,
# AVX2 or the built libraries are missing.

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
# The emulated features reach every caller of plumb_cpu_detect, the
# library's own included (plumb_cpu_select in src/cpu.c checks PLUMB_CPU's
# tier against it): a copy of src/cpu.c has its detector renamed and a
# plumb_cpu_detect that adds the emulated tiers; that cpu.o comes before
# libplumb_core.a, so the archive's is never linked.
sed 's/^unsigned plumb_cpu_detect(void)$/static unsigned host_cpu_detect(void)/' \
    "$src/src/cpu.c" >"$tmp/cpu.c" || exit 1
if ! grep -q '^static unsigned host_cpu_detect(void)$' "$tmp/cpu.c"; then
    echo "emu512.sh: no 'unsigned plumb_cpu_detect(void)' line in src/cpu.c to rename"
    exit 1
fi
printf 'unsigned plumb_cpu_detect(void) { return host_cpu_detect() | %s; }\n' "$emulated" >>"$tmp/cpu.c"
$CC $flags -DPLUMB_BUILDING_LIBRARY -c "$tmp/cpu.c" -o "$tmp/cpu.o" || exit 1
$CC $flags -c "$src/tests/checkdsp/checkdsp.c" -o "$tmp/checkdsp.o" || exit 1
$CC $flags -I$src/tests -c "$src/tests/test_golden.c" -o "$tmp/test_golden.o" || exit 1
libs="$tmp/cpu.o $tmp/emu_*.o $build/.libs/libplumb_core.a $build/.libs/libplumb_avx2.a $build/.libs/libplumb_base.a"
deplibs="$(pkg-config --libs sleef 2>/dev/null || echo -lsleef) -lutf8proc -ljansson -lz -lm -lpthread"
$CC -o "$tmp/checkdsp-emu512" "$tmp/checkdsp.o" $libs $deplibs || exit 1
$CC -o "$tmp/golden-emu512" "$tmp/test_golden.o" $libs $deplibs || exit 1

echo "emu512.sh: AVX-512 and AVX-VNNI tiers emulated on AVX2"
"$tmp/checkdsp-emu512" "$@"
status=$?

# test_golden on each emulated tier (the library's dispatch picks the tier
# from PLUMB_CPU as it does on a real CPU), in its quick form: emulated, a
# tier runs about 10x slower than AVX2
PLUMB_DATA=${PLUMB_DATA:-$src/tests/data}
export PLUMB_DATA
tiers="avx512 avx512vnni"
case $emulated in *AVXVNNI*) tiers="avxvnni $tiers" ;; esac
for tier in $tiers; do
    start=$(date +%s)
    PLUMB_GOLDEN_QUICK=1 PLUMB_CPU=$tier "$tmp/golden-emu512" >"$tmp/golden.out" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    if [ $rc -eq 0 ]; then
        echo "ok: test_golden with PLUMB_CPU=$tier, emulated (${took}s)"
    else
        echo "FAIL: test_golden with PLUMB_CPU=$tier, emulated: exit status $rc (${took}s)"
        cat "$tmp/golden.out"
        status=1
    fi
done
exit $status
