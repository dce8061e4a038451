#!/bin/sh
# tools/deps.sh, the first step of README's first command, with apt-get,
# sudo, id and dpkg-query replaced by stubs that log their calls: as root it
# must run apt-get itself (a container has no sudo), as a user through sudo,
# as a user without sudo it must stop and say what to run; nothing is
# installed when nothing is missing, and --list only names the packages.
set -u
top_srcdir=${top_srcdir:-.}
deps=$top_srcdir/tools/deps.sh
fail=0
note() { echo "install_deps.sh: $*" >&2; fail=1; }

[ -f "$deps" ] || { echo "install_deps.sh: $deps missing" >&2; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/install_deps.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# stubs: $tmp/bin has every command deps.sh runs; sudo is added per case.
mkdir "$tmp/bin" "$tmp/sudo"
for c in grep env sed cat; do
    p=$(command -v "$c") || { echo "install_deps.sh: no $c" >&2; exit 99; }
    ln -s "$p" "$tmp/bin/$c"
done
cat >"$tmp/bin/id" <<EOS
#!/bin/sh
cat "$tmp/uid"
EOS
cat >"$tmp/bin/dpkg-query" <<EOS
#!/bin/sh
# installed unless named in $tmp/missing
for a; do p=\$a; done
grep -qx "\$p" "$tmp/missing" 2>/dev/null && exit 1
printf 'install ok installed'
EOS
cat >"$tmp/bin/apt-get" <<EOS
#!/bin/sh
echo "apt-get \$*" >>"$tmp/log"
EOS
cat >"$tmp/sudo/sudo" <<EOS
#!/bin/sh
echo "sudo \$1" >>"$tmp/log"
exec "\$@"
EOS
chmod +x "$tmp/bin/id" "$tmp/bin/dpkg-query" "$tmp/bin/apt-get" "$tmp/sudo/sudo"

# run UID SUDO(yes|no) ARGS...: sets $status, $tmp/out, $tmp/err, $tmp/log
run() {
    echo "$1" >"$tmp/uid"
    path=$tmp/bin
    [ "$2" = yes ] && path=$tmp/sudo:$path
    shift 2
    : >"$tmp/log"
    PATH=$path /bin/sh "$deps" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
}

printf 'libsleef-dev\nclang\n' >"$tmp/missing"

run 0 no
[ $status -eq 0 ] || note "root without sudo: exit status $status: $(cat "$tmp/err")"
grep -q '^sudo' "$tmp/log" && note "root: sudo was called"
grep -q '^apt-get install .*libsleef-dev' "$tmp/log" || note "root: apt-get install of libsleef-dev not run"
grep -q 'clang' "$tmp/log" && note "root: a test package was installed without --test"

run 0 no --test
grep -q '^apt-get install .*libsleef-dev.* clang' "$tmp/log" || note "root --test: clang not installed"
grep -q '^apt-get update' "$tmp/log" || note "root: no apt-get update first"

run 1000 yes --test
[ $status -eq 0 ] || note "user with sudo: exit status $status: $(cat "$tmp/err")"
[ "$(grep -c '^sudo' "$tmp/log")" -eq 2 ] || note "user with sudo: apt-get not run through sudo: $(cat "$tmp/log")"
grep -q '^apt-get install .*clang' "$tmp/log" || note "user with sudo: apt-get install not run"

run 1000 no
[ $status -eq 1 ] || note "user without sudo: exit status $status, want 1"
[ -s "$tmp/log" ] && note "user without sudo: apt-get ran: $(cat "$tmp/log")"
grep -q 'apt-get install -y libsleef-dev' "$tmp/err" || note "user without sudo: no command to run as root: $(cat "$tmp/err")"

run 1000 yes --test --list
[ "$(cat "$tmp/out")" = "libsleef-dev clang" ] || note "--list: '$(cat "$tmp/out")', want 'libsleef-dev clang'"
[ -s "$tmp/log" ] && note "--list installed something"

: >"$tmp/missing"
run 1000 no --test
[ $status -eq 0 ] || note "nothing missing: exit status $status"
[ -s "$tmp/log" ] && note "nothing missing: apt-get ran"

exit $fail
