#!/bin/sh
# bench.sh — plumb's side of the speed table: `plumb bench` on each model
# file with the standard settings (2 threads; pp512, tg128, tg128 at depth
# 4096), summarised as a table of tokens/s (mean ± sample deviation over all
# repetitions).
#
# If LLAMA_BENCH names a llama-bench binary, llama-bench measures the same
# tests on the same files, alternating with plumb run by run, and the table
# gets its figures and plumb's ratio to them.  This script never builds
# anything.
#
# With REPACK=1 plumb measures, for each MODEL.gguf, the copy made by
# `plumb repack` (row-interleaved Q4_0 / Q4_K, the layout its fastest
# kernels read), MODEL-R8.gguf in REPACK_DIR, made once when missing;
# llama-bench always reads MODEL.gguf itself.
#
# usage: tools/bench.sh MODEL.gguf...
# environment (defaults in brackets):
#   PLUMB           the plumb binary [./plumb if present, else plumb on PATH]
#   REPACK [1]  REPACK_DIR [the model's directory]
#   LLAMA_BENCH     a llama-bench binary; unset: plumb only
#   LLAMA_BENCH_ARGS  extra llama-bench arguments, e.g. "-fa 0" [none]
#   THREADS [2]  PP [512]  TG [128]  DEPTH [4096]  REPS [5]
#   PP_AT_DEPTH     1: also run ppPP at DEPTH [0]
#   ROUNDS          alternating plumb / llama-bench rounds per model [1]
set -eu

