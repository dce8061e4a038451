#!/bin/sh
# offline.sh — a whole `plumb research --offline --index DB` run in a network
# namespace of its own (only a loopback, where a trap listens on the port
# given as --searxng), answering the question of the test corpus that needs
# two of its documents (tests/data/agent/corpus/README.md).  The model is a
# script backend (one reply per call).
# Checks: exit 0, termination "answer", the two search results hold the two
# documents' facts, the prediction, and no connection reached the trap.
set -u
PLUMB=${PLUMB:-./plumb}
top_srcdir=${top_srcdir:-.}
PLUMB_DATA=${PLUMB_DATA:-$top_srcdir/tests/data}
fail=0
note() { echo "offline.sh: $*" >&2; fail=1; }

[ -x "$PLUMB" ] || { echo "offline.sh: $PLUMB not built" >&2; exit 99; }
command -v python3 >/dev/null || { echo "offline.sh: no python3: skipped" >&2; exit 77; }
command -v ip >/dev/null || { echo "offline.sh: no ip (Debian package iproute2): skipped" >&2; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/offline.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
. "$top_srcdir/tests/agent/fakelib.sh"

netns=$(netns_cmd)
if [ -z "$netns" ]; then
    echo "offline.sh: cannot make a network namespace (not root, user namespaces refused): skipped" >&2
    exit 77
fi

# The corpus of the local index (tests/data/agent/corpus/README.md): the
# question needs glassworks.txt (Velmora glass is made on Kestrel Holm) and
# lighthouses.md (Kestrel Holm's lighthouse was built in 1874).
corpus=$PLUMB_DATA/agent/corpus
[ -f "$corpus/glassworks.txt" ] && [ -f "$corpus/lighthouses.md" ] ||
    { echo "offline.sh: the test corpus is missing in $corpus" >&2; exit 99; }
timeout 60 "$PLUMB" index build "$corpus" --db "$tmp/index.sqlite" -q >/dev/null 2>"$tmp/index.err" ||
    { cat "$tmp/index.err" >&2; note "plumb index build failed"; exit 1; }

question="In what year was the lighthouse built on the island where Velmora glass is made?"
python3 - "$tmp/script.jsonl" <<'EOF'
import json, sys
replies = [
    "<think>First the island where Velmora glass is made.</think>\n<tool_call>\n"
    '{"name": "search", "arguments": {"query": ["Velmora glass island"]}}\n</tool_call>',
    "<think>It is made on Kestrel Holm; now its lighthouse.</think>\n<tool_call>\n"
    '{"name": "search", "arguments": {"query": ["Kestrel Holm lighthouse built"]}}\n</tool_call>',
    "<think>The Kestrel Holm lighthouse was built in 1874.</think>\n<answer>1874</answer>",
]
with open(sys.argv[1], "w") as f:
    for r in replies:
        f.write(json.dumps({"reply": r}) + "\n")
EOF

# Inside the namespace: loopback up, a trap where --searxng points, the run.
cat >"$tmp/inner.sh" <<'EOF'
set -u
tmp=$1; top_srcdir=$2; PLUMB=$3; question=$4
. "$top_srcdir/tests/agent/fakelib.sh"
ip link set lo up || exit 98
ip -o link show | grep -v ': lo:' | grep -q . && { echo "inner: a link besides lo" >&2; exit 98; }
fake_start trap trap || exit 98
XDG_CACHE_HOME=$tmp/xdg timeout 60 "$PLUMB" research --backend "script:$tmp/script.jsonl" \
    --offline --index "$tmp/index.sqlite" --searxng "http://127.0.0.1:$fake_port" \
    --cache-mode off --date 2026-01-01 --trace "$tmp/trace.jsonl" "$question" \
    >"$tmp/out" 2>"$tmp/err"
echo $? >"$tmp/status"
fake_stop trap
fake_count trap >"$tmp/knocks"
EOF
$netns sh "$tmp/inner.sh" "$tmp" "$top_srcdir" "$PLUMB" "$question"
inner=$?
[ $inner -eq 98 ] && { note "could not set up the namespace"; exit 1; }

status=$(cat "$tmp/status" 2>/dev/null || echo none)
[ "$status" = 0 ] || { note "plumb research exited $status"; sed 's/^/  /' "$tmp/err" >&2; }
knocks=$(cat "$tmp/knocks" 2>/dev/null || echo none)
[ "$knocks" = 0 ] || note "the trap on the loopback saw $knocks connection(s)"

python3 - "$tmp/trace.jsonl" "$question" <<'EOF' || fail=1
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
bad = []
if len(lines) != 1:
    sys.exit("offline.sh: %d trace lines, want 1" % len(lines))
rec = json.loads(lines[0])
msgs = rec.get("messages", [])
roles = [m.get("role") for m in msgs]
if rec.get("question") != sys.argv[2]:
    bad.append("question %r" % rec.get("question"))
if rec.get("termination") != "answer":
    bad.append("termination %r" % rec.get("termination"))
if rec.get("prediction") != "1874":
    bad.append("prediction %r" % rec.get("prediction"))
if roles != ["system", "user", "assistant", "user", "assistant", "user", "assistant"]:
    bad.append("roles %r" % roles)
else:
    first, second = msgs[3]["content"], msgs[5]["content"]
    for text, want in ((first, "<tool_response>\nA Google search for 'Velmora glass island' found"),
                       (first, "Kestrel Holm"),
                       (second, "<tool_response>\nA Google search for 'Kestrel Holm lighthouse built' found"),
                       (second, "1874")):
        if want not in text:
            bad.append("%r not in %r" % (want, text[:400]))
for b in bad:
    print("offline.sh:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
exit $fail
