#!/bin/sh
# plumb research on the embedded small test model (random weights, so its
# text is gibberish): the run ends with a termination of the protocol's
# set, exit 0 with an answer or 3 without, and one valid record naming the
# model's fingerprint, with per-call token counts showing the prefix reuse.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
PLUMB_DATA=${PLUMB_DATA:-$top_srcdir/tests/data}
PLUMB=${PLUMB:-./plumb}
command -v python3 >/dev/null 2>&1 || { echo "local.sh: python3 not found: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
export XDG_CACHE_HOME="$tmp/cache"
fail=0
timeout 120 "$PLUMB" research -m "$PLUMB_DATA/models/small-Q4_K_M.gguf" -t 1 --max-calls 2 \
    --date 2025-01-01 --cache-mode off --trace "$tmp/t.jsonl" "Q" > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc != 0 ] && [ $rc != 3 ]; then
    echo "local.sh: exit $rc" >&2
    cat "$tmp/err" >&2
    fail=1
fi
python3 -c '
import json, sys
rc = int(sys.argv[2])
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert len(lines) == 1, len(lines)
r = json.loads(lines[0])
terms = {"answer", "generate an answer as call limit reached", "exceed available llm calls",
         "generate an answer as token limit reached",
         "format error: generate an answer as token limit reached", "answer not found"}
assert r["termination"] in terms, r["termination"]
assert (rc == 0) == (r["termination"].startswith("generate") or r["termination"] == "answer")
p = r["plumb"]
assert p["backend"].startswith("model sha256:") and "small-Q4_K_M.gguf" in p["backend"], p["backend"]
assert 1 <= len(p["turns"]) <= 3, p["turns"]
for t in p["turns"]:
    assert t["n_reused"] + t["n_evaluated"] == t["n_prompt"], t
if len(p["turns"]) > 1:
    assert p["turns"][1]["n_reused"] >= p["turns"][0]["n_prompt"], p["turns"]
assert r["messages"][0]["role"] == "system" and r["messages"][0]["content"].endswith("Current date: 2025-01-01")
' "$tmp/t.jsonl" "$rc" || fail=1
# the same with a 4-bit cache and a window whose sinks are the system prompt
timeout 120 "$PLUMB" research -m "$PLUMB_DATA/models/small-Q4_K_M.gguf" -t 1 --max-calls 1 \
    --kv-type q4_0 --window 128 --date 2025-01-01 --cache-mode off --trace "$tmp/w.jsonl" "Q" \
    > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc != 0 ] && [ $rc != 3 ]; then
    echo "local.sh: --kv-type q4_0 --window 128: exit $rc" >&2
    cat "$tmp/err" >&2
    fail=1
fi
python3 -c '
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
assert len(lines) == 1, len(lines)
r = json.loads(lines[0])
assert r["plumb"]["turns"], r["plumb"]
' "$tmp/w.jsonl" || fail=1
"$PLUMB" research -m "$PLUMB_DATA/models/small-Q4_K_M.gguf" --keep 8 "Q" > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc != 2 ] || ! grep -q -- "--window" "$tmp/err"; then
    echo "local.sh: --keep without --window: exit $rc: $(cat "$tmp/err")" >&2
    fail=1
fi
[ $fail = 0 ] && echo "local.sh: ok"
exit $fail
