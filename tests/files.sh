#!/bin/sh
# What plumb does with the files it is given: option ranges that the library
# really accepts, output files (devices and FIFOs written in place, symbolic
# links and directories refused, unique temporary names, input never equal
# to output, standard output, free space), model files that are not regular
# files (refused at once, never waited on), and prompt files.
set -u
PLUMB=${PLUMB:-./plumb}
PLUMB_DATA=${PLUMB_DATA:-tests/data}
models=$PLUMB_DATA/models
fail=0
note() { echo "files.sh: $*" >&2; fail=1; }

[ -x "$PLUMB" ] || { echo "files.sh: $PLUMB not built" >&2; exit 99; }
[ -f "$models/mini-f32.gguf" ] || { echo "files.sh: test models missing" >&2; exit 99; }
mini=$models/mini-f32.gguf

tmp=$(mktemp -d "${TMPDIR:-/tmp}/files.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# run ARGS...: sets $status, $tmp/out and $tmp/err; a command still running
# after 20 s is stopped (a hang fails the test instead of blocking it).
run() {
    timeout 20 "$PLUMB" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    status=$?
}

# expect STATUS LABEL: the last run exited with STATUS, and a failure printed
# one "plumb: " line.
expect() {
    if [ "$status" -eq 124 ]; then
        note "$2: still running after 20 s"
        return
    fi
    [ "$status" -eq "$1" ] || note "$2: exit status $status, want $1: $(head -n 2 "$tmp/err")"
    if [ "$1" -ne 0 ]; then
        case $(head -n 1 "$tmp/err") in
        "plumb: "*) ;;
        *) note "$2: stderr does not start with 'plumb: ': $(head -n 1 "$tmp/err")" ;;
        esac
    fi
}

# says TEXT LABEL: the last run's stderr contains TEXT.
says() {
    grep -qF -- "$1" "$tmp/err" || note "$2: message lacks '$1': $(head -n 2 "$tmp/err")"
}

# ---------------------------------------------------------------- ranges
# The thread count the options document is what the library runs.
run eval -m "$mini" -p hi -t 1024
expect 0 "eval -t 1024"
run run -m "$mini" -p hi -n 2 -t 1024 --temp 0
expect 0 "run -t 1024"
run eval -m "$mini" -p hi -t 1025
expect 2 "eval -t 1025"
# mkmodel writes no more layers than the loader takes.
run mkmodel "$tmp/deep.gguf" --preset qwen3-moe-tiny --layers 1025 --quiet
expect 2 "mkmodel --layers 1025"
[ ! -e "$tmp/deep.gguf" ] || note "mkmodel --layers 1025 wrote a file"

# ---------------------------------------------------------------- models
# A model that is not a regular file is refused at once, never waited on:
# `timeout 5` turns a hang into a failure.
mkfifo "$tmp/fifo.gguf" || note "mkfifo failed"
mkdir "$tmp/dir.gguf"
for m in "$tmp/fifo.gguf" "$tmp/dir.gguf"; do
    case $m in *fifo*) kind="is a FIFO" ;; *) kind="is a directory" ;; esac
    for cmd in "run -m $m -p hi -n 1" "eval -m $m -p hi" "tokenize -m $m" "bench -m $m" \
        "inspect $m" "repack $m $tmp/r.gguf" \
        "mkmodel $tmp/v.gguf --preset qwen3-moe-tiny --vocab $m --quiet"; do
        # shellcheck disable=SC2086 # the words of $cmd are the arguments
        timeout 5 "$PLUMB" $cmd </dev/null >"$tmp/out" 2>"$tmp/err"
        status=$?
        expect 1 "$cmd"
        says "$m: $kind" "$cmd"
    done
done
[ ! -e "$tmp/r.gguf" ] && [ ! -e "$tmp/v.gguf" ] || note "a refused model left an output"
# a prompt file that is a directory says so; a FIFO is streamed input
run run -m "$mini" -f "$tmp/dir.gguf" -n 1
expect 1 "run -f DIR"
says "$tmp/dir.gguf: is a directory" "run -f DIR"
mkfifo "$tmp/prompt.fifo"
(printf 'hi' >"$tmp/prompt.fifo") &
run eval -m "$mini" -f "$tmp/prompt.fifo"
expect 0 "eval -f FIFO"
[ "$(cat "$tmp/out")" = "71 72" ] || note "eval -f FIFO: ids '$(cat "$tmp/out")', want '71 72'"
wait

exit $fail
