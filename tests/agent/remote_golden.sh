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
    exec 9>&- 2>/dev/null
    [ -n "$pid" ] && { sleep 0.2; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# the question and the date, from the expected messages
python3 - "$expected" "$tmp" <<'EOF' || exit 99
import json, re, sys
msgs = json.load(open(sys.argv[1], encoding="utf-8"))
if isinstance(msgs, dict):
    msgs = msgs["messages"]
system = next(m["content"] for m in msgs if m["role"] == "system")
question = next(m["content"] for m in msgs if m["role"] == "user")
date = re.search(r"Current date: (\d{4}-\d\d-\d\d)", system)
open(sys.argv[2] + "/question", "w", encoding="utf-8").write(question)
open(sys.argv[2] + "/date", "w").write(date.group(1) if date else "")
EOF

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

date=$(cat "$tmp/date")
set -- --backend "http://127.0.0.1:$port/v1" --trace "$tmp/trace.jsonl" --offline
[ -n "$date" ] && set -- "$@" --date "$date"
timeout 60 "$PLUMB" research "$@" "$(cat "$tmp/question")" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 3 ]; then
    cat "$tmp/err" >&2
    echo "remote_golden.sh: plumb research exited $rc" >&2
    exit 1
fi

python3 - "$expected" "$tmp/trace.jsonl" "$tmp/record.jsonl" <<'EOF'
import json, sys
want = json.load(open(sys.argv[1], encoding="utf-8"))
if isinstance(want, dict):
    want = want["messages"]
lines = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
rec = next((l for l in reversed(lines) if "messages" in l), None)
if rec is None:
    sys.exit("remote_golden.sh: no record with messages in the trace")
got = [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]
want = [{"role": m["role"], "content": m["content"]} for m in want]
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
print("remote_golden.sh: %d messages as expected, %d requests" % (len(got), len(gens)))
EOF
