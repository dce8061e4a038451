#!/bin/sh
# The plumb command line: `plumb eval` against llama.cpp's golden outputs
# (prompt ids, greedy ids, logits file sizes), atomic logits files, bad input
# (usage errors exit 2, other errors 1, always with a `plumb: ` message and
# never a signal), `plumb --version`, unknown commands, and the determinism
# of `plumb run`, `plumb repack` (round trip, refusals, the hint of run and
# bench), and `plumb tokenize --jsonl` (escapes, bad lines).
set -u
PLUMB=${PLUMB:-./plumb}
PLUMB_DATA=${PLUMB_DATA:-tests/data}
models=$PLUMB_DATA/models
golden=$PLUMB_DATA/golden
prompts=$PLUMB_DATA/prompts
fail=0
note() { echo "cli.sh: $*" >&2; fail=1; }

[ -x "$PLUMB" ] || { echo "cli.sh: $PLUMB not built" >&2; exit 99; }
[ -f "$models/small-f16.gguf" ] || { echo "cli.sh: test models missing" >&2; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cli.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# run ARGS...: sets $status, $tmp/out and $tmp/err.
run() {
    "$PLUMB" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
}

# expect STATUS LABEL: the last run exited with STATUS; when STATUS is not 0,
# stderr starts with "plumb: ".
expect() {
    if [ "$status" -ge 128 ]; then
        note "$2: killed by a signal (exit status $status)"
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

size() { wc -c <"$1" | tr -d ' '; }
first_line() { head -n 1 "$1"; }
line2() { sed -n 2p "$1"; }

# ---------------------------------------------------------------- eval vs golden
# prompt ids of a text prompt
run eval -m "$models/small-Q4_0.gguf" -f "$prompts/p1.txt"
expect 0 "eval -f p1.txt"
[ "$(first_line "$tmp/out")" = "$(first_line "$golden/small-Q4_0.p1.tokens.txt")" ] ||
    note "small-Q4_0 p1: prompt ids differ from llama.cpp's: $(first_line "$tmp/out")"
lines=$(wc -l <"$tmp/out" | tr -d ' ')
[ "$lines" = 1 ] || note "eval without --greedy printed $lines lines"

# the same text through -p and through standard input
run eval -m "$models/small-Q4_0.gguf" -p "$(cat "$prompts/p1.txt")"
expect 0 "eval -p"
[ "$(first_line "$tmp/out")" = "$(first_line "$golden/small-Q4_0.p1.tokens.txt")" ] ||
    note "eval -p: prompt ids differ"
"$PLUMB" eval -m "$models/small-Q4_0.gguf" -f - <"$prompts/p2.txt" >"$tmp/out" 2>"$tmp/err"
status=$?
expect 0 "eval -f -"
[ "$(first_line "$tmp/out")" = "$(first_line "$golden/small-Q4_0.p2.tokens.txt")" ] ||
    note "eval -f - (p2, ChatML with special tokens): prompt ids differ"

# greedy decoding, with the f32 cache the golden files were made with.
# These cases have no near-tie in llama.cpp's own choices
# (small-f16 p1 has one at step 23 where its two best logits are 3e-5 apart,
# far below the float16 rounding noise between implementations).
for case in small-f16:2 mini-f32:1 dense-f16:1; do
    m=${case%:*} p=${case#*:}
    run eval -m "$models/$m.gguf" -f "$prompts/p$p.txt" --greedy 32 --kv-type f32
    expect 0 "$m p$p --greedy 32"
    [ "$(first_line "$tmp/out")" = "$(first_line "$golden/$m.p$p.tokens.txt")" ] ||
        note "$m p$p: prompt ids differ"
    [ "$(line2 "$tmp/out")" = "$(first_line "$golden/$m.p$p.greedy.txt")" ] ||
        note "$m p$p: greedy ids differ from llama.cpp's: $(line2 "$tmp/out")"
done
# ... and with the prompt given as ids
ids=$(first_line "$golden/small-f16.p2.tokens.txt" | tr ' ' ',')
run eval -m "$models/small-f16.gguf" --tokens "$ids" --greedy 4 --kv-type f32
expect 0 "--tokens --greedy 4"
[ "$(line2 "$tmp/out")" = "$(first_line "$golden/small-f16.p2.greedy.txt" | cut -d' ' -f1-4)" ] ||
    note "--tokens: greedy ids differ: $(line2 "$tmp/out")"

# ---------------------------------------------------------------- logits files
n_prompt=$(first_line "$golden/small-f16.p1.tokens.txt" | wc -w | tr -d ' ')
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" --logits "$tmp/last.f32"
expect 0 "--logits"
[ "$(size "$tmp/last.f32")" = $((2048 * 4)) ] || note "--logits: $(size "$tmp/last.f32") bytes, want $((2048 * 4))"
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" --logits "$tmp/all.f32" --all
expect 0 "--logits --all"
[ "$(size "$tmp/all.f32")" = $((n_prompt * 2048 * 4)) ] ||
    note "--all: $(size "$tmp/all.f32") bytes, want $((n_prompt * 2048 * 4))"
# the last row of --all is the --logits file
tail -c $((2048 * 4)) "$tmp/all.f32" >"$tmp/tail.f32"
cmp -s "$tmp/tail.f32" "$tmp/last.f32" || note "--all: last row differs from --logits"
ls "$tmp" | grep -q 'tmp\.' && note "temporary files left behind: $(ls "$tmp")"

# the key/value cache types: f16 by default, the others on request (close, not equal)
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" --kv-type f32 --logits "$tmp/kv32.f32"
expect 0 "--kv-type f32"
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" --kv-type F16 --logits "$tmp/kv16.f32"
expect 0 "--kv-type F16"
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" --kv-type q8_0 --logits "$tmp/kv8.f32"
expect 0 "--kv-type q8_0"
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" -ctk q4_0 -ctv f16 --logits "$tmp/kv4.f32"
expect 0 "-ctk q4_0 -ctv f16"
cmp -s "$tmp/kv16.f32" "$tmp/last.f32" || note "the default cache is not f16"
cmp -s "$tmp/kv8.f32" "$tmp/kv16.f32" && note "--kv-type q8_0 and f16 gave the same logits"
cmp -s "$tmp/kv16.f32" "$tmp/kv32.f32" && note "--kv-type f32 and f16 gave the same logits"
cmp -s "$tmp/kv4.f32" "$tmp/kv16.f32" && note "-ctk q4_0 and f16 keys gave the same logits"
[ "$(size "$tmp/kv32.f32")" = $((2048 * 4)) ] || note "--kv-type f32: $(size "$tmp/kv32.f32") bytes"
# a window as long as the prompt changes nothing
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" --window 4096 --keep 4 --logits "$tmp/win.f32"
expect 0 "--window 4096"
cmp -s "$tmp/win.f32" "$tmp/last.f32" || note "--window longer than the prompt changed the logits"
for cmd in eval run bench; do
    p=hi
    [ $cmd = bench ] && p=8
    run $cmd -m "$models/small-f16.gguf" -p $p --kv-type q5_0
    expect 2 "$cmd --kv-type q5_0"
    grep -q "'q5_0'" "$tmp/err" || note "$cmd --kv-type q5_0: message does not name it: $(cat "$tmp/err")"
    run $cmd -m "$models/small-f16.gguf" -p $p --keep 8
    expect 2 "$cmd --keep without --window"
    grep -q -- "--window" "$tmp/err" || note "$cmd --keep alone: $(cat "$tmp/err")"
    run $cmd -m "$models/small-f16.gguf" -p $p --window -3
    expect 2 "$cmd --window -3"
done
run bench -m "$models/small-f16.gguf" -p 8 -n 0 -r 1 --kv-type
expect 2 "bench --kv-type without a value"
run bench -m "$models/small-f16.gguf" -p 8 -n 2 -r 1 -d 0,300 -ctk f32 -ctv q4_0 --window 256 --json
expect 0 "bench -ctk f32 -ctv q4_0 --window 256 --json"
grep -q '"n_depth": 300' "$tmp/out" || note "bench --json: no n_depth 300: $(tail -n 1 "$tmp/out")"
[ "$(grep -c '"type_k": "f32", "type_v": "q4_0", "window": 256, "keep": 4' "$tmp/out")" = 4 ] ||
    note "bench --kv-type f32 --json: type_k/type_v missing: $(head -n 1 "$tmp/out")"

# bench --roofline: the bytes a decoded token reads, against the file's tensor
# table (the expert stacks at expert_used_count/expert_count, one row of
# token_embd, everything else whole) plus the cache rows of the positions its
# tokens attend to (mean over tg4 at depth 300: 302.5; with --window 256 the
# 4 sinks and 256 positions); the ceiling is the bandwidth over those bytes.
run inspect "$models/small-Q4_0.gguf"
cp "$tmp/out" "$tmp/inspect"
# roofline_bytes KTYPE_BYTES_PER_32 VTYPE_BYTES_PER_32 POSITIONS
roofline_bytes() {
    awk -v kb="$1" -v vb="$2" -v pos="$3" '
    $1 ~ /\.block_count$/ { L = $3 }
    $1 ~ /\.attention\.head_count_kv$/ { H = $3 }
    $1 ~ /\.attention\.key_length$/ { D = $3 }
    $1 ~ /\.expert_count$/ { ne = $3 }
    $1 ~ /\.expert_used_count$/ { nu = $3 }
    $1 ~ /^[0-9]+$/ && $2 ~ /\.weight$/ {
        if ($2 ~ /_exps\.weight$/) exps += $NF
        else if ($2 == "token_embd.weight") embd = $NF / $(NF - 1)
        else w += $NF
    }
    END { printf "%.0f\n", w + embd + exps * nu / ne + L * H * (D / 32) * (kb + vb) * pos }' "$tmp/inspect"
}
# json_num FIELD LINE: the number (or null) of FIELD in a JSON line
json_num() { printf '%s\n' "$2" | sed -n "s/.*\"$1\": \\([-0-9.enul]*\\).*/\\1/p"; }
# check_roofline LABEL WANT_BYTES N_SAMPLES: the tg line of $tmp/out against
# WANT_BYTES, with N_SAMPLES bandwidth samples (repetitions + 1)
check_roofline() {
    pp=$(grep '"test": "pp' "$tmp/out") tg=$(grep '"test": "tg' "$tmp/out")
    [ -n "$pp" ] && [ -n "$tg" ] || { note "$1: pp or tg line missing: $(cat "$tmp/out")"; return; }
    for f in bytes_per_token roofline_ts roofline_frac; do
        [ "$(json_num $f "$pp")" = null ] || note "$1: pp test: $f is not null: $pp"
    done
    [ "$(json_num bytes_per_token "$tg")" = "$2" ] ||
        note "$1: bytes_per_token $(json_num bytes_per_token "$tg"), want $2"
    awk -v g="$(json_num roofline_gbs "$tg")" -v b="$(json_num bytes_per_token "$tg")" \
        -v c="$(json_num roofline_ts "$tg")" -v f="$(json_num roofline_frac "$tg")" \
        -v a="$(json_num avg_ts "$tg")" 'BEGIN {
        d1 = g * 1e9 / b / c - 1; d2 = a / c / f - 1
        exit !(g > 0 && c > 0 && f > 0 && d1 < 1e-3 && d1 > -1e-3 && d2 < 1e-3 && d2 > -1e-3) }' ||
        note "$1: roofline_ts is not roofline_gbs over bytes_per_token, or roofline_frac not avg_ts over it: $tg"
    # a tg test's bandwidth: the mean of a sample before each repetition and
    # one after the last; a pp test has none
    printf '%s\n' "$pp" | grep -q '"roofline_samples_gbs": \[\]' ||
        note "$1: pp test has bandwidth samples: $pp"
    printf '%s\n' "$tg" | sed -n 's/.*"roofline_samples_gbs": \[\([^]]*\)\].*/\1/p' | tr ',' '\n' |
        awk -v g="$(json_num roofline_gbs "$tg")" -v want="$3" '
        { if ($1 + 0 <= 0) bad = 1; sum += $1; n++ }
        END { d = n ? sum / n / g - 1 : 1; exit !(n == want && !bad && d < 2e-3 && d > -2e-3) }' ||
        note "$1: roofline_gbs is not the mean of $3 positive samples: $tg"
}
run bench -m "$models/small-Q4_0.gguf" -p 8 -n 4 -r 1 -d 300 -t 2 --roofline --roofline-anon --json
expect 0 "bench --roofline --roofline-anon --json"
check_roofline "bench --roofline" "$(roofline_bytes 34 34 302.5)" 2
awk -v x="$(json_num roofline_anon_gbs "$(head -n 1 "$tmp/out")")" 'BEGIN { exit !(x > 0) }' ||
    note "bench --roofline-anon: no roofline_anon_gbs: $(head -n 1 "$tmp/out")"
run bench -m "$models/small-Q4_0.gguf" -p 8 -n 4 -r 3 -d 300 -t 1 --roofline --json \
    -ctk f16 -ctv q4_0 --window 256 --fill-random
expect 0 "bench --roofline -ctk f16 -ctv q4_0 --window 256 --json"
check_roofline "bench --roofline --window 256" "$(roofline_bytes 64 18 260)" 4
[ "$(json_num roofline_anon_gbs "$(head -n 1 "$tmp/out")")" = null ] ||
    note "bench --roofline without -anon: roofline_anon_gbs is not null: $(head -n 1 "$tmp/out")"
run bench -m "$models/small-Q4_0.gguf" -p 8 -n 4 -r 1 --roofline
expect 0 "bench --roofline (table)"
grep -q '^roofline: [0-9.]* GB/s reading the pages of small-Q4_0.gguf' "$tmp/out" ||
    note "bench --roofline: no bandwidth line: $(head -n 1 "$tmp/out")"
grep '| *tg4 |' "$tmp/out" | grep -q '| *[0-9.]*% of [0-9.]* |$' ||
    note "bench --roofline: the tg line has no share of the ceiling: $(grep tg4 "$tmp/out")"
grep '| *pp8 |' "$tmp/out" | grep -q '| *- |$' ||
    note "bench --roofline: the pp line has a ceiling: $(grep pp8 "$tmp/out")"
run bench -m "$models/small-Q4_0.gguf" -p 8 -n 0 -r 1 --roofline-anon
expect 2 "bench --roofline-anon without --roofline"

# an existing file survives a failed eval
echo "keep me" >"$tmp/keep.f32"
run eval -m "$models/small-f16.gguf" --tokens 1,2,999999 --logits "$tmp/keep.f32"
expect 1 "out-of-range token id"
grep -q 999999 "$tmp/err" || note "out-of-range id: message does not name it: $(cat "$tmp/err")"
[ "$(cat "$tmp/keep.f32")" = "keep me" ] || note "a failed eval clobbered the --logits file"
run eval -m "$tmp/nonexistent.gguf" -p hi --logits "$tmp/keep.f32"
expect 1 "missing model"
[ "$(cat "$tmp/keep.f32")" = "keep me" ] || note "a failed load clobbered the --logits file"
run eval -m "$models/small-f16.gguf" -p hi --logits "$tmp/no/such/dir/x.f32"
expect 1 "--logits into a missing directory"
# refused before the model runs, naming the directory
grep -q "$tmp/no/such/dir" "$tmp/err" || note "--logits into a missing directory: $(cat "$tmp/err")"

# ---------------------------------------------------------------- bad input
run eval -p hi
expect 2 "missing -m"
run eval -m "$models/small-f16.gguf" -p hi -f "$prompts/p1.txt"
expect 2 "-p and -f together"
run eval -m "$models/small-f16.gguf"
expect 2 "no prompt"
run eval -m "$models/small-f16.gguf" -p hi --bogus
expect 2 "unknown option"
run eval -m "$models/small-f16.gguf" -p hi --greedy
expect 2 "--greedy without a value"
run eval -m "$models/small-f16.gguf" -p hi --greedy -3
expect 2 "--greedy -3"
run eval -m "$models/small-f16.gguf" --tokens 1,x,3
expect 2 "bad --tokens"
grep -q "^plumb: eval: --tokens: 'x' is not a token id" "$tmp/err" || note "bad --tokens message: $(cat "$tmp/err")"
for t in "" "1,,2" "1," "-1" "1 2"; do
    run eval -m "$models/small-f16.gguf" --tokens "$t"
    expect 2 "--tokens '$t'"
done
run eval -m "$tmp/nonexistent.gguf" -p hi
expect 1 "nonexistent model"
grep -q "nonexistent.gguf" "$tmp/err" || note "nonexistent model: message does not name the file"
printf 'GGUF\003\000\000\000' >"$tmp/short.gguf"
run eval -m "$tmp/short.gguf" -p hi
expect 1 "truncated model"
run eval -m "$models/qwen3-vocab.gguf" -p hi
expect 1 "a vocabulary without weights"
run eval -m "$models/small-f16.gguf" -f "$tmp/nonexistent.txt"
expect 1 "missing prompt file"
run eval -m "$models/small-f16.gguf" -p ""
expect 1 "empty prompt"
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" --greedy 8 -c 10
expect 1 "context too small"
grep -q "context" "$tmp/err" || note "context too small: $(cat "$tmp/err")"
# a tier name that does not exist is a bad value (2); one this CPU lacks is
# an error at run time (1, see tiers.sh)
for cmd in run eval bench; do
    p=hi
    [ $cmd = bench ] && p=8
    run $cmd -m "$models/small-f16.gguf" -p $p --cpu nosuchtier
    expect 2 "$cmd: unknown --cpu tier"
    grep -q "^plumb: $cmd: --cpu: 'nosuchtier'" "$tmp/err" || note "$cmd --cpu nosuchtier: $(head -n 1 "$tmp/err")"
done
run eval --help
expect 0 "eval --help"
grep -q -- "--logits" "$tmp/out" || note "eval --help does not list --logits"

# every usage error names the command and the option and points at --help
usage_msg() { # LABEL CMD OPT: the last run was a usage error of CMD about OPT
    expect 2 "$1"
    grep -q "^plumb: $2: $3: " "$tmp/err" || note "$1: message: $(head -n 1 "$tmp/err")"
    grep -qF "(see 'plumb $2 --help')" "$tmp/err" || note "$1: no hint at 'plumb $2 --help'"
}
run run -m "$models/mini-f32.gguf" -p hi -n x
usage_msg "run -n x" run -n
run run -m "$models/mini-f32.gguf" -p hi --temp 1e9
usage_msg "run --temp 1e9" run --temp
run run -m "$models/mini-f32.gguf" -p hi --seed -2
usage_msg "run --seed -2" run --seed
run eval -m "$models/mini-f32.gguf" -p hi --greedy -3
usage_msg "eval --greedy -3" eval --greedy
run bench -m "$models/mini-f32.gguf" -r 0
usage_msg "bench -r 0" bench -r
run bench -m "$models/mini-f32.gguf" -p 8,x
usage_msg "bench -p 8,x" bench -p
run mkmodel "$tmp/m.gguf" --preset qwen3-moe-tiny --seed x
usage_msg "mkmodel --seed x" mkmodel --seed
run mkmodel "$tmp/m.gguf" --preset nosuchpreset
usage_msg "mkmodel --preset nosuchpreset" mkmodel --preset
run tokenize -m
usage_msg "tokenize -m without a value" tokenize -m
run inspect --bogus "$models/mini-f32.gguf"
usage_msg "inspect --bogus" inspect --bogus
run repack --bogus "$models/small-Q4_0.gguf" "$tmp/x.gguf"
usage_msg "repack --bogus" repack --bogus

# one range for -t everywhere: 0 (one per physical core) to 1024
for cmd in run eval bench; do
    p=hi
    [ $cmd = bench ] && p=8
    run $cmd -m "$models/mini-f32.gguf" -p $p -t 1025
    usage_msg "$cmd -t 1025" $cmd -t
    grep -q "from 0 to 1024" "$tmp/err" || note "$cmd -t 1025: range not 0 to 1024: $(head -n 1 "$tmp/err")"
    "$PLUMB" $cmd --help | tr '\n' ' ' | tr -s ' ' |
        grep -q -- "-t, --threads N worker threads, 0 for one per physical core (0 to 1024; default 0)" ||
        note "$cmd --help: -t is not 0 to 1024"
done
run mkmodel "$tmp/m.gguf" --preset qwen3-moe-tiny --threads 1025
usage_msg "mkmodel --threads 1025" mkmodel --threads
# eval takes -t 0 and -c 0 as run does: the default
run eval -m "$models/mini-f32.gguf" -p hi -t 0 -c 0
expect 0 "eval -t 0 -c 0"
run run -m "$models/mini-f32.gguf" -p hi -t 0 -c 0 -n 2
expect 0 "run -t 0 -c 0"
# mkmodel writes no more layers than a model may have (PLUMB_MAX_LAYERS)
run mkmodel "$tmp/m.gguf" --preset qwen3-moe-tiny --layers 1025 --quiet
usage_msg "mkmodel --layers 1025" mkmodel --layers
[ ! -e "$tmp/m.gguf" ] || note "mkmodel --layers 1025 wrote a file"
run mkmodel "$tmp/m.gguf" --preset qwen3-moe-tiny --layers 3 --quiet
expect 0 "mkmodel --layers 3"
run eval -m "$tmp/m.gguf" --tokens 1,2
expect 0 "eval of a 3-layer mkmodel file"
rm -f "$tmp/m.gguf"

# ---------------------------------------------------------------- llama.cpp spellings
# -ctk/-ctv: keys and values each, --kv-type for the one not given
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" -ctk f32 -ctv F32 --logits "$tmp/ct32.f32"
expect 0 "eval -ctk f32 -ctv F32"
cmp -s "$tmp/ct32.f32" "$tmp/kv32.f32" || note "-ctk f32 -ctv f32: not the logits of --kv-type f32"
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" --kv-type f32 --cache-type-k f32 --logits "$tmp/ct32.f32"
expect 0 "eval --kv-type f32 --cache-type-k f32"
cmp -s "$tmp/ct32.f32" "$tmp/kv32.f32" || note "--kv-type f32 --cache-type-k f32: not f32"
run eval -m "$models/small-f16.gguf" -f "$prompts/p1.txt" --kv-type f32 -ctv f16 --logits "$tmp/ct3216.f32"
expect 0 "eval --kv-type f32 -ctv f16"
cmp -s "$tmp/ct3216.f32" "$tmp/kv32.f32" && note "--kv-type f32 -ctv f16: the values stayed f32"
# a head size of 16 (mini-f32) has no room for 32-value blocks: float types
# work, a block type is refused with the reason
for args in "-ctk f16 -ctv f32" "--kv-type f32" "-ctk f32" ""; do
    run eval -m "$models/mini-f32.gguf" -p 8 $args
    expect 0 "eval mini-f32 $args"
done
for args in "-ctk q4_0" "-ctv q8_0"; do
    for cmd in run eval; do
        run $cmd -m "$models/mini-f32.gguf" -p 8 $args
        expect 1 "$cmd mini-f32 $args"
        grep -q "head size 16 is not a multiple of 32" "$tmp/err" || note "$cmd mini-f32 $args: $(head -n 1 "$tmp/err")"
    done
done
run bench -m "$models/mini-f32.gguf" -p 8 -n 0 -r 1 -ctk f32 -ctv f32 --json
expect 0 "bench -ctk f32 -ctv f32"
grep -q '"type_k": "f32", "type_v": "f32"' "$tmp/out" || note "bench -ctk/-ctv f32: $(head -n 1 "$tmp/out")"
# -e: escapes in the prompt
run eval -m "$models/small-f16.gguf" -p "$(printf 'a\tb\nc\\d"e')"
cp "$tmp/out" "$tmp/esc.want"
run eval -m "$models/small-f16.gguf" -e -p 'a\tb\x0ac\\d\"e'
expect 0 "eval -e"
cmp -s "$tmp/out" "$tmp/esc.want" || note "eval -e: ids $(cat "$tmp/out"), want $(cat "$tmp/esc.want")"
run eval -m "$models/small-f16.gguf" --escape -p 'a\x00b'
expect 1 "eval -e with \\x00"

# ---------------------------------------------------------------- plumb itself
run --version
expect 0 "--version"
grep -q "^plumb " "$tmp/out" || note "--version: no version line"
grep -q "cpu features" "$tmp/out" || note "--version: no cpu features"
grep -q "kernel tier" "$tmp/out" || note "--version: no kernel tier"
run nosuchcmd
expect 2 "unknown command"
run
[ "$status" -eq 2 ] || note "no command: exit status $status, want 2"

# ---------------------------------------------------------------- plumb run
if "$PLUMB" run --help >/dev/null 2>&1; then
    run run -m "$models/small-f16.gguf" -f "$prompts/p1.txt" -n 8 --temp 0
    expect 0 "run greedy"
    cp "$tmp/out" "$tmp/run1"
    [ -s "$tmp/run1" ] || note "run greedy: no output"
    run run -m "$models/small-f16.gguf" -f "$prompts/p1.txt" -n 8 --temp 0
    cmp -s "$tmp/out" "$tmp/run1" || note "run greedy: two runs differ"
    run run -m "$models/small-f16.gguf" -f "$prompts/p1.txt" -n 16 --temp 0.9 --seed 7
    expect 0 "run --temp --seed"
    cp "$tmp/out" "$tmp/run2"
    run run -m "$models/small-f16.gguf" -f "$prompts/p1.txt" -n 16 --temp 0.9 --seed 7
    cmp -s "$tmp/out" "$tmp/run2" || note "run --temp 0.9 --seed 7: two runs differ"
    run run -m "$models/small-f16.gguf"
    expect 2 "run without a prompt"
    # -sys and --system-prompt are --system
    run run -m "$models/small-f16.gguf" --chat --system "Be brief." -p hi -n 8 --temp 0
    expect 0 "run --chat --system"
    cp "$tmp/out" "$tmp/sys.want"
    for o in -sys --system-prompt; do
        run run -m "$models/small-f16.gguf" --chat $o "Be brief." -p hi -n 8 --temp 0
        expect 0 "run --chat $o"
        cmp -s "$tmp/out" "$tmp/sys.want" || note "run $o: not the output of --system"
    done
    # -e: escapes in the prompt and the system message
    run run -m "$models/small-f16.gguf" --chat -sys "$(printf 'Be\nbrief.')" -p "$(printf 'h\ti')" -n 8 --temp 0
    cp "$tmp/out" "$tmp/esc.want"
    run run -m "$models/small-f16.gguf" -e --chat -sys 'Be\nbrief.' -p 'h\ti' -n 8 --temp 0
    expect 0 "run -e"
    cmp -s "$tmp/out" "$tmp/esc.want" || note "run -e: not the output of the unescaped text"
    # --seed -1: a random seed, reported so that the run can be repeated
    run run -m "$models/small-f16.gguf" -f "$prompts/p1.txt" -n 16 --temp 0.9 --seed -1
    expect 0 "run --seed -1"
    seed=$(sed -n 's/^plumb: run: seed \([0-9][0-9]*\)$/\1/p' "$tmp/err")
    if [ -z "$seed" ]; then
        note "run --seed -1: no 'plumb: run: seed N' on stderr: $(cat "$tmp/err")"
    else
        cp "$tmp/out" "$tmp/seed.want"
        run run -m "$models/small-f16.gguf" -f "$prompts/p1.txt" -n 16 --temp 0.9 --seed "$seed"
        cmp -s "$tmp/out" "$tmp/seed.want" || note "run --seed $seed: not the output of --seed -1"
    fi

    # Ctrl-C: the first SIGINT stops at the next token, ends the line, prints
    # the speeds with -v and exits 130.  (A long context keeps it generating;
    # a guard ends the test if the signal is ignored.)
    "$PLUMB" run -m "$models/mini-f32.gguf" -p "Once upon a time" -n -1 -c 262144 --temp 0 \
        -t 1 -v >"$tmp/int.out" 2>"$tmp/int.err" &
    pid=$!
    i=0
    while [ ! -s "$tmp/int.out" ] && [ $i -lt 600 ] && kill -0 $pid 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -INT $pid 2>/dev/null
    (sleep 30; kill -KILL $pid 2>/dev/null) &
    guard=$!
    wait $pid
    status=$?
    kill $guard 2>/dev/null
    [ "$status" = 130 ] || note "run after SIGINT: exit status $status, want 130"
    [ -s "$tmp/int.out" ] && [ "$(tail -c 1 "$tmp/int.out" | od -An -c | tr -d ' ')" = '\n' ] ||
        note "run after SIGINT: the output does not end with a newline"
    grep -q "^plumb: run: generation: [0-9]* tokens" "$tmp/int.err" ||
        note "run -v after SIGINT: no speeds: $(cat "$tmp/int.err")"
fi

# ---------------------------------------------------------------- standard output
# a failed write to standard output is an error in every command
if [ -w /dev/full ]; then
    full() { # LABEL CMD ARGS...: CMD ARGS >/dev/full fails with a message
        label=$1
        shift
        "$PLUMB" "$@" >/dev/full 2>"$tmp/err" </dev/null
        status=$?
        expect 1 "$label >/dev/full"
        grep -q "standard output: No space left on device" "$tmp/err" ||
            note "$label >/dev/full: $(head -n 1 "$tmp/err")"
    }
    full "plumb --help" --help
    full "plumb help" help
    full "plumb --version" --version
    for c in run eval tokenize inspect mkmodel repack bench; do
        full "plumb $c --help" $c --help
    done
    full "run" run -m "$models/mini-f32.gguf" -p hi -n 4
    full "eval" eval -m "$models/mini-f32.gguf" -p hi --greedy 2
    echo hi >"$tmp/hi.txt"
    "$PLUMB" tokenize -m "$models/mini-f32.gguf" <"$tmp/hi.txt" >/dev/full 2>"$tmp/err"
    status=$?
    expect 1 "tokenize >/dev/full"
    grep -q "^plumb: tokenize: standard output: No space left on device" "$tmp/err" ||
        note "tokenize >/dev/full: $(head -n 1 "$tmp/err")"
    full "inspect" inspect "$models/mini-f32.gguf"
    full "inspect --no-tensors" inspect --no-tensors "$models/mini-f32.gguf"
    full "bench" bench -m "$models/mini-f32.gguf" -p 8 -n 0 -r 1
    full "bench --json" bench -m "$models/mini-f32.gguf" -p 8 -n 0 -r 1 --json
    full "mkmodel" mkmodel "$tmp/full.gguf" --preset qwen3-moe-tiny --quiet
    full "repack" repack "$models/small-Q4_0.gguf" "$tmp/full-r8.gguf" --quiet
    rm -f "$tmp/full.gguf" "$tmp/full-r8.gguf"
fi

# ---------------------------------------------------------------- plumb repack
r8=$tmp/r8.gguf
run repack "$models/small-Q4_0.gguf" "$r8"
expect 0 "repack"
grep -q "tensors repacked" "$tmp/out" || note "repack: no summary: $(first_line "$tmp/out")"
run inspect "$r8"
grep -q "blk.0.ffn_gate_exps.weight *Q4_0_R8" "$tmp/out" || note "repack: expert matrix not Q4_0_R8"
grep -q "token_embd.weight *Q4_0 " "$tmp/out" || note "repack: token_embd must stay Q4_0"
# the same prompt ids as the Q4_0 file, and a continuation (its logits are
# checked against llama.cpp's by test_golden)
run eval -m "$r8" -f "$prompts/p1.txt" --greedy 8
expect 0 "eval of a repacked model"
[ "$(first_line "$tmp/out")" = "$(first_line "$golden/small-Q4_0.p1.tokens.txt")" ] ||
    note "repacked model: prompt ids differ"
[ "$(line2 "$tmp/out" | wc -w | tr -d ' ')" = 8 ] || note "repacked model: no 8 greedy ids"
# unpacking gives the original file back, byte for byte
run repack --unpack "$r8" "$tmp/back.gguf"
expect 0 "repack --unpack"
cmp -s "$tmp/back.gguf" "$models/small-Q4_0.gguf" || note "repack --unpack: not the original file"
# never overwrite without --force; the existing file is left alone
echo keep >"$tmp/exists.gguf"
run repack "$models/small-Q4_0.gguf" "$tmp/exists.gguf"
expect 1 "repack onto an existing file"
[ "$(cat "$tmp/exists.gguf")" = keep ] || note "repack replaced an existing file without --force"
run repack "$models/small-Q4_0.gguf" "$tmp/exists.gguf" --force --quiet
expect 0 "repack --force"
cmp -s "$tmp/exists.gguf" "$r8" || note "repack --force: differs from the first repack"
# nothing to convert, missing files, bad usage
run repack "$models/mini-f32.gguf" "$tmp/none.gguf"
expect 1 "repack of a model without Q4_0"
grep -q "mini-f32.gguf: nothing to repack" "$tmp/err" || note "repack without Q4_0: $(first_line "$tmp/err")"
[ ! -e "$tmp/none.gguf" ] && [ ! -e "$tmp/none.gguf.tmp" ] || note "repack without Q4_0 left a file"
run repack --unpack "$models/small-Q4_0.gguf" "$tmp/none.gguf"
expect 1 "unpack of a model without interleaved types"
# Q4_K matrices too, and back
run repack "$models/small-Q4_K_M.gguf" "$tmp/k8.gguf"
expect 0 "repack of Q4_K_M"
run inspect "$tmp/k8.gguf"
grep -q "Q4_K_R8" "$tmp/out" || note "repack of Q4_K_M: no Q4_K_R8 tensor"
run repack --unpack "$tmp/k8.gguf" "$tmp/kback.gguf"
expect 0 "repack --unpack of Q4_K_R8"
cmp -s "$tmp/kback.gguf" "$models/small-Q4_K_M.gguf" || note "Q4_K round trip: not the original file"
# run and bench say, on stderr, when a repacked copy would be faster on this
# CPU's tier (every tier with kernels for the interleaved types: all but c),
# naming the command; never for a repacked file, a file with nothing to
# repack, the C tier, or with PLUMB_HINTS=0
tier=${PLUMB_CPU:-$("$PLUMB" --version | sed -n 's/^kernel tier: //p')}
src4=$models/small-Q4_0.gguf
for cmd in run bench; do
    if [ $cmd = run ]; then run run -m "$src4" -p Hi -n 1; else run bench -m "$src4" -p 0 -n 1 -r 1; fi
    expect 0 "$cmd of a Q4_0 model"
    hint=$(grep '^plumb: hint: ' "$tmp/err")
    case $tier in
    c) [ -z "$hint" ] || note "$cmd on tier c: a repack hint: $hint" ;;
    *) case $hint in
        "plumb: hint: small-Q4_0.gguf: "*"$tier kernels"*"plumb repack $src4 $models/small-Q4_0-R8.gguf") ;;
        *) note "$cmd on tier $tier: no repack hint naming the command: '$hint'" ;;
        esac ;;
    esac
