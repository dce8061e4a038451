#!/bin/sh
# Cross-build plumb for aarch64 and run its test suite under qemu-aarch64.
# The kernel tests (checkdsp, test_golden, test_quant) run once per ARM tier
# (neon, dotprod) on an emulated CPU with every extension (-cpu max); the
# other tests run once (those of the cache as a data structure only
# natively); tests/tiers.sh runs on a CPU without the dot-product
# extension (-cpu cortex-a72), so ARM feature detection and the refusal of
# a missing tier are tested too.  Prints one "PASS: test [tier]" / "FAIL:" /
# "SKIP:" line per run (exit status 77 is a skip, as under `make check`)
# and ends with "N passed, N failed, N skipped"; exits non-zero on any
# failure.  See doc/aarch64.md.
#
# usage: tools/check-aarch64.sh [--install] [SRCDIR]
#   SRCDIR      the source tree (default: the one this script is in)
#   --install   install missing Debian packages (also done when $CI is set)
# environment:
#   BUILDDIR      cross build directory (default: ./build-aarch64)
#   TIERS         ARM tiers for the kernel tests (default: "neon dotprod")
#   ONLY          run only these tests, by name (e.g. "checkdsp test_quant")
#   JOBS          tests and make jobs run at once (default: number of CPUs)
#   QEMU_SYSROOT  qemu -L prefix (default: none when the arm64 libc6 of
#                 multiarch is installed, else /usr/aarch64-linux-gnu)
#   TEST_TIMEOUT  seconds per test run (default: 1200; twice that for tiers.sh)
#   PLUMB_GOLDEN_QUICK  passed to test_golden (default 1: its shorter run)
set -u

host=aarch64-linux-gnu
multiarch_pc=/usr/lib/$host/pkgconfig

# ---------------------------------------------------------------- one run
# (internal) --run-one KIND TEST TIER CPU: run one test under the emulator,
# print its result line, leave its log in test-logs/.  Called through xargs
# by the main script with the environment it exports.
if [ "${1:-}" = --run-one ]; then
    kind=$2 t=$3 tier=$4 cpu=$5
    name=${t#tests/}
    name=${name##*/}
    label=$name
    [ "$tier" = - ] || label="$name [$tier]"
    [ "$cpu" = max ] || label="$label [-cpu $cpu]"
    log=$A64_BUILD/test-logs/$name-$tier-$cpu.log
    wrap=$A64_BUILD/qemu-$cpu
    args=
    [ "$name" = checkdsp ] && [ "$tier" != - ] && args="--tier $tier"
    # tiers.sh runs the golden and attention tests once per tier in one run
    limit=$A64_TIMEOUT
    [ "$name" = tiers.sh ] && limit=$((2 * A64_TIMEOUT))
    start=$(date +%s)
    (
        cd "$A64_BUILD" || exit 1
        [ "$tier" = - ] || { PLUMB_CPU=$tier; export PLUMB_CPU; }
        top_builddir=$wrap PLUMB=$wrap/plumb
        export top_builddir PLUMB
        if [ "$kind" = sh ]; then
            exec timeout --foreground -k 30 "$limit" sh "$A64_SRC/$t"
        else
            exec timeout --foreground -k 30 "$limit" "$wrap/$t" $args
        fi
    ) >"$log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    case $rc in
    0) echo "PASS: $label (${secs}s)" ;;
    77) echo "SKIP: $label" ;;
    *) echo "FAIL: $label (exit $rc, ${secs}s; log: $log)" ;;
    esac | tee "$log.result"
    exit 0
fi

install=no
srcdir=
for a in "$@"; do
    case $a in
    --install) install=yes ;;
    -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "check-aarch64.sh: unknown option $a" >&2; exit 2 ;;
    *) srcdir=$a ;;
    esac
done
[ -n "$srcdir" ] || srcdir=$(dirname "$0")/..
srcdir=$(cd "$srcdir" && pwd) || exit 2
[ -n "${CI:-}" ] && install=yes
builddir=${BUILDDIR:-$(pwd)/build-aarch64}
tiers=${TIERS:-neon dotprod}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
# The loader and libc must come from the same glibc build: the multiarch
# libc6:arm64 (pulled in by the -dev:arm64 packages) puts its loader at
# /lib/ld-linux-aarch64.so.1, where qemu finds it without -L.  Mixing the
# cross toolchain's loader (-L /usr/aarch64-linux-gnu) with the multiarch
# libc.so.6 hangs in pthread_create.
if [ -n "${QEMU_SYSROOT:-}" ]; then
    qemu="qemu-aarch64 -L $QEMU_SYSROOT"
