#!/bin/sh
# --kv-save and --kv-load of `plumb eval` and `plumb run` on the small test
# model: logits after loading a saved prefix are the bytes of a fresh
# evaluation of the whole sequence (every cache type, and a window that has
# dropped a page), run generates the same text from a loaded prefix, only
# the part of the prompt past the loaded tokens is evaluated, an empty
# prompt continues the loaded tokens; refusals name the file and the field
# (another model, cache type, window, a context too small, a truncated or
# damaged file, a missing file, a symbolic link, a directory) and leave
# targets untouched and no temporary file behind.
set -u
PLUMB=${PLUMB:-./plumb}
PLUMB_DATA=${PLUMB_DATA:-tests/data}
models=$PLUMB_DATA/models
prompts=$PLUMB_DATA/prompts
fail=0
note() { echo "kvfile.sh: $*" >&2; fail=1; }

[ -x "$PLUMB" ] || { echo "kvfile.sh: $PLUMB not built" >&2; exit 99; }
[ -f "$models/small-f16.gguf" ] || { echo "kvfile.sh: test models missing" >&2; exit 99; }
small=$models/small-f16.gguf
dense=$models/dense-f16.gguf

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvfile.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
umask 022

# run ARGS...: sets $status, $tmp/out and $tmp/err; a hang fails.
run() {
    timeout 120 "$PLUMB" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    status=$?
}

# expect STATUS LABEL: the last run exited with STATUS; a failure printed a
# "plumb: " line.
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

# ids FROM TO: token ids FROM..TO (a fixed pseudo-random sequence), comma-separated
ids() {
    awk -v a="$1" -v b="$2" 'BEGIN { x = 7; s = "";
        for (i = 0; i <= b; i++) { x = (x * 1103 + 12345) % 2039;
            if (i >= a) s = s (i > a ? "," : "") x } print s }'
}

# ---------------------------------------------------------------- help
for cmd in run eval; do
    run "$cmd" --help
    for o in --kv-load --kv-save; do
        grep -q -- "$o FILE" "$tmp/out" || note "$cmd --help lacks $o"
    done
done

# ---------------------------------------------------------------- same bytes
# eval of 300 tokens saved; eval of 330 loading it writes the logits a fresh
# eval of the 330 writes
for t in f32 f16 q8_0 q4_0; do
    run eval -m "$small" --tokens "$(ids 0 299)" --kv-type "$t" --kv-save "$tmp/$t.kv"
    expect 0 "eval --kv-save ($t)"
    [ "$(stat -c %a "$tmp/$t.kv" 2>/dev/null)" = 644 ] || note "$t.kv: mode $(stat -c %a "$tmp/$t.kv")"
    run eval -m "$small" --tokens "$(ids 0 329)" --kv-type "$t" --kv-load "$tmp/$t.kv" \
        --logits "$tmp/load.f32" --greedy 4
    expect 0 "eval --kv-load ($t)"
    cp "$tmp/out" "$tmp/load.out"
    run eval -m "$small" --tokens "$(ids 0 329)" --kv-type "$t" --logits "$tmp/fresh.f32" --greedy 4
    expect 0 "eval ($t)"
    cmp -s "$tmp/load.f32" "$tmp/fresh.f32" || note "$t: logits after --kv-load differ from a fresh eval"
    cmp -s "$tmp/load.out" "$tmp/out" || note "$t: ids or greedy tokens after --kv-load differ"
done

