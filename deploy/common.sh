# shellcheck shell=bash disable=SC2034 # the variables are used by the scripts that source this
# What deploy/install.sh and deploy/uninstall.sh share: the installed paths, messages, the
# --root option and user/group lookups in this system or in ROOT's /etc files.
# Sourced (not run); the sourcing script sets PROG first.

PREFIX=/opt/edgevoice
ETC=/etc/edgevoice
STATE=/var/lib/edgevoice
RUNTIME=/run/edgevoice
UNIT_DIR=/etc/systemd/system
UNIT=edgevoice.service
SERVICE_USER=edgevoice
LINK=/usr/local/bin/edgevoice

ROOT=""

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

# take_root_option "$@": when the first argument is --root DIR or --root=DIR, set ROOT and
# SHIFTED to how many arguments it used (0: not a --root option).
take_root_option() {
    SHIFTED=0
    case "$1" in
    --root)
        [ $# -ge 2 ] || usage_error "--root needs a directory"
        ROOT="$2"
        SHIFTED=2
        ;;
    --root=*)
        ROOT="${1#--root=}"
        SHIFTED=1
        ;;
    esac
}

# check_root: after option parsing, ROOT as an absolute, existing, resolved path ("" for /),
# and prefix_opts for useradd/userdel/groupdel.
check_root() {
    if [ -n "$ROOT" ]; then
        case "$ROOT" in /*) ;; *) usage_error "--root must be an absolute path" ;; esac
        [ -d "$ROOT" ] || usage_error "--root $ROOT is not a directory"
        ROOT="$(cd "$ROOT" && pwd -P)"
        [ "$ROOT" != / ] || ROOT=""
    fi
    prefix_opts=()
    [ -z "$ROOT" ] || prefix_opts=(--prefix "$ROOT")
}

systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

group_line() { # the group's line, from ROOT's file or the system's databases
    if [ -n "$ROOT" ]; then grep -E "^$1:" "$ROOT/etc/group" 2>/dev/null || true; else getent group "$1" || true; fi
}
user_line() {
    if [ -n "$ROOT" ]; then grep -E "^$1:" "$ROOT/etc/passwd" 2>/dev/null || true; else getent passwd "$1" || true; fi
}
user_exists() { [ -n "$(user_line "$1")" ]; }
group_exists() { [ -n "$(group_line "$1")" ]; }
