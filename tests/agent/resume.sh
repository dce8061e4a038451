#!/bin/sh
# A batch killed with SIGKILL after its second record, then resumed (with a
# torn line added at the end, as a kill during a write leaves one), ends
# with exactly one record per question, every line parsing, the first two
# untouched.  Also: --trace and --out agree, and the exit status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
PLUMB_DATA=${PLUMB_DATA:-$top_srcdir/tests/data}
PLUMB=${PLUMB:-./plumb}
command -v python3 >/dev/null 2>&1 || { echo "resume.sh: python3 not found: skipped"; exit 77; }
tmp=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
fail=0
note() { echo "resume.sh: $*" >&2; fail=1; }
export XDG_CACHE_HOME="$tmp/cache"

# five slow replies, each an answer to whichever question asks
i=0
while [ $i -lt 5 ]; do
    printf '%s\n' '{"reply": "<think>ok</think>\n<answer>done</answer>", "delay_ms": 400}'
    i=$((i + 1))
done > "$tmp/script.jsonl"

# no `timeout` in front: the kill must reach plumb itself (the script
# bounds the run to five 0.4 s replies)
"$PLUMB" research --backend "script:$tmp/script.jsonl" --date 2025-01-01 \
    --cache-mode off --batch "$PLUMB_DATA/agent/batch5.jsonl" --out "$tmp/out.jsonl" \
    2> "$tmp/err1" &
pid=$!
n=0
while [ $n -lt 300 ]; do
    [ -f "$tmp/out.jsonl" ] && [ "$(wc -l < "$tmp/out.jsonl")" -ge 2 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
    n=$((n + 1))
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
pid=
lines=$(cat "$tmp/out.jsonl" 2>/dev/null | wc -l)
[ "$lines" -ge 2 ] && [ "$lines" -lt 5 ] || note "killed run: $lines records (expected 2 to 4)"
head -n 2 "$tmp/out.jsonl" > "$tmp/first2"
printf '{"question": "How many legs has a spider?", "messa' >> "$tmp/out.jsonl"

timeout 60 "$PLUMB" research --backend "script:$tmp/script.jsonl" --date 2025-01-01 \
    --cache-mode off --batch "$PLUMB_DATA/agent/batch5.jsonl" --out "$tmp/out.jsonl" \
    --resume 2> "$tmp/err2"
rc=$?
[ $rc = 0 ] || { note "resumed run: exit $rc"; cat "$tmp/err2" >&2; }
grep -q "questions already had a record" "$tmp/err2" || note "resume: no skip reported"
head -n 2 "$tmp/out.jsonl" | cmp -s - "$tmp/first2" || note "the first two records changed"
python3 -c '
import json, sys
qs = [json.loads(l)["question"] for l in open(sys.argv[1], encoding="utf-8")]
recs = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
got = [r["question"] for r in recs]
assert sorted(got) == sorted(qs), got
for r in recs:
    assert "error" not in r and r["termination"] == "answer" and r["prediction"] == "done", r
gold = {json.loads(l)["question"]: json.loads(l)["answer"] for l in open(sys.argv[1], encoding="utf-8")}
for r in recs:
    assert r["answer"] == gold[r["question"]], r["answer"]
' "$PLUMB_DATA/agent/batch5.jsonl" "$tmp/out.jsonl" || note "not exactly one good record per question"

# a batch whose model fails: an error record, exit 1, and --resume runs it again
echo '{"error": "backend down"}' > "$tmp/bad.jsonl"
printf '{"question": "Q1"}\n' > "$tmp/q1.jsonl"
timeout 30 "$PLUMB" research --backend "script:$tmp/bad.jsonl" --date 2025-01-01 \
    --cache-mode off --batch "$tmp/q1.jsonl" --out "$tmp/o2.jsonl" 2> "$tmp/err3"
rc=$?
[ $rc = 1 ] || note "a failing model: exit $rc, expected 1"
grep -q '"error":"' "$tmp/o2.jsonl" || note "a failing model: no error in the record"
echo '{"reply": "<answer>A</answer>"}' > "$tmp/good.jsonl"
timeout 30 "$PLUMB" research --backend "script:$tmp/good.jsonl" --date 2025-01-01 \
    --cache-mode off --batch "$tmp/q1.jsonl" --out "$tmp/o2.jsonl" --resume 2> "$tmp/err4"
rc=$?
[ $rc = 0 ] && [ "$(wc -l < "$tmp/o2.jsonl")" = 2 ] ||
    note "resume after an error record: exit $rc, $(wc -l < "$tmp/o2.jsonl") lines"

[ $fail = 0 ] && echo "resume.sh: ok"
exit $fail