elif [ -e /lib/ld-linux-aarch64.so.1 ]; then
    qemu=qemu-aarch64
else
    qemu="qemu-aarch64 -L /usr/$host"
fi

say() { echo "check-aarch64.sh: $*" >&2; }
give_up() { # $1: what failed
    echo "FAIL: $1"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
}

# ---------------------------------------------------------------- toolchain
# Host packages: the cross compiler and the emulator.  Target packages: the
# arm64 builds of the libraries plumb links (Debian multiarch).
host_pkgs="gcc-$host qemu-user pkg-config"
arm_pkgs="libsleef-dev:arm64 libutf8proc-dev:arm64 libjansson-dev:arm64 zlib1g-dev:arm64"

missing() {
    m=
    command -v "$host-gcc" >/dev/null 2>&1 || m="$m gcc-$host"
    command -v qemu-aarch64 >/dev/null 2>&1 || m="$m qemu-user"
    command -v pkg-config >/dev/null 2>&1 || m="$m pkg-config"
    for pc in sleef:libsleef-dev libutf8proc:libutf8proc-dev jansson:libjansson-dev zlib:zlib1g-dev; do
        [ -f "$multiarch_pc/${pc%%:*}.pc" ] || m="$m ${pc#*:}:arm64"
    done
    echo "$m"
}

need=$(missing)
if [ -n "$need" ] && [ $install = yes ]; then
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    say "installing:$need"
    dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
    $SUDO timeout 900 apt-get update -qq &&
        $SUDO env DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y -qq $host_pkgs $arm_pkgs >/dev/null ||
        say "apt-get install failed"
    need=$(missing)
fi
if [ -n "$need" ]; then
    say "missing:$need"
    say "install them (Debian 12) with:"
    say "  sudo dpkg --add-architecture arm64 && sudo apt-get update"
    say "  sudo apt-get install $host_pkgs $arm_pkgs"
    say "or run this script with --install"
    give_up "aarch64 toolchain (missing:$need)"
fi

# ---------------------------------------------------------------- build
mkdir -p "$builddir/test-logs" || exit 1
if [ ! -f "$builddir/Makefile" ]; then
    echo "== configure --host=$host in $builddir"
    (cd "$builddir" &&
        PKG_CONFIG_LIBDIR=$multiarch_pc:/usr/share/pkgconfig PKG_CONFIG_PATH= \
            "$srcdir/configure" -q --host=$host --disable-network PKG_CONFIG=pkg-config \
            TEST_EMULATOR="$qemu -cpu max") >"$builddir/test-logs/configure.log" 2>&1 || {
        cat "$builddir/test-logs/configure.log"
        give_up "aarch64 configure (log: $builddir/test-logs/configure.log)"
    }
fi
echo "== make in $builddir"
# The test list is the build's own (TESTS in Makefile.am).
tests=$(printf 'print-tests:\n\t@echo $(TESTS)\n' | make -s -C "$builddir" -f Makefile -f - print-tests 2>/dev/null)
[ -n "$tests" ] || give_up "aarch64 build: no TESTS in $builddir/Makefile"
progs=
for t in $tests; do
    case $t in *.sh) ;; *) progs="$progs $t" ;; esac
done
# `all` first, then the test programs: one make asked for both runs `all`
# in a sub-make beside the programs' own rules, and the two would compile the
# same libtool objects at once.
if ! { make -s -C "$builddir" -j"$jobs" all && make -s -C "$builddir" -j"$jobs" $progs; } \
    >"$builddir/test-logs/build.log" 2>&1; then
    tail -n 30 "$builddir/test-logs/build.log"
    give_up "aarch64 build (log: $builddir/test-logs/build.log)"
fi
grep -q '^#define PLUMB_HAVE_NEON 1' "$builddir/config.h" || say "warning: the NEON kernels were not built"
grep -q '^#define PLUMB_HAVE_DOTPROD 1' "$builddir/config.h" || say "warning: the dot-product kernels were not built"