done
[ "$(grep -c . "$tmp/err")" -le 1 ] || note "bench: more than the hint on stderr: $(cat "$tmp/err")"
run run -m "$r8" -p Hi -n 1
grep -q '^plumb: hint' "$tmp/err" && note "run of a repacked model: a hint: $(cat "$tmp/err")"
run run -m "$models/small-f16.gguf" -p Hi -n 1
grep -q '^plumb: hint' "$tmp/err" && note "run of an F16 model: a hint: $(cat "$tmp/err")"
run run --cpu c -m "$src4" -p Hi -n 1
grep -q '^plumb: hint' "$tmp/err" && note "run on tier c: a hint: $(cat "$tmp/err")"
PLUMB_HINTS=0 "$PLUMB" run -m "$src4" -p Hi -n 1 >"$tmp/out" 2>"$tmp/err" || note "PLUMB_HINTS=0 run failed"
grep -q '^plumb: hint' "$tmp/err" && note "PLUMB_HINTS=0: a hint: $(cat "$tmp/err")"
run repack "$tmp/missing.gguf" "$tmp/none.gguf"
expect 1 "repack of a missing file"
grep -q "missing.gguf" "$tmp/err" || note "repack of a missing file: message does not name it"
run repack "$models/small-Q4_0.gguf"
expect 2 "repack without an output"
run repack --frobnicate "$models/small-Q4_0.gguf" "$tmp/x.gguf"
expect 2 "repack with an unknown option"

