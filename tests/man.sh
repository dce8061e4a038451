#!/bin/sh
# Every command has a man page that renders cleanly and agrees with the
# option table its --help prints: every option of --help has an entry in the
# man page's OPTIONS, every entry there is an option of --help, and where an
# entry states a default or a range ("from A to B"), it is the one --help
# states.
# Every function of plumb.h is named, with its prototype, by a section 3
# page that renders cleanly.
set -u
srcdir=${top_srcdir:-.}
PLUMB=${PLUMB:-./plumb}
fail=0
note() { echo "man.sh: $*" >&2; fail=1; }

render() {
    # groff reports warnings on stderr; treat any as a failure.
    if command -v groff >/dev/null 2>&1; then
        out=$(groff -man -Tutf8 -ww -z "$1" 2>&1) || note "$1: groff failed"
        [ -z "$out" ] || note "$1: groff warnings: $out"
    fi
}

# help_table: the options of --help text on stdin, one a line:
# NAME|DEFAULT|RANGE, for every spelling NAME of every option
# (DEFAULT and RANGE empty when --help states none).
help_table() {
    awk '
    function flush(   n, i, names, def, range) {
        if (head == "") return
        def = ""; range = ""
        if (match(text, /default [^)]*\)$/)) def = substr(text, RSTART + 8, RLENGTH - 9)
        if (match(text, /\(-?[0-9][0-9.e+]* to -?[0-9][0-9.e+]*[;)]/)) range = substr(text, RSTART + 1, RLENGTH - 2)
        n = split(head, names, /[, ]+/)
        for (i = 1; i <= n; i++)
            if (names[i] ~ /^--?[A-Za-z]/) print names[i] "|" def "|" range
        head = ""; text = ""
    }
    /^options:/ { on = 1; next }
    !on { next }
    /^$/ { flush(); on = 0; next }
    /^      ?-/ || /^  -/ {
        flush(); line = $0; sub(/^ +/, "", line)
        if (match(line, /   +/)) {
            head = substr(line, 1, RSTART - 1); text = substr(line, RSTART + RLENGTH)
        } else {
            head = line; text = ""
        }
        next
    }
    /^ +/ { t = $0; sub(/^ +/, "", t); text = text (text == "" ? "" : " ") t; next }
    END { flush() }'
}

