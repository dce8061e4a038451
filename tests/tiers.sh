#!/bin/sh
# tiers.sh — the forward pass is right with every kernel tier, and a tier that
# cannot run is refused cleanly.
#
# 1. For each tier that this CPU has and this build compiled (read from the
#    "cpu features:" and "kernels built:" lines of `plumb --version`), rerun
#    tests/test_golden, and tests/test_attn in its shorter form (depths up to
#    3000), with PLUMB_CPU set to it; each run must pass.
# 2. For each tier the CPU or the build lacks, and for an unknown tier name,
#    `plumb --version` must still work and name the problem, and a model
#    command (PLUMB_CPU=... or --cpu ...) must exit 1 or 2 with a
#    "plumb: ..." message naming the tier, never die of a signal (SIGILL).
#
# The C tier is the scalar specification: its run is PLUMB_GOLDEN_QUICK's
# shorter one unless PLUMB_GOLDEN_QUICK is set (to 0 for the whole run).
#
# Environment (set by `make check`): top_builddir, PLUMB, PLUMB_DATA.
# Exit: 0 pass, 1 fail, 77 when tests/test_golden is not built.

top_builddir=${top_builddir:-.}
PLUMB=${PLUMB:-$top_builddir/plumb}
PLUMB_DATA=${PLUMB_DATA:-${top_srcdir:-.}/tests/data}
export PLUMB_DATA
golden=$top_builddir/tests/test_golden
model=$PLUMB_DATA/models/mini-f32.gguf
tmp=${TMPDIR:-/tmp}/plumb-tiers.$$
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
cleanup() { rm -f "$tmp".out "$tmp".err; }
trap cleanup EXIT INT TERM

if [ ! -x "$golden" ]; then
    echo "tiers.sh: $golden is not built: skipped"
    exit 77
fi
if [ ! -x "$PLUMB" ]; then
    echo "tiers.sh: $PLUMB is not built"
    exit 1
fi

# Features of the CPU and tiers of the build, without any forced tier.
version=$(unset PLUMB_CPU; "$PLUMB" --version) || { echo "FAIL: plumb --version"; exit 1; }
features=$(printf '%s\n' "$version" | sed -n 's/^cpu features: //p')
built=$(printf '%s\n' "$version" | sed -n 's/^kernels built: //p')
if [ -z "$built" ]; then
    echo "FAIL: plumb --version has no 'kernels built:' line"
    exit 1
fi
echo "cpu features: $features"
echo "kernels built: $built"

# has LIST WORD...: every WORD is in the space-separated LIST
has() {
    list=" $1 "
    shift
    for w in "$@"; do
        case $list in *" $w "*) ;; *) return 1 ;; esac
    done
    return 0
}

# Features each tier needs ('c' needs none).
needs() {
    case $1 in
    c) echo "" ;;
    avx2) echo "avx2" ;;
    avxvnni) echo "avx2 avxvnni" ;;
    avx512) echo "avx2 avx512" ;;
    avx512vnni) echo "avx2 avx512 avx512vnni" ;;
    neon) echo "neon" ;;
    dotprod) echo "neon dotprod" ;;
    esac
}

# refused TIER HOW: a model command with the tier forced (HOW = env or
# option) fails with a plumb: message naming the tier.
refused() {
    tier=$1
    if [ "$2" = env ]; then
        PLUMB_CPU=$tier "$PLUMB" eval -m "$model" --tokens 1,2,3 >"$tmp".out 2>"$tmp".err
    else
        (unset PLUMB_CPU; "$PLUMB" eval --cpu "$tier" -m "$model" --tokens 1,2,3) >"$tmp".out 2>"$tmp".err
    fi
    rc=$?
    msg=$(head -n 1 "$tmp".err)
    if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
        fail "tier '$tier' forced by $2: exit status $rc (want 1 or 2): $msg"
        return
    fi
    case $msg in
    "plumb: "*"$tier"*) pass "tier '$tier' forced by $2 is refused: $msg" ;;
    *) fail "tier '$tier' forced by $2: unclear message: '$msg'" ;;
    esac
}

ran=0
for tier in c avx2 avxvnni avx512 avx512vnni neon dotprod; do
    need=$(needs $tier)
    if has "$built" $tier && has "$features" $need; then
        quick=${PLUMB_GOLDEN_QUICK-}
        [ $tier = c ] && quick=${PLUMB_GOLDEN_QUICK-1}
        PLUMB_GOLDEN_QUICK=$quick PLUMB_CPU=$tier "$golden" >"$tmp".out 2>"$tmp".err
        rc=$?
        case $rc in
        0) pass "test_golden with PLUMB_CPU=$tier"; ran=$((ran + 1)) ;;
        77) echo "skip: test_golden with PLUMB_CPU=$tier (skipped itself)" ;;
        *)
            fail "test_golden with PLUMB_CPU=$tier: exit status $rc"
            grep -i 'fail' "$tmp".err | head -n 10
            ;;
        esac
        if [ -x "$top_builddir/tests/test_attn" ]; then
            if PLUMB_GOLDEN_QUICK=1 PLUMB_CPU=$tier "$top_builddir/tests/test_attn" >"$tmp".out 2>"$tmp".err; then
                pass "test_attn with PLUMB_CPU=$tier"
            else
                fail "test_attn with PLUMB_CPU=$tier"
                grep -i 'fail' "$tmp".err | head -n 10
            fi
        fi
    else
        # A tier that cannot run here: --version still works and says why,
        # and a model command refuses it.
        out=$(PLUMB_CPU=$tier "$PLUMB" --version 2>&1)
        rc=$?
        line=$(printf '%s\n' "$out" | sed -n 's/^kernel tier: //p')
        if [ "$rc" -eq 0 ] && case $line in *"$tier"*) true ;; *) false ;; esac; then
            pass "PLUMB_CPU=$tier plumb --version: $line"
        else
            fail "PLUMB_CPU=$tier plumb --version: exit status $rc, kernel tier line '$line'"
        fi
        refused $tier env
        refused $tier option
    fi
done

# An unknown tier name.
refused pentium4 env
refused pentium4 option

echo "tiers.sh: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
    exit 1
fi
if [ "$ran" -eq 0 ]; then
    exit 77
fi
exit 0