# a window of 64 with 4 sinks: 600 tokens saved, 100 more loaded and saved
# again (page 1 is dropped then), 20 more: the logits of a fresh run
win="--kv-type q8_0 --window 64 --keep 4"
# shellcheck disable=SC2086 # $win is two options
run eval -m "$small" --tokens "$(ids 0 599)" $win --kv-save "$tmp/w.kv"
expect 0 "eval --window --kv-save"
# shellcheck disable=SC2086
run eval -m "$small" --tokens "$(ids 0 699)" $win --kv-load "$tmp/w.kv" --kv-save "$tmp/w.kv"
expect 0 "eval --window --kv-load --kv-save (the same file)"
# two pages of 139264 bytes of q8_0 rows (0 and 2), not the three of a dense cache
[ "$(stat -c %s "$tmp/w.kv")" -lt 348160 ] ||
    note "window: page 1 was saved: $(stat -c %s "$tmp/w.kv") bytes"
# shellcheck disable=SC2086
run eval -m "$small" --tokens "$(ids 0 719)" $win --kv-load "$tmp/w.kv" --logits "$tmp/load.f32"
expect 0 "eval --window --kv-load"
# shellcheck disable=SC2086
run eval -m "$small" --tokens "$(ids 0 719)" $win --logits "$tmp/fresh.f32"
expect 0 "eval --window"
cmp -s "$tmp/load.f32" "$tmp/fresh.f32" || note "window: logits after --kv-load differ from a fresh eval"

# ---------------------------------------------------------------- run
head -c 800 "$prompts/p3.txt" >"$tmp/head.txt"
run eval -m "$small" -f "$tmp/head.txt" --kv-save "$tmp/head.kv"
expect 0 "eval -f --kv-save"
run run -m "$small" -f "$prompts/p3.txt" -n 12 --temp 0
expect 0 "run"
cp "$tmp/out" "$tmp/fresh.txt"
run run -m "$small" -f "$prompts/p3.txt" -n 12 --temp 0 --kv-load "$tmp/head.kv" -v \
    --kv-save "$tmp/run.kv"
expect 0 "run --kv-load --kv-save"
cmp -s "$tmp/out" "$tmp/fresh.txt" || note "run --kv-load: other text than a fresh run"
grep -q "head.kv: [0-9]* tokens loaded, [1-9][0-9]* of them kept" "$tmp/err" ||
    note "run -v does not report the kept tokens: $(grep head.kv "$tmp/err")"
kept=$(sed -n 's/.*tokens loaded, \([0-9]*\) of them kept.*/\1/p' "$tmp/err")
total=$(sed -n "s/.*prompt's \([0-9]*\)$/\1/p" "$tmp/err")
[ -n "$kept" ] && [ -n "$total" ] && [ "$kept" -gt 100 ] ||
    note "run --kv-load: kept '$kept' of '$total' prompt tokens"
grep -q "run.kv: saved" "$tmp/err" || note "run -v does not report the save"
# an empty prompt goes on from the loaded tokens (the last one evaluated again)
run run -m "$small" -p "" -n 4 --temp 0 --kv-load "$tmp/run.kv"
expect 0 "run -p '' --kv-load"
[ -n "$(tr -d '\n' <"$tmp/out")" ] || note "run -p '' --kv-load generated nothing"