# tokenize --jsonl: escapes decode to the same ids as the raw text; a bad
# line is named by its number.
vocab=$models/qwen3-vocab.gguf
printf '"caf\\u00e9\\u0000 \\ud83d\\ude00\\n\\"x\\""\n' | "$PLUMB" tokenize -m "$vocab" --jsonl >"$tmp/j1" 2>"$tmp/err" ||
    note "tokenize --jsonl: exit status $?: $(head -n 1 "$tmp/err")"
printf 'caf\303\251\000 \360\237\230\200\n"x"' | "$PLUMB" tokenize -m "$vocab" >"$tmp/j2" 2>"$tmp/err" ||
    note "tokenize: exit status $?: $(head -n 1 "$tmp/err")"
[ -s "$tmp/j1" ] && cmp -s "$tmp/j1" "$tmp/j2" ||
    note "tokenize --jsonl: escapes give '$(cat "$tmp/j1")', raw text '$(cat "$tmp/j2")'"
printf '"ok"\n{"a": 1}\n' | "$PLUMB" tokenize -m "$vocab" --jsonl >"$tmp/out" 2>"$tmp/err"
status=$?
expect 1 "tokenize --jsonl with an object line"
grep -q '^plumb: <stdin>:2: expected a JSON string' "$tmp/err" ||
    note "tokenize --jsonl with an object line: $(head -n 1 "$tmp/err")"
printf '"unterminated\n' | "$PLUMB" tokenize -m "$vocab" --jsonl >"$tmp/out" 2>"$tmp/err"
status=$?
expect 1 "tokenize --jsonl with an unterminated string"
grep -q '^plumb: <stdin>:1: column' "$tmp/err" ||
    note "tokenize --jsonl with an unterminated string: $(head -n 1 "$tmp/err")"

exit $fail
