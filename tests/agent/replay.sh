#!/bin/sh
# replay.sh — an online `plumb research` run against a loopback stand-in for
# SearXNG and a web site (tests/agent/webfake.py) records its searches and
# pages in a page cache (--cache DB); the same run again with
# --cache-mode ro, in a network namespace of its own where a trap listens on
# the stand-in's port, must give the same messages, prediction and
# termination without a single connection.
#
# The model is a script backend: a search, a visit, then a reply that is
# both an extraction (JSON with rational, evidence, summary) and a final
# answer, given twice.  Whether visit's extraction takes a reply from the
# same script, or is answered from the cache on replay, the conversation the
# loop records is the same.
set -u
PLUMB=${PLUMB:-./plumb}
top_srcdir=${top_srcdir:-.}
fail=0
note() { echo "replay.sh: $*" >&2; fail=1; }

[ -x "$PLUMB" ] || { echo "replay.sh: $PLUMB not built" >&2; exit 99; }
command -v python3 >/dev/null || { echo "replay.sh: no python3: skipped" >&2; exit 77; }
command -v ip >/dev/null || { echo "replay.sh: no ip (Debian package iproute2): skipped" >&2; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/replay.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
. "$top_srcdir/tests/agent/fakelib.sh"

netns=$(netns_cmd)
if [ -z "$netns" ]; then
    echo "replay.sh: cannot make a network namespace (not root, user namespaces refused): skipped" >&2
    exit 77
fi

fake_start web serve || { note "webfake.py did not start"; exit 1; }
port=$fake_port
base="http://127.0.0.1:$port"
question="Which river flows through the birthplace of the lighthouse keeper Ada Verhoeven?"

python3 - "$tmp/script.jsonl" "$base" <<'EOF'
import json, sys
base = sys.argv[2]
final = ("<think>The page says Kessel is on the Maasbeek.</think>\n"
         '{"rational": "The page names the river of Kessel.", '
         '"evidence": "Kessel is a small town on the river Maasbeek.", '
         '"summary": "Kessel lies on the river Maasbeek."}\n'
         "<answer>Maasbeek</answer>")
replies = [
    "<think>Where was she born?</think>\n<tool_call>\n"
    '{"name": "search", "arguments": {"query": ["Ada Verhoeven Kessel"]}}\n</tool_call>',
    "<think>Kessel. Read the page about Kessel.</think>\n<tool_call>\n"
    + json.dumps({"name": "visit", "arguments": {"url": [base + "/kessel.html"],
                                                 "goal": "Which river flows through Kessel?"}})
    + "\n</tool_call>",
    final,
    final,
]
with open(sys.argv[1], "w") as f:
    for r in replies:
        f.write(json.dumps({"reply": r}) + "\n")
EOF

# run NAME EXTRA...: plumb research with the common options (a file of its
# own, as the replay's shell in the namespace sources it too).
cat >"$tmp/run.sh" <<'EOF'
run() {
    name=$1
    shift
    XDG_CACHE_HOME=$tmp/xdg timeout 90 "$PLUMB" research --backend "script:$tmp/script.jsonl" \
        --searxng "$base" --allow-private --cache "$tmp/web.sqlite" --date 2026-01-01 \
        --trace "$tmp/$name.jsonl" "$@" "$question" >"$tmp/$name.out" 2>"$tmp/$name.err"
    echo $? >"$tmp/$name.status"
}
EOF
. "$tmp/run.sh"

run online --cache-mode rw
fake_stop web
[ "$(cat "$tmp/online.status")" = 0 ] ||
    { note "online run exited $(cat "$tmp/online.status")"; sed 's/^/  /' "$tmp/online.err" >&2; }
served=$(fake_count web)
[ "$served" != missing ] && [ "$served" -gt 0 ] 2>/dev/null ||
    note "the online run made no connection to the stand-in ($served)"

# The replay, where nothing answers but a trap on the same port.
cat >"$tmp/inner.sh" <<'EOF'
set -u
tmp=$1; top_srcdir=$2; port=$3; PLUMB=$4; question=$5
base="http://127.0.0.1:$port"
. "$top_srcdir/tests/agent/fakelib.sh"
. "$tmp/run.sh"
ip link set lo up || exit 98
fake_start trap trap "$port" || exit 98
run replay --cache-mode ro
fake_stop trap
fake_count trap >"$tmp/knocks"
EOF
$netns sh "$tmp/inner.sh" "$tmp" "$top_srcdir" "$port" "$PLUMB" "$question"
[ $? -eq 98 ] && { note "could not set up the namespace"; exit 1; }

[ "$(cat "$tmp/replay.status" 2>/dev/null)" = 0 ] ||
    { note "replay exited $(cat "$tmp/replay.status" 2>/dev/null)"; sed 's/^/  /' "$tmp/replay.err" >&2; }
knocks=$(cat "$tmp/knocks" 2>/dev/null || echo none)
[ "$knocks" = 0 ] || note "the replay made $knocks connection(s)"

python3 - "$tmp/online.jsonl" "$tmp/replay.jsonl" <<'EOF' || fail=1
import json, sys
def load(path):
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        sys.exit("replay.sh: %s" % e)
    if len(lines) != 1:
        sys.exit("replay.sh: %s: %d lines, want 1" % (path, len(lines)))
    return json.loads(lines[0])
a, b = load(sys.argv[1]), load(sys.argv[2])
bad = []
if a.get("termination") != "answer" or a.get("prediction") != "Maasbeek":
    bad.append("online: termination %r prediction %r" % (a.get("termination"), a.get("prediction")))
msgs = a.get("messages", [])
if len(msgs) < 6 or "born in Kessel" not in msgs[3].get("content", ""):
    bad.append("online: the search result is not in the messages")
for key in ("messages", "prediction", "termination"):
    if a.get(key) != b.get(key):
        bad.append("%s differ:\n  online %.600r\n  replay %.600r" % (key, a.get(key), b.get(key)))
for x in bad:
    print("replay.sh:", x, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
exit $fail
