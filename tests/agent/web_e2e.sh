#!/bin/sh
# The whole online loop against loopback stand-ins: an OpenAI-compatible
# model server (fake_openai.py), a SearXNG instance (fake_searxng.py) and an
# HTTPS site whose certificate comes from a throwaway CA (pki.sh).
#   1. `plumb tool search` and `plumb tool visit` print exactly the blocks of
#      tests/data/agent/e2e/*.expected (ports replaced by @PORT@ and @TLS@);
#   2. `plumb research --backend ... --searxng ... --allow-private --cacert
#      ca.crt` searches, visits the HTTPS page, and answers with that page
#      under Sources; the record holds the SHA-256 of the bytes served;
#   3. without --cacert the same visit fails certificate verification and the
#      model is given the reference's failure block.
# `tests/agent/web_e2e.sh --update` rewrites the expected files from this
# build; review the diff before committing it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
PLUMB_DATA=${PLUMB_DATA:-$top_srcdir/tests/data}
PLUMB=${PLUMB:-./plumb}
data=$PLUMB_DATA/agent/e2e
update=0
[ "${1:-}" = --update ] && update=1
command -v python3 >/dev/null 2>&1 || { echo "web_e2e.sh: python3 not found: skipped"; exit 77; }
command -v openssl >/dev/null 2>&1 || { echo "web_e2e.sh: openssl not found: skipped"; exit 77; }

tmp=$(mktemp -d)
pids=
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail=0
note() { echo "web_e2e.sh: $*" >&2; fail=1; }
export XDG_CACHE_HOME="$tmp/cache"
unset PLUMB_API_KEY

mkdir "$tmp/pki" && sh "$top_srcdir/tests/agent/pki.sh" "$tmp/pki" || { echo "web_e2e.sh: pki.sh failed"; exit 1; }