# ---------------------------------------------------------------- refusals
f=$tmp/q8_0.kv
run eval -m "$dense" --tokens 1,2 --kv-type q8_0 --kv-load "$f"
expect 1 "another model"
says "kv-load: $f: made with another model (fingerprint differs" "another model"
run eval -m "$small" --tokens 1,2 --kv-load "$f" --kv-type q4_0
expect 1 "another cache type"
says "kv-load: $f: key type q8_0, this session uses q4_0" "another cache type"
run eval -m "$small" --tokens 1,2 --kv-type q8_0 --kv-load "$f" -ctv f16
expect 1 "another value type"
says "value type q8_0, this session uses f16" "another value type"
run eval -m "$small" --tokens 1,2 --kv-type q8_0 --kv-load "$f" --window 64
expect 1 "a window"
says "kv-load: $f: window 0, this session's is 64" "a window"
run run -m "$small" -p hi -n 1 --kv-type q8_0 --kv-load "$f" -c 256
expect 1 "a context too small"
says "kv-load: $f: holds 300 positions, more than this session's context of 256" "a context too small"
head -c 5000 "$f" >"$tmp/short.kv"
run eval -m "$small" --tokens 1,2 --kv-type q8_0 --kv-load "$tmp/short.kv"
expect 1 "a truncated file"
says "kv-load: $tmp/short.kv: truncated: the file ends at byte 5000" "a truncated file"
# one byte of the page data changed
cp "$f" "$tmp/bad.kv"
printf '\377' | dd of="$tmp/bad.kv" bs=1 seek=3000 conv=notrunc 2>/dev/null
run eval -m "$small" --tokens 1,2 --kv-type q8_0 --kv-load "$tmp/bad.kv"
expect 1 "a damaged page"
says "kv-load: $tmp/bad.kv: page 0: " "a damaged page"
cp "$f" "$tmp/bad.kv"
printf '\001' | dd of="$tmp/bad.kv" bs=1 seek=200 conv=notrunc 2>/dev/null
run eval -m "$small" --tokens 1,2 --kv-type q8_0 --kv-load "$tmp/bad.kv"
expect 1 "a damaged header"
says "kv-load: $tmp/bad.kv: bad CRC-32" "a damaged header"
run eval -m "$small" --tokens 1,2 --kv-type q8_0 --kv-load "$tmp/none.kv"
expect 1 "a missing file"
says "kv-load: $tmp/none.kv: No such file" "a missing file"
run eval -m "$small" --tokens 1,2 --kv-type q8_0 --kv-load "$small"
expect 1 "a model as the file"
says "not a key/value cache file" "a model as the file"
run eval -m "$small" --tokens 1,2 --kv-type q8_0 --kv-load "$f" --logits "$tmp/l.f32" --all
expect 2 "--all with --kv-load"

# symbolic links and directories: refused before the model is loaded, and
# left as they were
echo precious >"$tmp/victim"
ln -s "$tmp/victim" "$tmp/link.kv"
mkdir "$tmp/dir.kv"
for cmd in "eval -m $small --tokens 1,2" "run -m $small -p hi -n 2"; do
    # shellcheck disable=SC2086 # the words of $cmd are the arguments
    run $cmd --kv-save "$tmp/link.kv"
    expect 1 "$cmd --kv-save LINK"
    says "kv-save: $tmp/link.kv: is a symbolic link" "$cmd --kv-save LINK"
    [ -s "$tmp/out" ] && note "$cmd --kv-save LINK: ran before refusing"
    # shellcheck disable=SC2086
    run $cmd --kv-save "$tmp/dir.kv"
    expect 1 "$cmd --kv-save DIR"
    says "kv-save: $tmp/dir.kv: is a directory" "$cmd --kv-save DIR"
    # shellcheck disable=SC2086
    run $cmd --kv-save "$tmp/nodir/x.kv"
    expect 1 "$cmd --kv-save MISSING-DIR/FILE"
    says "kv-save: $tmp/nodir/x.kv" "$cmd --kv-save MISSING-DIR/FILE"
done
[ "$(cat "$tmp/victim")" = precious ] || note "the link's target was changed"
[ -L "$tmp/link.kv" ] || note "the link was replaced"
[ -d "$tmp/dir.kv" ] || note "the directory was replaced"
ln -sf "$f" "$tmp/link.kv"
run eval -m "$small" --tokens 1,2 --kv-load "$tmp/link.kv"
expect 1 "--kv-load LINK"
says "kv-load: $tmp/link.kv: is a symbolic link" "--kv-load LINK"
run eval -m "$small" --tokens 1,2 --kv-load "$tmp/dir.kv"
expect 1 "--kv-load DIR"
says "kv-load: $tmp/dir.kv: is a directory" "--kv-load DIR"
left=$(find "$tmp" -name '*.tmp-*' | head -n 3)
[ -z "$left" ] || note "temporary files left behind: $left"

exit $fail
