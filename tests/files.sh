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
case $PLUMB in /*) ;; *) PLUMB=$(pwd)/$PLUMB ;; esac
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
        note "$2: hangs (stopped by timeout)"
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

# ---------------------------------------------------------------- outputs
q40=$models/small-Q4_0.gguf
sum() { cksum <"$1"; }
q40_sum=$(sum "$q40")

# --logits - writes the same bytes as --logits FILE, and nothing else
run eval -m "$mini" -p hi --logits "$tmp/l.f32"
expect 0 "eval --logits FILE"
run eval -m "$mini" -p hi --logits -
expect 0 "eval --logits -"
cmp -s "$tmp/out" "$tmp/l.f32" || note "--logits -: standard output differs from the file"
[ ! -e ./- ] && [ ! -e "$tmp/-" ] || note "--logits - created a file named '-'"
grep -q "^71 72$" "$tmp/err" || note "--logits -: the ids did not go to standard error"

# a FIFO is written in place: a reader gets the bytes, the FIFO stays
mkfifo "$tmp/l.fifo"
timeout 10 cat "$tmp/l.fifo" >"$tmp/l.got" &
run eval -m "$mini" -p hi --logits "$tmp/l.fifo"
expect 0 "eval --logits FIFO"
wait
cmp -s "$tmp/l.got" "$tmp/l.f32" || note "--logits FIFO: the reader got other bytes"
[ -p "$tmp/l.fifo" ] || note "--logits FIFO: the FIFO was replaced"

# /dev/null stays a character device (only looked at, it works either way)
nul_before=$(stat -c '%F %t:%T' /dev/null)
run eval -m "$mini" -p hi --logits /dev/null
expect 0 "eval --logits /dev/null"
[ "$(stat -c '%F %t:%T' /dev/null)" = "$nul_before" ] || note "/dev/null is no longer a device"
# our own device nodes for the rest: null and full (1,3 and 1,7)
if mknod "$tmp/null" c 1 3 2>/dev/null && mknod "$tmp/full" c 1 7 2>/dev/null; then
    run eval -m "$mini" -p hi --logits "$tmp/null"
    expect 0 "eval --logits DEVICE"
    [ -c "$tmp/null" ] || note "--logits DEVICE: no longer a character device"
    run eval -m "$mini" -p hi --logits "$tmp/full"
    expect 1 "eval --logits FULL-DEVICE (the write reaches the device and fails)"
    says "$tmp/full" "eval --logits FULL-DEVICE"
    [ -c "$tmp/full" ] || note "--logits FULL-DEVICE: no longer a character device"
    run repack "$q40" "$tmp/null" --quiet
    expect 0 "repack to a device"
    [ -c "$tmp/null" ] || note "repack: the device was replaced"
else
    echo "files.sh: mknod not permitted (not root): device node cases skipped" >&2
fi

# symbolic links at the target and at the old fixed temporary name are not
# followed; an unrelated OUT.tmp survives
echo precious >"$tmp/victim"
ln -s "$tmp/victim" "$tmp/link.gguf"
ln -s "$tmp/victim" "$tmp/r8.gguf.tmp"
ln -s "$tmp/victim" "$tmp/syn.gguf.tmp"
run repack "$q40" "$tmp/link.gguf" --force --quiet
expect 1 "repack to a symbolic link"
says "symbolic link" "repack to a symbolic link"
run mkmodel "$tmp/link.gguf" --preset qwen3-moe-tiny --force --quiet
expect 1 "mkmodel to a symbolic link"
run eval -m "$mini" -p hi --logits "$tmp/link.gguf"
expect 1 "eval --logits to a symbolic link"
run repack "$q40" "$tmp/r8.gguf" --quiet
expect 0 "repack beside a planted OUT.tmp link"
run mkmodel "$tmp/syn.gguf" --preset qwen3-moe-tiny --quiet
expect 0 "mkmodel beside a planted OUT.tmp link"
[ "$(cat "$tmp/victim")" = precious ] || note "a symbolic link's target was written"
[ -L "$tmp/r8.gguf.tmp" ] && [ -L "$tmp/syn.gguf.tmp" ] || note "a planted link was removed"
echo mine >"$tmp/r8b.gguf.tmp"
run repack "$q40" "$tmp/r8b.gguf" --quiet
expect 0 "repack beside an unrelated OUT.tmp"
[ "$(cat "$tmp/r8b.gguf.tmp")" = mine ] || note "an unrelated OUT.tmp was changed or removed"
# --follow-symlinks writes the file the link points to and keeps the link
cp "$q40" "$tmp/real.gguf"
ln -s real.gguf "$tmp/via.gguf"
run repack "$tmp/r8.gguf" "$tmp/via.gguf" --unpack --force --follow-symlinks --quiet
expect 0 "repack --follow-symlinks"
[ -L "$tmp/via.gguf" ] || note "--follow-symlinks replaced the link"
cmp -s "$tmp/real.gguf" "$q40" || note "--follow-symlinks: unpacked file differs from the original"

# the input is never the output, whatever its name
cp "$q40" "$tmp/in.gguf.tmp"
run repack "$tmp/in.gguf.tmp" "$tmp/in.gguf" --quiet
expect 0 "repack X.gguf.tmp X.gguf"
[ "$(sum "$tmp/in.gguf.tmp")" = "$q40_sum" ] || note "repack X.gguf.tmp X.gguf changed the input"
run inspect --no-tensors "$tmp/in.gguf"
expect 0 "repack X.gguf.tmp X.gguf: output readable"
cp "$q40" "$tmp/in.gguf"
ln "$tmp/in.gguf" "$tmp/hard.gguf"
ln -s in.gguf "$tmp/soft.gguf"
for args in "$tmp/in.gguf $tmp/in.gguf --force" "$tmp/in.gguf $tmp/hard.gguf --force" \
    "$tmp/in.gguf $tmp/soft.gguf --force --follow-symlinks" "$tmp/soft.gguf $tmp/in.gguf --force"; do
    # shellcheck disable=SC2086
    run repack $args --quiet
    expect 1 "repack $args"
    says "is the input file" "repack $args"
done
[ "$(sum "$tmp/in.gguf")" = "$q40_sum" ] || note "repack onto its input changed it"
ls "$tmp" | grep -q '\.tmp-' && note "temporary files left: $(ls "$tmp" | grep '\.tmp-')"
run eval -m "$tmp/in.gguf" -p hi --logits "$tmp/hard.gguf"
expect 1 "eval --logits onto the model"
[ "$(sum "$tmp/in.gguf")" = "$q40_sum" ] || note "eval --logits onto the model changed it"

# directories, and '-' where standard output is not possible
mkdir "$tmp/outdir"
run repack "$q40" "$tmp/outdir" --force --quiet
expect 1 "repack to a directory"
says "is a directory" "repack to a directory"
run mkmodel "$tmp/outdir" --preset qwen3-moe-tiny --force --quiet
expect 1 "mkmodel to a directory"
says "is a directory" "mkmodel to a directory"
run eval -m "$mini" -p hi --logits "$tmp/outdir"
expect 1 "eval --logits to a directory"
says "is a directory" "eval --logits to a directory"
(cd "$tmp" && "$PLUMB" mkmodel - --preset qwen3-moe-tiny --quiet >out 2>err)
[ $? -eq 1 ] && [ ! -e "$tmp/-" ] || note "mkmodel - : created a file named '-' or did not fail"

# a directory that cannot hold files: a clear message, not "0.00 GiB free"
if [ -d /proc/self ]; then
    run repack "$q40" /proc/plumb-test.gguf --quiet
    expect 1 "repack into /proc"
    says "/proc" "repack into /proc"
    grep -q "0.00 GiB" "$tmp/err" && note "repack into /proc: $(cat "$tmp/err")"
fi

# a signal while writing leaves no temporary file (mkmodel handles SIGINT
# itself once writing data; SIGHUP, and SIGINT before that, go through the
# common handler).  env gives the background job the default SIGINT of a
# command typed at a terminal (a shell script's background jobs ignore it).
for sig in INT HUP; do
    env --default-signal=INT true 2>/dev/null || break
    rm -f "$tmp/big.gguf"
    env --default-signal=INT "$PLUMB" mkmodel "$tmp/big.gguf" --preset qwen3-moe-small --type F32 --layers 40 \
        --quiet >/dev/null 2>"$tmp/err" &
    pid=$!
    seen=0
    for _ in $(seq 400); do
        if ls "$tmp" | grep -q '^big\.gguf\.tmp-'; then
            seen=1
            break
        fi
        sleep 0.05
    done
    kill -s "$sig" "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null
    if [ "$seen" = 1 ] && [ ! -e "$tmp/big.gguf" ]; then
        ls "$tmp" | grep -q '^big\.gguf\.tmp-' && note "SIG$sig: temporary file left"
    else
        echo "files.sh: mkmodel finished before SIG$sig: case skipped: $(cat "$tmp/err")" >&2
    fi
done
rm -f "$tmp/big.gguf"

exit $fail