# start NAME CMD...: run a server whose first line of output is its port
# (left in $port); its stdin is a FIFO held open here, so it stops when this
# script ends
start() {
    name=$1
    shift
    mkfifo "$tmp/$name.in"
    "$@" <"$tmp/$name.in" >"$tmp/$name.port" 2>"$tmp/$name.err" &
    pids="$pids $!"
    eval "exec ${fdn}>\"\$tmp/\$name.in\""
    fdn=$((fdn + 1))
    i=0
    while [ ! -s "$tmp/$name.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    port=$(head -n 1 "$tmp/$name.port")
}
fdn=5

# The HTTPS site: /danube.html, a 404 for /robots.txt, a count of requests.
cat >"$tmp/site.py" <<'PY'
import http.server, ssl, sys, threading
PAGE = open(sys.argv[3], "rb").read()
hits = {}
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        hits[self.path] = hits.get(self.path, 0) + 1
        if self.path == "/danube.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(PAGE)))
            self.end_headers()
            self.wfile.write(PAGE)
        elif self.path == "/__hits":
            body = repr(sorted(hits.items())).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_error(404)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
threading.Thread(target=srv.serve_forever, daemon=True).start()
sys.stdin.read()
PY
start site python3 "$tmp/site.py" "$tmp/pki/good.crt" "$tmp/pki/good.key" "$data/danube.html"
tls=$port
[ -n "$tls" ] || { cat "$tmp/site.err" >&2; echo "web_e2e.sh: the HTTPS site did not start"; exit 1; }
page_url="https://localhost:$tls/danube.html"

sed "s/@TLS@/$tls/g" "$data/searxng.json" >"$tmp/answers.json"
start searxng python3 "$top_srcdir/tests/agent/fake_searxng.py" --answers "$tmp/answers.json" --lifetime 100
sx=$port
[ -n "$sx" ] || { cat "$tmp/searxng.err" >&2; echo "web_e2e.sh: fake_searxng.py did not start"; exit 1; }

sed "s/@TLS@/$tls/g" "$data/model.jsonl" >"$tmp/model.jsonl"
mkdir "$tmp/scripts"
sed "s/@TLS@/$tls/g" "$data/visit-model.jsonl" >"$tmp/scripts/visit.jsonl"
cp "$tmp/model.jsonl" "$tmp/scripts/research.jsonl"
sed "s/@TLS@/$tls/g" "$data/nocert-model.jsonl" >"$tmp/scripts/nocert.jsonl"
start openai python3 "$top_srcdir/tests/agent/fake_openai.py" --dir "$tmp/scripts"
llm=$port
[ -n "$llm" ] || { cat "$tmp/openai.err" >&2; echo "web_e2e.sh: fake_openai.py did not start"; exit 1; }

# expect NAME FILE: FILE (ports replaced back) equals $data/NAME.expected
expect() {
    sed -e "s/127\.0\.0\.1:$sx/127.0.0.1:@PORT@/g" -e "s/localhost:$tls/localhost:@TLS@/g" "$2" >"$2.norm"
    [ "$update" = 1 ] && cp "$2.norm" "$data/$1.expected"
    cmp -s "$2.norm" "$data/$1.expected" || {
        note "$1: output differs from $1.expected:"
        diff "$data/$1.expected" "$2.norm" | head -n 20 >&2
    }
}

# ---------------------------------------------------------------- 1. plumb tool
timeout 60 "$PLUMB" tool search '{"query": ["source of the Danube", "nothing here"]}' \
    --searxng "http://127.0.0.1:$sx" --cache-mode off >"$tmp/search.out" 2>"$tmp/search.err" ||
    { note "tool search: exit $?"; cat "$tmp/search.err" >&2; }
expect search "$tmp/search.out"

timeout 60 "$PLUMB" tool visit "{\"url\": \"$page_url\", \"goal\": \"where the Danube rises\"}" \
    --backend "http://127.0.0.1:$llm/visit/v1" --allow-private --cacert "$tmp/pki/ca.crt" \
    --cache-mode off >"$tmp/visit.out" 2>"$tmp/visit.err" ||
    { note "tool visit: exit $?"; cat "$tmp/visit.err" >&2; }
expect visit "$tmp/visit.out"

# ---------------------------------------------------------------- 2. research
timeout 120 "$PLUMB" research --backend "http://127.0.0.1:$llm/research/v1" \
    --searxng "http://127.0.0.1:$sx" --allow-private --cacert "$tmp/pki/ca.crt" \
    --cache "$tmp/web.sqlite" --date 2025-01-01 --trace "$tmp/trace.jsonl" \
    "Where does the Danube rise?" >"$tmp/research.out" 2>"$tmp/research.err"
rc=$?
[ $rc = 0 ] || { note "research: exit $rc"; cat "$tmp/research.err" >&2; }
grep -q 'Donaueschingen' "$tmp/research.out" || note "research: no answer on stdout: $(cat "$tmp/research.out")"
sed -n '/^Sources/,$p' "$tmp/research.out" | grep -qF "$page_url" ||
    note "research: $page_url is not under Sources: $(cat "$tmp/research.out")"
python3 - "$tmp/trace.jsonl" "$data/danube.html" "$page_url" <<'PY' || fail=1
import hashlib, json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
rec = json.loads(lines[-1])
want = hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
src = [s for s in rec["plumb"]["sources"] if s["url"] == sys.argv[3]]
ok = True
def bad(msg):
    global ok
    print("web_e2e.sh: record: " + msg, file=sys.stderr)
    ok = False
if rec["termination"] != "answer":
    bad("termination %r" % rec["termination"])
if not src:
    bad("no source %s in %r" % (sys.argv[3], rec["plumb"]["sources"]))
elif src[0]["sha256"] != want:
    bad("sha256 %s, the page's is %s" % (src[0]["sha256"], want))
roles = [m["role"] for m in rec["messages"]]
if roles != ["system", "user", "assistant", "user", "assistant", "user", "assistant"]:
    bad("roles %r" % roles)
if "Donaueschingen" not in rec["messages"][5]["content"]:
    bad("the visit's response lacks the page's evidence: %r" % rec["messages"][5]["content"])
sys.exit(0 if ok else 1)
PY
# the model server saw the extraction prompt with the page's text in it
grep -q 'Breg and the Brigach' "$tmp/scripts/research.record.jsonl" ||
    note "research: the extractor was not given the page's text"

# ---------------------------------------------------------------- 3. no CA
timeout 60 "$PLUMB" tool visit "{\"url\": \"$page_url\", \"goal\": \"where the Danube rises\"}" \
    --backend "http://127.0.0.1:$llm/nocert/v1" --allow-private \
    --cache-mode off >"$tmp/nocert.out" 2>"$tmp/nocert.err" ||
    { note "tool visit without the CA: exit $?"; cat "$tmp/nocert.err" >&2; }
expect nocert "$tmp/nocert.out"
grep -q 'unknown authority' "$tmp/nocert.err" || note "no CA: stderr does not name the reason: $(cat "$tmp/nocert.err")"

[ $fail = 0 ] && echo "web_e2e.sh: ok"
exit $fail