if [ $# -eq 0 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n '2,28s/^# \{0,1\}//p' "$0"
    [ $# -eq 0 ] && exit 2 || exit 0
fi

if [ -z "${PLUMB:-}" ]; then
    if [ -x ./plumb ]; then PLUMB=./plumb; else PLUMB=plumb; fi
fi
THREADS=${THREADS:-2}
PP=${PP:-512}
TG=${TG:-128}
DEPTH=${DEPTH:-4096}
REPS=${REPS:-5}
PP_AT_DEPTH=${PP_AT_DEPTH:-0}
ROUNDS=${ROUNDS:-1}
LLAMA_BENCH=${LLAMA_BENCH:-}
REPACK=${REPACK:-1}
REPACK_DIR=${REPACK_DIR:-}
LLAMA_BENCH_ARGS=${LLAMA_BENCH_ARGS:-}

for m in "$@"; do
    [ -r "$m" ] || { echo "bench.sh: $m: cannot read" >&2; exit 2; }
done
if [ -n "$LLAMA_BENCH" ] && [ ! -x "$LLAMA_BENCH" ]; then
    echo "bench.sh: LLAMA_BENCH=$LLAMA_BENCH is not an executable" >&2
    exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
: > "$tmp/plumb.jsonl"
: > "$tmp/llama.jsonl"

depth_pp=0
[ "$PP_AT_DEPTH" = 1 ] && depth_pp=$PP

# Two invocations per tool: the tests at depth 0, then those at DEPTH.
run_plumb() {
    echo "bench.sh: plumb bench $1 (round $2)" >&2
    "$PLUMB" bench -m "$1" -t "$THREADS" -r "$REPS" -p "$PP" -n "$TG" --json \
        >> "$tmp/plumb.jsonl" || echo "bench.sh: plumb bench failed on $1" >&2
    if [ "$DEPTH" -gt 0 ]; then
        "$PLUMB" bench -m "$1" -t "$THREADS" -r "$REPS" -p "$depth_pp" -n "$TG" -d "$DEPTH" \
            --json >> "$tmp/plumb.jsonl" || echo "bench.sh: plumb bench failed on $1" >&2
    fi
}

run_llama() {
    echo "bench.sh: llama-bench $1 (round $2)" >&2
    # shellcheck disable=SC2086
    "$LLAMA_BENCH" -m "$1" -t "$THREADS" -r "$REPS" -p "$PP" -n "$TG" -o jsonl \
        $LLAMA_BENCH_ARGS >> "$tmp/llama.jsonl" 2>> "$tmp/llama.err" ||
        echo "bench.sh: llama-bench failed on $1 (see its messages below)" >&2
    if [ "$DEPTH" -gt 0 ]; then
        # shellcheck disable=SC2086
        "$LLAMA_BENCH" -m "$1" -t "$THREADS" -r "$REPS" -p "$depth_pp" -n "$TG" -d "$DEPTH" \
            -o jsonl $LLAMA_BENCH_ARGS >> "$tmp/llama.jsonl" 2>> "$tmp/llama.err" ||
            echo "bench.sh: llama-bench failed on $1" >&2
    fi
}

# The file plumb reads for model $1.
plumb_file() {
    if [ "$REPACK" != 1 ]; then
        echo "$1"
        return
    fi
    dir=${REPACK_DIR:-$(dirname "$1")}
    echo "$dir/$(basename "$1" .gguf)-R8.gguf"
}

for m in "$@"; do
    pm=$(plumb_file "$m")
    if [ "$pm" != "$m" ] && [ ! -e "$pm" ]; then
        echo "bench.sh: plumb repack $m $pm" >&2
        if ! "$PLUMB" repack --quiet "$m" "$pm" >"$tmp/repack.out" 2>&1; then
            if grep -q "nothing to repack" "$tmp/repack.out"; then
                pm=$m # no interleaved type for this file: plumb reads it as it is
            else
                cat "$tmp/repack.out" >&2
                echo "bench.sh: repack of $m failed" >&2
                exit 1
            fi
        fi
    fi
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        run_plumb "$pm" "$r"
        [ -n "$LLAMA_BENCH" ] && run_llama "$m" "$r"
        r=$((r + 1))
    done
done
if [ -s "$tmp/llama.err" ] && ! [ -s "$tmp/llama.jsonl" ]; then
    tail -5 "$tmp/llama.err" >&2
fi

"$PLUMB" --version | sed -n '1p;4p' | tr '\n' ' '
echo
[ -n "$LLAMA_BENCH" ] && sed -n 's/.*"build_commit": *"\([^"]*\)".*"build_number": *\([0-9]*\).*/llama.cpp \1 (build \2)/p' \
    "$tmp/llama.jsonl" | head -1
echo "threads $THREADS, $REPS repetitions x $ROUNDS round(s)"
echo

# Pool the per-repetition speeds of each (tool, model, test) and tabulate.
awk -v with_llama="$([ -n "$LLAMA_BENCH" ] && echo 1 || echo 0)" '
function str(line, key,    re) {
    re = "\"" key "\": *\"[^\"]*\""
    if (!match(line, re)) return ""
    s = substr(line, RSTART, RLENGTH); sub(/^"[^"]*": *"/, "", s); sub(/"$/, "", s)
    return s
}
function num(line, key,    re) {
    re = "\"" key "\": *-?[0-9.eE+-]+"
    if (!match(line, re)) return ""
    s = substr(line, RSTART, RLENGTH); sub(/^"[^"]*": */, "", s)
    return s + 0
}
function add(tool, model, test, line,    a, n, i, k) {
    if (!match(line, /"samples_ts": *\[[^]]*\]/)) return
    a = substr(line, RSTART, RLENGTH); sub(/^[^[]*\[/, "", a); sub(/\]$/, "", a)
    n = split(a, v, ",")
    k = model SUBSEP test
    if (!(k in seen)) { seen[k] = 1; order[++n_order] = k }
    for (i = 1; i <= n; i++) {
        cnt[tool, k]++; sum[tool, k] += v[i]; sq[tool, k] += v[i] * v[i]
    }
}
function stat(tool, k,    m, d) {
    if (!cnt[tool, k]) return "-"
    m = sum[tool, k] / cnt[tool, k]
    d = cnt[tool, k] > 1 ? (sq[tool, k] - sum[tool, k] * sum[tool, k] / cnt[tool, k]) / (cnt[tool, k] - 1) : 0
    mean[tool, k] = m
    return sprintf("%.2f ± %.2f", m, sqrt(d > 0 ? d : 0))
}
FILENAME ~ /plumb.jsonl$/ { m = str($0, "model"); sub(/-R8\.gguf$/, ".gguf", m); add("plumb", m, str($0, "test"), $0) }
FILENAME ~ /llama.jsonl$/ {
    np = num($0, "n_prompt"); ng = num($0, "n_gen"); nd = num($0, "n_depth")
    t = np > 0 ? "pp" np : "tg" ng
    if (nd > 0) t = t "@d" nd
    add("llama", str($0, "model_filename"), t, $0)
}
END {
    if (with_llama) {
        printf("| %-32s | %-12s | %19s | %19s | %8s |\n", "model", "test", "plumb t/s", "llama.cpp t/s", "ratio")
        printf("| %-32s | %-12s | %19s | %19s | %8s |\n", "--------------------------------", "------------", "------------------:", "------------------:", "-------:")
    } else {
        printf("| %-32s | %-12s | %19s |\n", "model", "test", "plumb t/s")
        printf("| %-32s | %-12s | %19s |\n", "--------------------------------", "------------", "------------------:")
    }
    for (i = 1; i <= n_order; i++) {
        k = order[i]; split(k, mt, SUBSEP)
        name = mt[1]; sub(/.*\//, "", name)
        p = stat("plumb", k)
        if (with_llama) {
            l = stat("llama", k)
            ratio = (mean["plumb", k] > 0 && mean["llama", k] > 0) ? sprintf("%.2f", mean["plumb", k] / mean["llama", k]) : "-"
            printf("| %-32s | %-12s | %20s | %20s | %8s |\n", name, mt[2], p, l, ratio)
        } else {
            printf("| %-32s | %-12s | %20s |\n", name, mt[2], p)
        }
    }
}' "$tmp/plumb.jsonl" "$tmp/llama.jsonl"
