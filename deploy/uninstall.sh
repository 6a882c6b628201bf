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
PREFIX=/opt/edgevoice
ETC=/etc/edgevoice
STATE=/var/lib/edgevoice
RUNTIME=/run/edgevoice
UNIT_DIR=/etc/systemd/system
UNIT=edgevoice.service
SERVICE_USER=edgevoice
LINK=/usr/local/bin/edgevoice

ROOT=""
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

say() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}
usage_error() {
    printf '%s: %s (see %s --help)\n' "$PROG" "$*" "$PROG" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
    --root)
        [ $# -ge 2 ] || usage_error "--root needs a directory"
        ROOT="$2"
        shift 2
        ;;
    --root=*)
        ROOT="${1#--root=}"
        shift
        ;;
    --purge) PURGE=yes && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
    esac
done

if [ -n "$ROOT" ]; then
    case "$ROOT" in /*) ;; *) usage_error "--root must be an absolute path" ;; esac
    [ -d "$ROOT" ] || usage_error "--root $ROOT is not a directory"
    ROOT="$(cd "$ROOT" && pwd -P)"
    [ "$ROOT" != / ] || ROOT=""
fi
[ "$(id -u)" = 0 ] || die "run as root: sudo $0 $*"

prefix_opts=()
[ -z "$ROOT" ] || prefix_opts=(--prefix "$ROOT")
systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }
user_exists() {
    if [ -n "$ROOT" ]; then grep -qE "^$1:" "$ROOT/etc/passwd" 2>/dev/null; else getent passwd "$1" >/dev/null; fi
}
group_exists() {
    if [ -n "$ROOT" ]; then grep -qE "^$1:" "$ROOT/etc/group" 2>/dev/null; else getent group "$1" >/dev/null; fi
}
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
