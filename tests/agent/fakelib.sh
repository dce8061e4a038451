# fakelib.sh — sourced by the agent's shell tests: start and stop
# tests/agent/webfake.py.  Needs $tmp (a private directory) and $top_srcdir.
#
#   fake_start NAME MODE [PORT]   start `webfake.py MODE $tmp/NAME.count [PORT]`;
#                                 sets fake_port; the fixture lives until
#                                 fake_stop NAME (or this shell exits)
#   fake_count NAME               connections it accepted so far

fake_start() {
    rm -f "$tmp/$1.ctl" "$tmp/$1.port"
    mkfifo "$tmp/$1.ctl" || return 1
    timeout 150 python3 "$top_srcdir/tests/agent/webfake.py" "$2" "$tmp/$1.count" ${3:-} \
        <"$tmp/$1.ctl" >"$tmp/$1.port" &
    echo $! >"$tmp/$1.pid"
    # Holding the fifo open keeps the fixture alive; closing it stops it.
    eval "exec ${fake_fd:-7}>\"\$tmp/\$1.ctl\""
    eval "fake_fd_$1=${fake_fd:-7}"
    fake_fd=$(( ${fake_fd:-7} + 1 ))
    i=0
    while [ ! -s "$tmp/$1.port" ] && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    fake_port=$(head -n 1 "$tmp/$1.port")
    [ -n "$fake_port" ]
}

fake_stop() {
    eval "fd=\$fake_fd_$1"
    eval "exec $fd>&-"
    wait "$(cat "$tmp/$1.pid")" 2>/dev/null
    return 0
}

fake_count() {
    cat "$tmp/$1.count" 2>/dev/null || echo missing
}

# netns_cmd: prints how to run a command in a new network namespace, or
# nothing when this system cannot (not root and no user namespaces).
netns_cmd() {
    if unshare -n true 2>/dev/null; then
        echo "unshare -n"
    elif unshare -rn true 2>/dev/null; then
        echo "unshare -rn"
    fi
}
