#!/usr/bin/env bash
# Remove edgevoice: stop and disable the service, remove the unit, the program (/opt/edgevoice)
# and the /usr/local/bin/edgevoice link.
#
#   sudo deploy/uninstall.sh           # keeps /etc/edgevoice (config, key), the state in
#                                      # /var/lib/edgevoice and the user: a re-install resumes
#   sudo deploy/uninstall.sh --purge   # removes those too
#
# --root DIR works on DIR as if it were / (as install.sh --root): no systemctl beyond the
# offline `systemctl --root=DIR disable`, the user is removed from DIR's /etc files.
# Re-running it is harmless: what is gone already is skipped.
set -euo pipefail

PROG=uninstall.sh
# shellcheck source=deploy/common.sh
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

PURGE=no

usage() {
    cat <<EOF
Usage: sudo deploy/uninstall.sh [--purge] [--root DIR]

Stop and remove the edgevoice service and program. Keeps the config ($ETC), the key, the
state ($STATE) and the user $SERVICE_USER unless --purge.

Options:
  --purge      also remove $ETC, $STATE, the unit's drop-ins and the user and group
               $SERVICE_USER (the groups audio and gpio stay)
  --root DIR   work on DIR as if it were / (no systemctl except an offline disable)
  -h, --help   show this help
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --root | --root=*)
        take_root_option "$@"
        shift "$SHIFTED"
        ;;
    --purge) PURGE=yes && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
    esac
done

check_root
[ "$(id -u)" = 0 ] || die "run as root: sudo $0 $*"

remove() { # remove a path if it is there, and say so
    if [ -e "$ROOT$1" ] || [ -L "$ROOT$1" ]; then
        rm -rf -- "$ROOT$1"
        note "removed $1"
    fi
}

say "service"
if [ -e "$ROOT$UNIT_DIR/$UNIT" ]; then
    if [ -n "$ROOT" ]; then
        systemctl --root="$ROOT" --quiet disable "$UNIT" 2>/dev/null || true
    elif systemd_running; then
        systemctl --quiet disable --now "$UNIT" 2>/dev/null || true
    else
        systemctl --quiet disable "$UNIT" 2>/dev/null || true
    fi
    note "stopped and disabled"
fi
# A wants link left by an older install whose unit file is gone already.
remove "$UNIT_DIR/multi-user.target.wants/$UNIT"
remove "$UNIT_DIR/$UNIT"
if [ "$PURGE" = yes ]; then
    remove "$UNIT_DIR/$UNIT.d"
fi
if systemd_running; then
    systemctl daemon-reload
    systemctl reset-failed "$UNIT" 2>/dev/null || true
fi

say "program"
if [ -L "$ROOT$LINK" ] && [ "$(readlink "$ROOT$LINK")" = "$PREFIX/venv/bin/edgevoice" ]; then
    remove "$LINK"
fi
remove "$PREFIX"

if [ "$PURGE" = yes ]; then
    say "configuration, key, state and user (--purge)"
    remove "$ETC"
    remove "$STATE"
    remove "$RUNTIME"
    if user_exists "$SERVICE_USER"; then
        userdel "${prefix_opts[@]}" "$SERVICE_USER"
        note "removed the user $SERVICE_USER"
    fi
    if group_exists "$SERVICE_USER"; then
        groupdel "${prefix_opts[@]}" "$SERVICE_USER"
        note "removed the group $SERVICE_USER"
    fi
else
    say "kept (remove them with --purge)"
    for kept in "$ETC" "$STATE"; do
        [ ! -e "$ROOT$kept" ] || note "$kept"
    done
    ! user_exists "$SERVICE_USER" || note "the user $SERVICE_USER"
fi
say "edgevoice is uninstalled"