# man_table: the OPTIONS entries of a man page on stdin, one a line per
# spelling: NAME<tab>the entry text with font escapes removed.
man_table() {
    sed 's/\\-/-/g; s/\\f[BIRP]//g; s/\\(mu/x/g; s/\\e/\\/g' | awk '
    function flush(   n, i, w) {
        if (head == "") return
        n = split(head, w, /[ ",]+/)
        for (i = 1; i <= n; i++)
            if (w[i] ~ /^--?[A-Za-z]/) print w[i] "\t" body
        head = ""; body = ""
    }
    /^\.SH / { flush(); on = ($0 ~ /^\.SH OPTIONS/); next }
    !on { next }
    /^\.TP/ { flush(); want = 1; next }
    /^\.TQ/ { want = 2; next }   # another head of the same entry
    want { h = $0; sub(/^\.[A-Z]+ /, "", h); head = want == 2 ? head " " h : h; want = 0; next }
    head != "" { line = $0; sub(/^\.[A-Z]+ /, "", line); gsub(/"/, "", line); body = body " " line }
    END { flush() }'
}

check() {
    cmd=$1 page=$2
    [ -f "$page" ] || { note "$page: missing"; return; }
    render "$page"
    grep -q '^\.SH NAME' "$page" || note "$page: no NAME section"
    grep -q '^\.SH SYNOPSIS' "$page" || note "$page: no SYNOPSIS section"
    grep -q '^\.SH OPTIONS' "$page" || note "$page: no OPTIONS section"
    help=$($PLUMB $cmd --help 2>&1) || note "plumb $cmd --help: non-zero exit"
    htab=$(printf '%s\n' "$help" | help_table)
    mtab=$(man_table <"$page")
    [ -n "$htab" ] || note "plumb $cmd --help: no options found"
    # --help -> man page, with the default and range (the loops run in
    # subshells: they print the problems, note() reports them here)
    problems=$(printf '%s\n' "$htab" | while IFS='|' read -r opt def range; do
        [ -n "$opt" ] || continue
        entry=$(printf '%s\n' "$mtab" | awk -F '\t' -v o="$opt" '$1 == o { print $2; exit }')
        if [ -z "$entry" ]; then
            echo "$page: option $opt of 'plumb $cmd --help' has no entry in OPTIONS"
            continue
        fi
        case $def in
        "" | *" "*) ;; # none, or a sentence rather than a value
        *)
            if printf '%s\n' "$entry" | grep -qi 'default'; then
                printf '%s\n' "$entry" | grep -qF -- "$def" ||
                    echo "$page: $opt: --help says default $def, the man page: $entry"
            fi
            ;;
        esac
        if [ -n "$range" ]; then
            mrange=$(printf '%s\n' "$entry" |
                grep -oE 'from -?[0-9]+(\.[0-9]+)? to -?[0-9]+(\.[0-9]+)?' | head -n 1)
            [ -z "$mrange" ] || [ "$mrange" = "from $range" ] ||
                echo "$page: $opt: --help says $range, the man page says $mrange"
        fi
    done)
    # man page -> --help
    problems="$problems
"$(printf '%s\n' "$mtab" | cut -f 1 | sort -u | while read -r opt; do
        [ -n "$opt" ] || continue
        printf '%s\n' "$htab" | cut -d '|' -f 1 | grep -qxF -- "$opt" ||
            echo "$page: option $opt is not an option of 'plumb $cmd --help'"
    done)
    problems=$(printf '%s\n' "$problems" | sed '/^$/d')
    [ -z "$problems" ] || note "$problems"
}

check "" "$srcdir/man/plumb.1"
# every command 'plumb --help' lists has its page, and plumb(1) describes it
commands=$("$PLUMB" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ -n "$commands" ] || note "'plumb --help' lists no commands"
for c in $commands; do
    if [ ! -f "$srcdir/man/plumb-$c.1" ]; then
        note "command $c has no manual page man/plumb-$c.1"
        continue
    fi
    check "$c" "$srcdir/man/plumb-$c.1"
    grep -q "^\.B $c\$" "$srcdir/man/plumb.1" || note "man/plumb.1: COMMANDS does not describe $c"
    grep -qF ".BR plumb\\-$c (1)" "$srcdir/man/plumb.1" || note "man/plumb.1: no reference to plumb-$c(1)"
done
# ---------------------------------------------------------------- section 3
# section NAME PAGE: the lines of section NAME of PAGE, roff escapes removed
section() {
    awk -v s="$1" '/^\.SH / { on = ($2 == s) ; next } on' "$2" |
        sed 's/\\-/-/g; s/\\f[BIRP]//g; s/\\(.*//; s/\\e/\\/g'
}
pages3=$(ls "$srcdir"/man/*.3 2>/dev/null)
[ -n "$pages3" ] || note "no section 3 pages in $srcdir/man"
for page in $pages3; do
    render "$page"
    grep -q '^\.SH NAME' "$page" || note "$page: no NAME section"
    grep -q '^\.SH SYNOPSIS' "$page" || note "$page: no SYNOPSIS section"
done
functions=$(perl -0777 -ne 's{/\*.*?\*/}{}gs; s{^\s*#[^\n]*}{}mg;
    print "$1\n" while /\b(plumb_\w+)\s*\(/g' "$srcdir/src/plumb.h" | sort -u)
[ -n "$functions" ] || note "src/plumb.h: no functions found"
for f in $functions; do
    found=
    for page in $pages3; do
        section NAME "$page" | grep -qw -- "$f" || continue
        section SYNOPSIS "$page" | grep -q -- "[ *]$f(" || continue
        found=$page
        break
    done
    [ -n "$found" ] || note "$f (src/plumb.h): no man/*.3 page names it and shows its prototype"
done
exit $fail
