#!/bin/sh
# The whole test suite: the native build's `make check` (plus checkdsp of the
# AVX-512 tiers over emulated intrinsics on a CPU without them), the same
# suite built with AddressSanitizer + UndefinedBehaviorSanitizer,
# test_generate (sessions on two threads) built with ThreadSanitizer, the
# aarch64 NEON tiers under qemu (`make check-aarch64`), and each libFuzzer
# target for 30 s (`make fuzz-smoke` of a clang --enable-fuzzing build).
# Builds out of tree under ./build/.  Ends with one line: "N passed, N failed".
#
# usage: tools/check-all.sh [--no-asan] [--no-tsan] [--no-aarch64] [--no-fuzz]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
asan=yes
tsan=yes
arm=yes
fuzz=yes
for a in "$@"; do
    case $a in
    --no-asan) asan=no ;;
    --no-tsan) tsan=no ;;
    --no-aarch64) arm=no ;;
    --no-fuzz) fuzz=no ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-all.sh: unknown option $a" >&2; exit 2 ;;
    esac
done
jobs=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
t0=$(date +%s)
t_stage=$t0
took() { # $1: what ended; prints its time and the total so far
    now=$(date +%s)
    echo "== $1: $((now - t_stage)) s (total $((now - t0)) s)"
    t_stage=$now
}

tally() { # $1: build dir; counts automake .trs results
    for f in $(find "$1" -name '*.trs'); do
        r=$(sed -n 's/^:test-result: //p' "$f" | head -n 1)
        case $r in
        PASS | XFAIL) passed=$((passed + 1)) ;;
        SKIP) ;;
        *) failed=$((failed + 1)); echo "FAILED: $1: ${f%.trs} ($r)" >&2 ;;
        esac
    done
}

tally_lines() { # $1: output with PASS:/FAIL: lines, $2: its exit status
    p=$(printf '%s\n' "$1" | grep -c '^PASS:')
    f=$(printf '%s\n' "$1" | grep -c '^FAIL:')
    passed=$((passed + p))
    failed=$((failed + f))
    # a failure that printed no FAIL: line still counts
    [ "$2" -ne 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1))
}

suite() { # $1: build dir name, rest: configure arguments
    dir=$builds/$1
    shift
    echo "== $dir: configure $*"
    mkdir -p "$dir"
    if ! (cd "$dir" && "$top/configure" -q "$@" && make -s -j"$jobs" >/dev/null); then
        echo "FAILED: build in $dir" >&2
        failed=$((failed + 1))
        return
    fi
    find "$dir" -name '*.trs' -delete
    (cd "$dir" && make -s -j"$jobs" check) || true
    tally "$dir"
}

# Out-of-tree builds need a source tree that is not configured in place.  When
# it is (someone ran ./configure in it), test a copy of the files git tracks
# (as they are in the work tree, edits included; untracked files are not
# copied, nor build products that would shadow the out-of-tree ones) in
# build/src; the user's tree and its build are left alone.
builds=$top/build
if [ -f "$top/config.status" ]; then
    if ! git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        echo "check-all.sh: $top is configured in place (config.status) and is not a git" >&2
        echo "check-all.sh: checkout to copy from; run 'make distclean' there first" >&2
        echo "0 passed, 1 failed"
        exit 1
    fi
    echo "== $top is configured in place: testing a clean copy in $builds/src"
    rm -rf "$builds/src" && mkdir -p "$builds/src" &&
        (cd "$top" && git ls-files -z | xargs -0 sh -c 'for f; do [ -f "$f" ] && printf "%s\n" "$f"; done' sh |
            tar -cf - -T -) | tar -xf - -C "$builds/src" ||
        { echo "FAILED: copying the source tree to $builds/src" >&2; echo "0 passed, 1 failed"; exit 1; }
    top=$builds/src
fi
[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) || { echo "0 passed, 1 failed"; exit 1; }

suite native
took "native suite"
# The AVX-512 and AVX-VNNI tiers, when this CPU lacks one: checkdsp and
# test_golden (quick form) over emulated intrinsics.
if ! grep -q avx512f /proc/cpuinfo 2>/dev/null || ! grep -q avx_vnni /proc/cpuinfo 2>/dev/null; then
    echo "== AVX-512 and AVX-VNNI tiers under emulation (tests/checkdsp/emu512.sh)"
    "$top/tests/checkdsp/emu512.sh" "$builds/native"
    case $? in
    0) passed=$((passed + 1)) ;;
    77) ;;
    *) failed=$((failed + 1)); echo "FAILED: tests/checkdsp/emu512.sh" >&2 ;;
    esac
    took "AVX-512 and AVX-VNNI emulation"
fi
if [ $asan = yes ]; then
    # Under the sanitizers the golden runs take minutes: their shorter form
    # (the native build above ran them whole on its own tier).
    PLUMB_GOLDEN_QUICK=1
    export PLUMB_GOLDEN_QUICK
    suite asan --enable-sanitizers
    unset PLUMB_GOLDEN_QUICK
    took "sanitizers"
fi
if [ $tsan = yes ]; then
    # only the test with threads of its own: the rest adds minutes, no races
    dir=$builds/tsan
    echo "== $dir: configure --enable-sanitizers=thread; tests/test_generate"
    mkdir -p "$dir"
    if (cd "$dir" && "$top/configure" -q --enable-sanitizers=thread &&
        make -s -j"$jobs" tests/test_generate >/dev/null &&
        PLUMB_DATA="$top/tests/data" ./tests/test_generate); then
        passed=$((passed + 1))
    else
        failed=$((failed + 1)); echo "FAILED: $dir: tests/test_generate" >&2
    fi
    took "thread sanitizer"
fi
if [ $arm = yes ]; then
    echo "== aarch64 (qemu)"
    # printed as it runs (a line per test run), so a stall shows where
    log=$builds/aarch64.log
    { BUILDDIR="$builds/aarch64" "$top/tools/check-aarch64.sh" --install "$top" 2>&1
        echo $? >"$log.rc"; } | tee "$log"
    tally_lines "$(cat "$log")" "$(cat "$log.rc" 2>/dev/null || echo 1)"
    took "aarch64"
fi
if [ $fuzz = yes ]; then
    dir=$builds/fuzz
    echo "== $dir: configure CC=clang --enable-fuzzing, make fuzz-smoke"
    mkdir -p "$dir"
    # only what the smoke run needs: the targets and plumb (for the seeds)
    if ! (cd "$dir" && "$top/configure" -q CC=clang --enable-fuzzing &&
        make -s -j"$jobs" fuzz-targets plumb >/dev/null); then
        echo "FAILED: fuzz build in $dir" >&2
        failed=$((failed + 1))
    else
        out=$(cd "$dir" && make -s fuzz-smoke 2>&1)
        rc=$?
        printf '%s\n' "$out"
        tally_lines "$out" $rc
    fi
    took "fuzzing"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
