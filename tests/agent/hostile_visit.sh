#!/bin/sh
# The visit tool against hostile servers (hostile.py), as the model uses it:
# `plumb tool visit` on each route must end within its time limit with the
# page's extraction (the text routes) or exactly the reference's failure
# block (everything else), with the process's peak memory under 64 MiB above
# that of a small page's visit; with the address guard on, the loopback
# listener must see no connection at all.  tests/agent/hostile.sh tests the
# HTTP layer under it case by case.
set -u
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
PLUMB=${PLUMB:-./plumb}
command -v python3 >/dev/null 2>&1 || { echo "hostile_visit.sh: python3 not found: skipped"; exit 77; }
[ -x /usr/bin/time ] || { echo "hostile_visit.sh: /usr/bin/time not found (Debian package time): skipped"; exit 77; }

tmp=$(mktemp -d) || exit 1
server=
cleanup() {
    exec 3>&- 2>/dev/null
    [ -n "$server" ] && kill "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail=0
note() { echo "hostile_visit.sh: $*" >&2; fail=1; }
export XDG_CACHE_HOME="$tmp/cache"

mkfifo "$tmp/in" || exit 1
timeout 200 python3 "$here/hostile.py" --deadline 190 <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
server=$!
exec 3>"$tmp/in"
i=0
until grep -q '^ready$' "$tmp/out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 300 ] || ! kill -0 "$server" 2>/dev/null; then
        echo "hostile_visit.sh: the server did not start:" >&2
        cat "$tmp/out" "$tmp/err" >&2
        exit 1
    fi
    sleep 0.2
done
http=$(awk '$1 == "http" { print $2 }' "$tmp/out")
guard=$(awk '$1 == "guard" { print $2 }' "$tmp/out")

# The extractor: a scripted model whose reply is always the same JSON; with
# a second argument to model, the page text it is given must contain it
# (the charset cases: the page arrives decoded).
model() { # FILE [TEXT]
    for i in 1 2 3; do
        if [ -n "${2:-}" ]; then
            printf '{"reply": "{\\"rational\\": \\"r\\", \\"evidence\\": \\"EVIDENCE\\", \\"summary\\": \\"SUMMARY\\"}", "expect_last": "%s"}\n' "$2"
        else
            printf '{"reply": "{\\"rational\\": \\"r\\", \\"evidence\\": \\"EVIDENCE\\", \\"summary\\": \\"SUMMARY\\"}"}\n'
        fi
    done >"$1"
}

block() { # URL good|fail: the tool response expected for URL
    if [ "$2" = good ]; then
        printf 'The useful information in %s for user goal what the page says as follows: \n\nEvidence in page: \nEVIDENCE\n\nSummary: \nSUMMARY\n' "$1"
    else
        printf 'The useful information in %s for user goal what the page says as follows: \n\nEvidence in page: \nThe provided webpage content could not be accessed. Please check the URL or file format.\n\nSummary: \nThe webpage content could not be processed, and therefore, no information is available.\n' "$1"
    fi
}

# visit NAME URL good|fail LIMIT TEXT [OPTIONS...]: run in the background,
# outputs in $tmp/NAME.*; TEXT (may be "") must reach the extractor
pids=
visit() {
    name=$1 url=$2 want=$3 limit=$4 text=$5
    shift 5
    block "$url" "$want" >"$tmp/$name.want"
    model "$tmp/$name.model" "$text"
    (
        start=$(date +%s)
        /usr/bin/time -f '%M' -o "$tmp/$name.rss" timeout "$limit" "$PLUMB" tool visit \
            "{\"url\": \"$url\", \"goal\": \"what the page says\"}" \
            --backend "script:$tmp/$name.model" --cache-mode off "$@" \
            >"$tmp/$name.out" 2>"$tmp/$name.err"
        echo $? >"$tmp/$name.rc"
        echo $(($(date +%s) - start)) >"$tmp/$name.secs"
    ) &
    pids="$pids $!"
}
settle() { # wait for the visits started so far (not for the server)
    for p in $pids; do wait "$p"; done
    pids=
}

# check NAME: the outcome of a visit started above
check() {
    name=$1
    rc=$(cat "$tmp/$name.rc")
    if [ "$rc" != 0 ]; then
        note "$name: exit $rc after $(cat "$tmp/$name.secs") s: $(head -n 3 "$tmp/$name.err")"
        return
    fi
    cmp -s "$tmp/$name.out" "$tmp/$name.want" ||
        note "$name: not the expected block: $(head -c 300 "$tmp/$name.out")"
    rss=$(tail -n 1 "$tmp/$name.rss")
    # (a sanitizer build's shadow memory says nothing about the program's)
    [ -n "${SAN_CFLAGS:-}" ] || [ "$rss" -le $((base + 65536)) ] ||
        note "$name: peak memory $rss KiB, a small page's is $base KiB"
    echo "hostile_visit.sh: $name: $(cat "$tmp/$name.secs") s, $rss KiB, $(tail -n 1 "$tmp/$name.err")"
}

H=http://127.0.0.1:$http
P="--allow-private --no-robots"
visit ok "$H/ok?repeat=20" good 60 "hello from the test server" $P
settle
check ok
base=$(tail -n 1 "$tmp/ok.rss")

# the slow ones first, side by side (the low-speed limit is 10 s of < 256 B/s)
visit drip "$H/drip" fail 60 "" $P
visit slow-headers "$H/slow-headers" fail 60 "" $P
visit big "$H/big" good 60 "all work and no play" $P
visit huge-length "$H/huge-length" good 60 "" $P
settle
for n in drip slow-headers big huge-length; do check $n; done

fails="big-headers bomb-gzip bomb-br bomb-zstd chunked-bad binary js-only loop chain/10 to-file
    to-gopher 404 500 429?after=1 empty-reply"
for r in $fails; do
    visit "$(echo "$r" | tr '/?=' '___')" "$H/$r" fail 60 "" $P
done
settle
for r in $fails; do check "$(echo "$r" | tr '/?=' '___')"; done

# text in legacy and broken encodings arrives decoded, as valid UTF-8
cafe="Café “quoted” — naïve €5"
visit invalid-utf8 "$H/invalid-utf8?repeat=10" good 60 "bad �( bytes" $P
visit cp1252 "$H/cp1252?repeat=10" good 60 "$cafe" $P
visit cp1252-as-utf8 "$H/cp1252-as-utf8?repeat=10" good 60 "Caf" $P
visit cp1252-meta "$H/cp1252-meta?repeat=10" good 60 "$cafe" $P
visit gb18030 "$H/gb18030?repeat=40" good 60 "中文网页：北京的天气" $P
visit gb18030-meta "$H/gb18030-meta?repeat=40" good 60 "中文网页：北京的天气" $P
visit sjis "$H/sjis?repeat=40" good 60 "日本語のページです" $P
visit sjis-meta "$H/sjis-meta?repeat=40" good 60 "日本語のページです" $P
visit chain_5 "$H/chain/5?repeat=20" good 60 "end of the chain" $P
settle
for n in invalid-utf8 cp1252 cp1252-as-utf8 cp1252-meta gb18030 gb18030-meta sjis sjis-meta chain_5; do
    check $n
done

# robots.txt obeyed (no --no-robots): the page is never asked for
visit robots "$H/private/secret.html" fail 60 "" --allow-private
# the guard on (no --allow-private): loopback by address, by name, as a
# decimal number and as an IPv4-mapped IPv6 address
visit guard-ip "http://127.0.0.1:$guard/secret" fail 60 ""
visit guard-name "http://localhost:$guard/secret" fail 60 ""
visit guard-decimal "http://2130706433:$guard/secret" fail 60 ""
visit guard-mapped "http://[::ffff:127.0.0.1]:$guard/secret" fail 60 ""
settle
for n in robots guard-ip guard-name guard-decimal guard-mapped; do check $n; done
grep -q 'loopback address' "$tmp/guard-ip.err" || note "guard-ip: stderr does not say why: $(cat "$tmp/guard-ip.err")"

stats=$(python3 -c 'import json, sys, urllib.request
print(json.dumps(json.load(urllib.request.urlopen("http://127.0.0.1:%s/_stats" % sys.argv[1], timeout=10))))' "$http")
python3 - "$stats" <<'PY' || fail=1
import json, sys
s = json.loads(sys.argv[1])
ok = True
if s["listeners"].get("guard", 0) != 0:
    print("hostile_visit.sh: the guarded listener saw %d connections" % s["listeners"]["guard"], file=sys.stderr)
    ok = False
if any(k.startswith("/private/") for k in s["routes"]):
    print("hostile_visit.sh: a page robots.txt disallows was requested", file=sys.stderr)
    ok = False
sys.exit(0 if ok else 1)
PY
[ $fail = 0 ] && echo "hostile_visit.sh: ok"
exit $fail
