#!/bin/sh
# plumb index: build a copy of the test corpus, search it (one block compared
# byte for byte with tests/data/agent/index_search.expected, the ten queries
# of index_queries.txt), rebuild after an edit, a touch and a removal (the
# summary lines say what was read), hostile queries (exit 0 with a result
# block or the no-results text), stats, and the exit status of errors.
set -u
PLUMB=${PLUMB:-./plumb}
PLUMB_DATA=${PLUMB_DATA:-tests/data}
fail=0
note() { echo "index.sh: $*" >&2; fail=1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/plumb-index-sh.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
cp -R "$PLUMB_DATA/agent/corpus" "$dir/corpus" || exit 1
db=$dir/index.db
tab=$(printf '\t')

run() { timeout 60 "$PLUMB" "$@"; }

out=$(run index build "$dir/corpus" --db "$db" --exclude README.md -q 2>"$dir/err") ||
    note "build: exit $?: $(cat "$dir/err")"
if command -v pdftotext >/dev/null 2>&1; then n=9; else n=8; fi
printf '%s\n' "$out" | grep -qx "$dir/corpus: 9 files seen, $n read, 0 unchanged, 0 removed, $((9 - n)) failed" ||
    note "build summary: $out"
printf '%s\n' "$out" | grep -qx "$db: $n documents, [0-9]* bytes of text" || note "build total: $out"
[ ! -s "$dir/err" ] || note "build -q wrote to stderr: $(cat "$dir/err")"

# the exact blocks the search tool gives the model
{
    run index search --db "$db" -k 3 when was the Kestrel Holm lighthouse built
    run index search --db "$db" -k 2 '白毫茶的采摘时间'
    run index search --db "$db" '" NEAR( * col:x'
} >"$dir/search.out" 2>"$dir/err" || note "search: exit $?: $(cat "$dir/err")"
sed "s|$dir|@DIR@|g" "$dir/search.out" | cmp -s - "$PLUMB_DATA/agent/index_search.expected" || {
    note "search output differs from index_search.expected:"
    sed "s|$dir|@DIR@|g" "$dir/search.out" | diff - "$PLUMB_DATA/agent/index_search.expected" >&2
}

# the ten queries: the right document first
while IFS="$tab" read -r want q; do
    case $want in '#'* | '') continue ;; esac
    [ "$n" = 9 ] || case $want in *.pdf) continue ;; esac
    first=$(run index search --db "$db" -- "$q" | grep -m 1 '^1\. \[' | sed 's/.*(file:\/\/\(.*\))$/\1/')
    [ "$first" = "$dir/corpus/$want" ] || note "query '$q': first $first, expected $want"
done <"$PLUMB_DATA/agent/index_queries.txt"

# incremental rebuilds
summary() { run index build "$dir/corpus" --db "$db" --exclude README.md -q | head -n 1 | sed 's/^[^:]*: //'; }
echo "The workshop also makes beads." >>"$dir/corpus/glassworks.txt"
s=$(summary)
[ "$s" = "9 files seen, 1 read, 8 unchanged, 0 removed, $((9 - n)) failed" ] || note "after an edit: $s"
touch -d '2001-02-03 04:05:06' "$dir/corpus/harbour.txt"
s=$(summary)
[ "$s" = "9 files seen, 0 read, 9 unchanged, 0 removed, $((9 - n)) failed" ] || note "after touch: $s"
s=$(summary)
[ "$s" = "9 files seen, 0 read, 9 unchanged, 0 removed, $((9 - n)) failed" ] || note "again: $s"
rm "$dir/corpus/onsen_ja.md"
s=$(summary)
[ "$s" = "8 files seen, 0 read, 8 unchanged, 1 removed, $((9 - n)) failed" ] || note "after rm: $s"
run index search --db "$db" '温泉の効能' | grep -q '^No results found for' ||
    note "a removed file is still found"

# hostile queries: a block or the no-results text, exit 0
big=$(head -c 10240 /dev/zero | tr '\0' 'x')
for q in '" NEAR( * col:x' 'title:glass' 'glass*' '-glass' 'NOT' '(((' '""' \
    "$(printf 'bad\377\376 glass')" "$big" '東京' '   '; do
    o=$(run index search --db "$db" -- "$q" 2>"$dir/err")
    rc=$?
    [ $rc = 0 ] || note "query '$(printf %.40s "$q")': exit $rc: $(cat "$dir/err")"
    case $o in
    "A Google search for '"* | "No results found for '"*) ;;
    *) note "query '$(printf %.40s "$q")': $(printf %.200s "$o")" ;;
    esac
done

# stats
s=$(run index stats --db "$db") || note "stats: exit $?"
printf '%s\n' "$s" | grep -qx "documents: $((n - 1))" || note "stats: $s"
printf '%s\n' "$s" | grep -qx "folder: $dir/corpus" || note "stats folder: $s"

# errors: 2 for usage, 1 for what went wrong while running
status() { run "$@" >/dev/null 2>"$dir/err"; echo $?; }
[ "$(status index)" = 2 ] || note "no action: not exit 2"
[ "$(status index search foo)" = 2 ] || note "no --db: not exit 2"
[ "$(status index frobnicate --db "$db")" = 2 ] || note "unknown action: not exit 2"
[ "$(status index search --db "$db")" = 2 ] || note "no query: not exit 2"
[ "$(status index search --db "$db" -k 0 glass)" = 2 ] || note "-k 0: not exit 2"
[ "$(status index build --db "$db")" = 2 ] || note "build without a folder: not exit 2"
[ "$(status index stats --db "$db" extra)" = 2 ] || note "stats with an operand: not exit 2"
[ "$(status index search --db "$db" --exclude x glass)" = 2 ] || note "search --exclude: not exit 2"
[ "$(status index search --db "$dir/none.db" glass)" = 1 ] || note "missing db: not exit 1"
grep -q "none.db" "$dir/err" || note "missing db: message does not name it: $(cat "$dir/err")"
[ "$(status index build "$dir/nowhere" --db "$db")" = 1 ] || note "missing folder: not exit 1"
grep -q "nowhere" "$dir/err" || note "missing folder: message: $(cat "$dir/err")"
run index --help | grep -q 'build DIR' || note "--help"

exit $fail
