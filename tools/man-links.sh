#!/bin/sh
# Link pages for the section 3 manual: every function a group page names in
# its NAME section gets a one-line page that sources the group page, so that
# `man plumb_session_eval` finds plumb_session_open(3).
#
# usage: tools/man-links.sh install|uninstall MAN3DIR PAGE.3...
#   (PAGE: the source pages, for their NAME sections)
set -u
action=$1 dir=$2
shift 2
for page in "$@"; do
    base=$(basename "$page")
    names=$(sed -n '/^\.SH NAME/,/\\-/p' "$page" | sed '1d; s/\\-.*//; s/,/ /g')
    for n in $names; do
        [ "$n.3" = "$base" ] && continue
        case $action in
        install) printf '.so man3/%s\n' "$base" >"$dir/$n.3" || exit 1 ;;
        uninstall) rm -f "$dir/$n.3" ;;
        *) echo "man-links.sh: unknown action $action" >&2; exit 2 ;;
        esac
    done
done
