#!/bin/sh
# Seed corpora and the short fuzz run of a --enable-fuzzing build; run from
# the build directory by `make fuzz-seeds` and `make fuzz-smoke`.
#
# usage: fuzz.sh seeds DATADIR      write fuzz-seeds/{gguf,tokenizer,chat,robots,html,charset}
#                                   from the test data (DATADIR = tests/data)
#        fuzz.sh smoke SECONDS SRCDIR  run each target for SECONDS from its
#                                   seeds; prints "PASS: target" or "FAIL:
#                                   target" per target, exits 1 on a failure
# A failing target leaves its input in fuzz-artifacts/ and its log in
# fuzz-logs/; replay it with `tests/fuzz/fuzz_X fuzz-artifacts/X-crash-...`.
set -u
targets="gguf tokenizer chat robots html charset"

seeds() {
    data=$1
    out=fuzz-seeds
    rm -rf "$out" && mkdir -p "$out/gguf" "$out/tokenizer" "$out/chat" "$out/robots" "$out/html" \
        "$out/charset" || exit 1
    # GGUF: the heads of the bundled models (header, metadata, tensor table:
    # what the loader parses; the weights only make inputs long), and one
    # whole small model, so a complete, valid file is in the corpus.
    for f in "$data"/models/*.gguf; do
        b=$(basename "$f" .gguf)
        head -c 4096 "$f" >"$out/gguf/$b-4k"
        head -c 65536 "$f" >"$out/gguf/$b-64k"
    done
    if [ -x ./plumb ]; then
        ./plumb mkmodel "$out/gguf/tiny.gguf" --preset qwen3-moe-tiny --type Q4_0 --layers 1 \
            --threads 1 --quiet --force >/dev/null 2>&1 || rm -f "$out/gguf/tiny.gguf"
    fi
    # Tokenizer: each line of the tokenizer corpus (JSON-escaped text is
    # text too) and the prompts.
    i=0
    for f in "$data"/tokenizer/*.jsonl; do
        while IFS= read -r line; do
            i=$((i + 1))
            printf '%s' "$line" >"$out/tokenizer/line-$i"
        done <"$f"
    done
    cp "$data"/prompts/*.txt "$out/tokenizer/"
    # Chat: flags byte, then NUL-separated messages of a role byte and the
    # content (see fuzz_chat.c): a system + user conversation per prompt,
    # and one with an assistant turn with a think block and tool answers.
    for f in "$data"/prompts/*.txt; do
        b=$(basename "$f" .txt)
        { printf '\001\000You are a helpful assistant.\000\001'; cat "$f"; } >"$out/chat/$b"
        { printf '\003\001'; cat "$f"; } >"$out/chat/$b-think"
    done
    printf '\001\001What is 2+2?\000\002<think>\nadd\n</think>\n\n4\000\003{"r": 4}\000\003ok\000\001thanks' \
        >"$out/chat/turns"
    # Model replies for the parser (flag bit 7), and a tools block (bit 2).
    printf '\200<think>\nlook it up\n</think>\n\n<tool_call>\n{"name": "search", "arguments": {"query": ["a </tool_call> b"]}}\n</tool_call>' \
        >"$out/chat/reply-call"
    printf '\200<think>\nunfinished' >"$out/chat/reply-think-open"
    printf '\200<tool_call>\n{"name": "visit", "arguments": "{\\"url\\": 1}"}\n</tool_call>\n<tool_call>{"name":' \
        >"$out/chat/reply-bad-calls"
    printf '\005[{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]\000\001Find it' \
        >"$out/chat/tools"
    # robots.txt: groups, wildcards, percent-encoding, odd line ends; after
    # a NUL byte, paths to ask about (see fuzz_robots.c).
    printf 'User-agent: *\nDisallow: *.gif$\nDisallow: /example/\nAllow: /publications/\n\nUser-agent: plumb\nUser-agent: bazbot\nDisallow: /example/page.html\n\000/example/page.html\n/x.gif\n/publications/a' \
        >"$out/robots/rfc"
    printf '\357\273\277User-agent: Plumb/1.0 # us\r\nAllow: /p\rDisallow: /\nAllow: /$\nDisallow: /a/*/b/**/c\n\000/\n/page\n/a/x/b/y/c' \
        >"$out/robots/anchors"
    printf 'User-agent: *\nDisallow: /foo/bar/%%62%%61%%7A\nDisallow: /caf\303\251\nDisallow: /a%%2fb\000/foo/bar/baz\n/caf%%C3%%A9\n/a%%2Fb' \
        >"$out/robots/percent"
    # HTML and charsets (fuzz_html.c, fuzz_charset.c): the agent's test
    # pages behind a byte choosing the base URL, or the Content-Type (with
    # the HTML bit set).
    i=0
    for f in "$data"/agent/html/*.html "$data"/agent/web/*; do
        [ -f "$f" ] || continue
        i=$((i + 1))
        { printf '\001'; cat "$f"; } >"$out/html/page-$i"
        b=$(printf '%03o' $((128 + i % 16)))
        { printf "\\$b"; cat "$f"; } >"$out/charset/page-$i"
    done
}

smoke() {
    secs=$1
    src=$2
    mkdir -p fuzz-artifacts fuzz-logs
    fail=0
    # The targets run side by side: each for SECONDS of wall time, so the
    # smoke run takes SECONDS however many targets there are.
    for t in $targets; do
        prog=tests/fuzz/fuzz_$t
        [ -x "$prog" ] || { echo skipped >"fuzz-logs/$t.status"; continue; } # not built (no agent)
        corpus=fuzz-corpus/$t
        rm -rf "$corpus" && mkdir -p "$corpus"
        dict=
        [ -f "$src/tests/fuzz/$t.dict" ] && dict=-dict=$src/tests/fuzz/$t.dict
        ("$prog" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2560 -max_len=131072 \
            -print_final_stats=1 -artifact_prefix="fuzz-artifacts/$t-" $dict \
            "$corpus" "fuzz-seeds/$t" >"fuzz-logs/$t.log" 2>&1
            echo $? >"fuzz-logs/$t.status") &
    done
    wait
    for t in $targets; do
        if [ "$(cat "fuzz-logs/$t.status" 2>/dev/null)" = skipped ]; then
            echo "SKIP: fuzz_$t (not built)"
        elif [ "$(cat "fuzz-logs/$t.status" 2>/dev/null)" = 0 ]; then
            echo "PASS: fuzz_$t ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "fuzz-logs/$t.log" |
                sed 's/.*: *//') runs)"
        else
            echo "FAIL: fuzz_$t (log: fuzz-logs/$t.log)"
            tail -n 30 "fuzz-logs/$t.log" >&2
            fail=1
        fi
    done
    return $fail
}

case ${1:-} in
seeds) seeds "$2" ;;
smoke) smoke "$2" "$3" ;;
*) sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
