#!/bin/sh
# `plumb inspect` on bad input: a truncated model, a file of zeros, an empty
# file, a missing file and a directory must each exit 1 with exactly one
# `plumb: ` line on stderr naming the file (no signal, no core dump, nothing
# on stdout).  A good model prints its architecture and tensors; a bad option
# and a missing FILE are usage errors (exit 2).
set -u
PLUMB=${PLUMB:-./plumb}
PLUMB_DATA=${PLUMB_DATA:-tests/data}
model=$PLUMB_DATA/models/small-f16.gguf
fail=0
note() { echo "bad_gguf.sh: $*" >&2; fail=1; }

[ -x "$PLUMB" ] || { echo "bad_gguf.sh: $PLUMB not built" >&2; exit 99; }
[ -f "$model" ] || { echo "bad_gguf.sh: $model missing" >&2; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bad_gguf.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# run ARGS...: sets $status, $tmp/out and $tmp/err.
run() {
    "$PLUMB" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
}

# bad FILE LABEL: inspect must refuse FILE properly.
bad() {
    file=$1 label=$2
    run inspect "$file"
    if [ "$status" -ge 128 ]; then
        note "$label: killed by a signal (exit status $status)"
        return
    fi
    [ "$status" -eq 1 ] || note "$label: exit status $status, want 1"
    lines=$(wc -l <"$tmp/err" | tr -d ' ')
    [ "$lines" = 1 ] || note "$label: $lines lines on stderr, want 1: $(cat "$tmp/err")"
    first=$(head -n 1 "$tmp/err")
    case $first in
    "plumb: "*) ;;
    *) note "$label: stderr does not start with 'plumb: ': $first" ;;
    esac
    case $first in
    *"$file"*) ;;
    *) note "$label: message does not name $file: $first" ;;
    esac
    [ -s "$tmp/out" ] && note "$label: printed on stdout: $(head -c 200 "$tmp/out")"
    ls "$tmp"/core* >/dev/null 2>&1 && note "$label: core dump"
    return 0
}

head -c 5000 "$model" >"$tmp/truncated.gguf"
bad "$tmp/truncated.gguf" "truncated in the metadata"
size=$(wc -c <"$model" | tr -d ' ')
head -c $((size - 100)) "$model" >"$tmp/short.gguf"
bad "$tmp/short.gguf" "truncated in the data"
head -c 4096 /dev/zero >"$tmp/zeros.gguf"
bad "$tmp/zeros.gguf" "file of zeros"
: >"$tmp/empty.gguf"
bad "$tmp/empty.gguf" "empty file"
bad "$tmp/no-such-file.gguf" "missing file"
mkdir "$tmp/dir.gguf"
bad "$tmp/dir.gguf" "directory"

# A good model.
run inspect "$model"
[ "$status" -eq 0 ] || note "good model: exit status $status: $(cat "$tmp/err")"
grep -q 'qwen3moe' "$tmp/out" || note "good model: architecture qwen3moe not printed"
grep -q 'blk\.0\.ffn_gate_exps\.weight' "$tmp/out" || note "good model: tensor blk.0.ffn_gate_exps.weight not printed"
[ -s "$tmp/err" ] && note "good model: stderr not empty: $(cat "$tmp/err")"
run inspect --no-tensors "$model"
[ "$status" -eq 0 ] || note "--no-tensors: exit status $status"
grep -q 'blk\.0\.ffn_gate_exps\.weight' "$tmp/out" && note "--no-tensors: tensor table printed"

# Usage errors.
run inspect --bogus "$model"
[ "$status" -eq 2 ] || note "--bogus: exit status $status, want 2"
grep -q 'usage: plumb inspect' "$tmp/err" || note "--bogus: no usage message on stderr"
run inspect
[ "$status" -eq 2 ] || note "no FILE: exit status $status, want 2"
run inspect --help
[ "$status" -eq 0 ] || note "--help: exit status $status, want 0"
grep -q 'usage: plumb inspect' "$tmp/out" || note "--help: no usage on stdout"

[ "$fail" -eq 0 ] && echo "bad_gguf.sh: all passed"
exit "$fail"
