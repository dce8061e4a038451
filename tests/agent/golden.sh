#!/bin/sh
# Golden trajectories: `plumb research` on the scripted backend records
# exactly the expected messages, byte for byte.
#   traj1: calls an unknown tool, a malformed call, PythonInterpreter
#          without code, a disabled tool, then answers: every tool response
#          is one of the protocol's error strings.
#   traj2: search and visit against a loopback fixture (a SearXNG-style
#          /search and a page), the extraction scripted too.
# The record is also checked: one line, UTF-8 not escaped, the termination,
# the unverified URL of the answer, the exit status and standard output.
#
# `tests/agent/golden.sh --update` (with PLUMB pointing at a built plumb)
# rewrites tests/data/agent/traj*.expected.json from the current build;
# review the diff before committing it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
PLUMB_DATA=${PLUMB_DATA:-$top_srcdir/tests/data}
PLUMB=${PLUMB:-./plumb}
data=$PLUMB_DATA/agent
update=0
[ "${1:-}" = --update ] && update=1
command -v python3 >/dev/null 2>&1 || { echo "golden.sh: python3 not found: skipped"; exit 77; }

tmp=$(mktemp -d)
fixpid=
cleanup() {
    [ -n "$fixpid" ] && kill "$fixpid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail=0
note() { echo "golden.sh: $*" >&2; fail=1; }
export XDG_CACHE_HOME="$tmp/cache"

# messages FILE: the messages of the record in FILE, as the expected files hold them
messages() {
    python3 -c '
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert len(lines) == 1, "%d records" % len(lines)
rec = json.loads(lines[0])
sys.stdout.write(json.dumps(rec["messages"], ensure_ascii=False, indent=1) + "\n")' "$1"
}

# compare NAME OUT: the messages of trace OUT against NAME.expected.json
compare() {
    messages "$2" | sed "s/127\.0\.0\.1:$port/127.0.0.1:@PORT@/g" > "$tmp/$1.got.json" ||
        { note "$1: the record does not parse"; return; }
    if [ $update = 1 ]; then
        cp "$tmp/$1.got.json" "$data/$1.expected.json"
        echo "golden.sh: wrote $data/$1.expected.json"
    elif ! cmp -s "$tmp/$1.got.json" "$data/$1.expected.json"; then
        note "$1: the messages differ from $1.expected.json:"
        diff "$data/$1.expected.json" "$tmp/$1.got.json" | head -40 >&2
    fi
}

# ---------------------------------------------------------------- traj1
port=none
timeout 60 "$PLUMB" research --backend "script:$data/traj1.script.jsonl" \
    --tools search,PythonInterpreter --date 2025-01-01 --cache-mode off \
    --trace "$tmp/t1.jsonl" "Which river flows through Paris?" > "$tmp/t1.out" 2> "$tmp/t1.err"
rc=$?
[ $rc = 0 ] || { note "traj1: exit $rc"; cat "$tmp/t1.err" >&2; }
printf 'The Seine (塞纳河), per https://fr.wikipedia.org/wiki/Seine\n' | cmp -s - "$tmp/t1.out" ||
    note "traj1: standard output: $(cat "$tmp/t1.out")"
grep -q 'unverified (no tool fetched it): https://fr.wikipedia.org/wiki/Seine$' "$tmp/t1.err" ||
    note "traj1: the unverified URL is not reported"
[ "$(grep -c '^plumb: research: call [1-5]:' "$tmp/t1.err")" = 5 ] ||
    note "traj1: not one progress line per call"
grep -q '塞纳河' "$tmp/t1.jsonl" || note "traj1: the record escapes UTF-8"
python3 -c '
import json, sys
r = json.loads(open(sys.argv[1], encoding="utf-8").read())
p = r["plumb"]
assert r["termination"] == "answer", r["termination"]
assert r["prediction"] == "The Seine (塞纳河), per https://fr.wikipedia.org/wiki/Seine"
assert p["unverified"] == ["https://fr.wikipedia.org/wiki/Seine"], p["unverified"]
assert p["backend"].startswith("script "), p["backend"]
assert p["date"] == "2025-01-01" and p["calls"] == 5 and len(p["turns"]) == 5
assert [t.get("tool") for t in p["turns"]] == ["error", "error", "error", "error", None], p["turns"]
assert p["sources"] == []
' "$tmp/t1.jsonl" || note "traj1: the record is not as expected"
compare traj1 "$tmp/t1.jsonl"

# ---------------------------------------------------------------- traj2
cat > "$tmp/fix.py" <<'EOF'
import http.server, json, sys, urllib.parse
PAGE = b"""<!DOCTYPE html><html><head><title>Seine</title></head><body>
<h1>Seine</h1><p>The Seine flows through the centre of Paris, from east to west.</p>
<p>It rises at Source-Seine on the Langres plateau and reaches the English Channel at Le Havre,
after 777 kilometres through Troyes, Paris and Rouen.</p>
<p>Paris grew on its islands, the Ile de la Cite and the Ile Saint-Louis.</p></body></html>"""
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        port = self.server.server_address[1]
        if u.path == "/search":
            body = json.dumps({"query": "river through Paris", "number_of_results": 0,
                "results": [{"url": "http://127.0.0.1:%d/seine.html" % port, "title": "Seine",
                             "content": "The Seine flows through Paris.", "engine": "fixture",
                             "publishedDate": None}],
                "answers": [], "corrections": [], "infoboxes": [], "suggestions": [],
                "unresponsive_engines": []}).encode()
            ctype = "application/json"
        elif u.path == "/seine.html":
            body, ctype = PAGE, "text/html; charset=utf-8"
        else:
            self.send_error(404); return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
timeout 120 python3 "$tmp/fix.py" > "$tmp/port" &
fixpid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$tmp/port")
[ -n "$port" ] || { note "traj2: the fixture did not start"; exit 1; }
sed "s/@PORT@/$port/g" "$data/traj2.script.jsonl" > "$tmp/traj2.script.jsonl"
timeout 60 "$PLUMB" research --backend "script:$tmp/traj2.script.jsonl" \
    --searxng "http://127.0.0.1:$port" --allow-private --no-robots --cache-mode off \
    --tools search,visit --extractor-backend same --date 2025-01-01 --trace "$tmp/t2.jsonl" \
    "Which river flows through Paris?" > "$tmp/t2.out" 2> "$tmp/t2.err"
rc=$?
[ $rc = 0 ] || { note "traj2: exit $rc"; cat "$tmp/t2.err" >&2; }
[ "$(head -n 1 "$tmp/t2.out")" = "The Seine" ] || note "traj2: standard output: $(cat "$tmp/t2.out")"
compare traj2 "$tmp/t2.jsonl"

[ $fail = 0 ] && echo "golden.sh: ok"
exit $fail
