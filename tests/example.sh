#!/bin/sh
# examples/two_sessions, built against libplumb.la: two sessions on one
# model, generating turn about, each give what `plumb run --temp 0` gives for
# its prompt alone.
set -u
builddir=${top_builddir:-.}
PLUMB=${PLUMB:-./plumb}
model=${PLUMB_DATA:-tests/data}/models/mini-f32.gguf
example=$builddir/examples/two_sessions
[ -x "$example" ] || { echo "example.sh: $example not built: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/plumb-example.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
note() { echo "example.sh: $*" >&2; fail=1; }

# what plumb run prints for one prompt alone: run PROMPT OUT
run() {
    "$PLUMB" run -m "$model" -p "$1" -n 12 --temp 0 >"$2" 2>"$tmp/err" ||
        { cat "$tmp/err" >&2; note "plumb run failed"; }
}

p1='The quick brown fox'
p2='Once upon a time, in a land far away,'
run "$p1" "$tmp/a1"
run "$p2" "$tmp/a2"
cmp -s "$tmp/a1" "$tmp/a2" && note "both prompts give the same text: the check cannot tell the sessions apart"
[ "$(wc -c <"$tmp/a1")" -gt 8 ] || note "plumb run generated (almost) nothing"

"$example" "$model" "$p1" "$p2" 12 >"$tmp/got" 2>"$tmp/err" || { cat "$tmp/err" >&2; note "two_sessions failed"; }
cat "$tmp/a1" "$tmp/a2" | cmp -s - "$tmp/got" || {
    note "two_sessions differs from plumb run:"
    cat "$tmp/a1" "$tmp/a2" | diff - "$tmp/got" >&2
}
# The same prompt twice: both sessions say the same.
"$example" "$model" "$p1" "$p1" 12 >"$tmp/same" 2>"$tmp/err" || { cat "$tmp/err" >&2; note "two_sessions failed"; }
cat "$tmp/a1" "$tmp/a1" | cmp -s - "$tmp/same" || note "one prompt in two sessions: the texts differ from plumb run's"

# Bad use is an error, not a crash.
"$example" "$builddir/no-such.gguf" a b >/dev/null 2>"$tmp/err" && note "a missing model was accepted"
grep -q '^two_sessions: ' "$tmp/err" || note "no error message for a missing model"
exit $fail