# Wrapper trees: qemu-CPU/plumb, qemu-CPU/tests/... are host scripts that
# run the aarch64 program of the same path under the emulator, so tests and
# shell scripts that exec $PLUMB or $top_builddir/tests/... work unchanged.
for cpu in max cortex-a72; do
    for p in plumb $progs; do
        w=$builddir/qemu-$cpu/$p
        mkdir -p "$(dirname "$w")"
        printf '#!/bin/sh\nexec %s -cpu %s "%s" "$@"\n' "$qemu" "$cpu" "$builddir/$p" >"$w"
        chmod +x "$w"
    done
done

# ---------------------------------------------------------------- run
# One line per run: KIND TEST TIER CPU ('-' tier: PLUMB_CPU left unset, so
# the best tier the emulated CPU has).  Longest first, for the job pool.
list=$builddir/test-logs/runs
: >"$list"
long="tests/tiers.sh tests/test_golden tests/test_sampler"
for t in $long; do
    case " $tests " in *" $t "*) ;; *) continue ;; esac
    case $t in
    tests/tiers.sh) echo "sh $t - cortex-a72" >>"$list" ;;
    tests/test_golden)
        # tiers.sh on the cortex-a72 runs it for the C and NEON tiers; here
        # the tiers that CPU lacks
        for tier in $tiers; do
            [ "$tier" = neon ] && case " $tests " in *" tests/tiers.sh "*) continue ;; esac
            echo "prog $t $tier max" >>"$list"
        done ;;
    *) echo "prog $t - max" >>"$list" ;;
    esac
done
# Not run under the emulator: the tests of the key/value cache as a data
# structure (paging, windows, fork, save and load, what each cache type costs
# in quality).  They run an F16 model over hundreds to thousands of tokens,
# seconds natively and past the time limit under qemu (half-precision
# arithmetic is emulated in software there), and nothing in them depends on
# the CPU but the attention kernels, which test_attn and checkdsp hold to a
# double-precision reference here on both ARM tiers.
native_only="tests/test_kvcache tests/test_kvfile tests/kvfile.sh tests/test_kvquality"
for t in $tests; do
    case " $long $native_only " in *" $t "*) continue ;; esac
    case $t in
    tests/checkdsp/checkdsp | tests/test_quant)
        for tier in $tiers; do echo "prog $t $tier max" >>"$list"; done ;;
    *.sh) echo "sh $t - max" >>"$list" ;;
    *) echo "prog $t - max" >>"$list" ;;
    esac
done

if [ -n "${ONLY:-}" ]; then
    keep=$list.only
    : >"$keep"
    while read -r kind t rest; do
        n=${t##*/}
        case " $ONLY " in *" $n "* | *" ${n%.sh} "*) echo "$kind $t $rest" >>"$keep" ;; esac
    done <"$list"
    mv "$keep" "$list"
fi

A64_BUILD=$builddir A64_SRC=$srcdir A64_TIMEOUT=${TEST_TIMEOUT:-1200}
top_srcdir=$srcdir PLUMB_DATA=$srcdir/tests/data
PLUMB_GOLDEN_QUICK=${PLUMB_GOLDEN_QUICK-1}
export A64_BUILD A64_SRC A64_TIMEOUT top_srcdir PLUMB_DATA PLUMB_GOLDEN_QUICK
unset PLUMB_CPU
echo "== $(wc -l <"$list") test runs under qemu-aarch64, $jobs at a time"
rm -f "$builddir"/test-logs/*.result
xargs -P "$jobs" -L 1 sh "$0" --run-one <"$list"

passed=$(cat "$builddir"/test-logs/*.result 2>/dev/null | grep -c '^PASS:')
failed=$(cat "$builddir"/test-logs/*.result 2>/dev/null | grep -c '^FAIL:')
skipped=$(cat "$builddir"/test-logs/*.result 2>/dev/null | grep -c '^SKIP:')
missing_runs=$(($(wc -l <"$list") - passed - failed - skipped))
if [ "$missing_runs" -gt 0 ]; then
    echo "FAIL: $missing_runs test runs reported nothing"
    failed=$((failed + 1))
fi
for r in "$builddir"/test-logs/*.result; do
    grep -q '^FAIL:' "$r" 2>/dev/null || continue
    echo "--- ${r%.result} (last lines)"
    tail -n 15 "${r%.result}" | sed 's/^/    /'
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
