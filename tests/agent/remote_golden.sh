#!/bin/sh
# The golden trajectory through the remote backend: the fake OpenAI server
# (tests/agent/fake_openai.py) replays tests/data/agent/traj1.script.jsonl,
# `plumb research --backend http://127.0.0.1:PORT/v1` runs the question of
# tests/data/agent/traj1.expected.json, and the messages of its trace must
# equal that file's, as the scripted run's do.  Every generation request the
# fake recorded must be a streamed completions request whose prompt opens
# with the system message's text.
set -u
: "${PLUMB:=./plumb}"
: "${top_srcdir:=.}"
: "${PLUMB_DATA:=$top_srcdir/tests/data}"
script=$PLUMB_DATA/agent/traj1.script.jsonl
expected=$PLUMB_DATA/agent/traj1.expected.json
fake=$top_srcdir/tests/agent/fake_openai.py

skip() { echo "remote_golden.sh: skipped: $*" >&2; exit 77; }
command -v python3 >/dev/null 2>&1 || skip "python3 not found"
[ -f "$script" ] && [ -f "$expected" ] || skip "no $script or $expected"
timeout 10 "$PLUMB" research --help 2>&1 | grep -q -- '--backend' || skip "plumb research has no --backend"

tmp=$(mktemp -d) || exit 99
fifo=$tmp/in
pid=
cleanup() {
    exec 9>&-
    [ -n "$pid" ] && { sleep 0.2; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# the question, from the expected messages
python3 -c '
import json, sys
msgs = json.load(open(sys.argv[1], encoding="utf-8"))
sys.stdout.write(next(m["content"] for m in msgs if m["role"] == "user"))' "$expected" >"$tmp/question" || exit 99
question=$(cat "$tmp/question")
# the options of golden.sh's traj1 run
set -- --tools search,PythonInterpreter --date 2025-01-01 --cache-mode off
export XDG_CACHE_HOME="$tmp/cache"

# the scripted run, for its standard output
timeout 60 "$PLUMB" research --backend "script:$script" "$@" --trace "$tmp/script.jsonl" \
    "$question" >"$tmp/script.out" 2>"$tmp/script.err"
rc_script=$?

mkfifo "$fifo" || exit 99
python3 "$fake" --script "$script" --record "$tmp/record.jsonl" --model golden-model \
    <"$fifo" >"$tmp/port" 2>"$tmp/fake.err" &
pid=$!
exec 9>"$fifo"
port=
for _ in $(seq 100); do
    port=$(head -n 1 "$tmp/port" 2>/dev/null)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/fake.err" >&2; echo "remote_golden.sh: the fake server did not start" >&2; exit 1; }

url="http://127.0.0.1:$port/v1"
timeout 60 "$PLUMB" research --backend "$url" "$@" --trace "$tmp/trace.jsonl" \
    "$question" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne $rc_script ]; then
    cat "$tmp/err" >&2
    echo "remote_golden.sh: plumb research exited $rc, the scripted run $rc_script" >&2
    exit 1
fi
cmp -s "$tmp/out" "$tmp/script.out" || {
    echo "remote_golden.sh: standard output differs from the scripted run's:" >&2
    diff "$tmp/script.out" "$tmp/out" >&2
    exit 1
}

python3 - "$expected" "$tmp/trace.jsonl" "$tmp/record.jsonl" "$url" <<'EOF'
import json, sys
want = json.load(open(sys.argv[1], encoding="utf-8"))
lines = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
if len(lines) != 1:
    sys.exit("remote_golden.sh: %d records in the trace, want 1" % len(lines))
rec = lines[0]
if not rec.get("plumb", {}).get("backend", "").startswith(sys.argv[4] + " (model golden-model"):
    sys.exit("remote_golden.sh: the record's backend is %r" % rec.get("plumb", {}).get("backend"))
got = rec["messages"]
if got != want:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            sys.exit("remote_golden.sh: message %d differs:\n got: %r\nwant: %r" % (i, g, w))
    sys.exit("remote_golden.sh: %d messages, want %d" % (len(got), len(want)))
reqs = [json.loads(l) for l in open(sys.argv[3], encoding="utf-8") if l.strip()]
gens = [r for r in reqs if r["path"].endswith("/completions")]
if not gens:
    sys.exit("remote_golden.sh: no completions request was made")
for r in gens:
    b = r["body"]
    if r["path"].endswith("/chat/completions") or not b.get("stream") or \
            not b["prompt"].startswith("<|im_start|>system\n" + want[0]["content"]):
        sys.exit("remote_golden.sh: a request is not the streamed, rendered prompt: %r" % r["path"])
# the prompts only grow: each is the previous one, its reply, then more
replies = [m["content"] for m in want if m["role"] == "assistant"]
prompts = [r["body"]["prompt"] for r in gens]
if len(prompts) != len(replies):
    sys.exit("remote_golden.sh: %d requests for %d replies" % (len(prompts), len(replies)))
for k, p in enumerate(prompts):
    if not p.endswith("<|im_start|>assistant\n"):
        sys.exit("remote_golden.sh: prompt %d does not open the assistant's turn" % k)
    if k and not p.startswith(prompts[k - 1] + replies[k - 1] + "<|im_end|>\n"):
        sys.exit("remote_golden.sh: prompt %d does not extend prompt %d by its reply" % (k, k - 1))
print("remote_golden.sh: %d messages as expected, %d requests" % (len(got), len(gens)))
EOF
