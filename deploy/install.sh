#!/usr/bin/env bash
# Install (or upgrade) edgevoice as a systemd service on Raspberry Pi OS bookworm / Debian 12.
#
#   sudo deploy/install.sh                      # from a checkout; asks for the API key once
#   sudo deploy/install.sh --key-stdin < file   # the key from stdin instead of a prompt
#   sudo deploy/install.sh --set-key            # later: replace the key only, then restart
#
# Idempotent: run it again to upgrade. It keeps /etc/edgevoice/edgevoice.toml, the key and the
# state in /var/lib/edgevoice; it replaces the program (/opt/edgevoice/venv) and the unit.
# Run with --help for every option. deploy/uninstall.sh removes it again.
#
# What it does:
#   apt build dependencies (only those missing) -> groups gpio and audio, system user edgevoice
#   -> /opt/edgevoice/venv with the package -> /etc/edgevoice/edgevoice.toml (only if missing)
#   -> /etc/edgevoice/api-key (root:edgevoice 0640; read with the terminal's echo off, or from
#   stdin; never echoed, never in a command line) -> /etc/systemd/system/edgevoice.service ->
#   daemon-reload, enable, and (re)start once a key or a token command is configured.
#
# --root DIR installs into DIR as if it were / (tests, staging an image): no apt-get, and no
# systemctl beyond the offline `systemctl --root=DIR enable`; users and groups are written to
# DIR/etc/passwd and DIR/etc/group (useradd --prefix). DIR must hold those files. The venv in
# DIR is made for DIR's paths (a venv cannot move): to build an image, run this inside it.
set -euo pipefail
umask 022

PROG=install.sh
SRC="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=deploy/common.sh
. "$SRC/deploy/common.sh"
KEY_LIMIT=4096 # bytes; a key is about forty (as edgevoice's own key file check)
APT_PACKAGES=(python3-venv python3-dev gcc pkg-config portaudio19-dev libsystemd-dev
    alsa-utils ca-certificates)
PYTHON="${PYTHON:-python3}"

APT=yes
START=yes
KEY_FROM=auto # auto: prompt on a terminal when there is no key; stdin: --key-stdin
SET_KEY_ONLY=no

usage() {
    cat <<EOF
Usage: sudo deploy/install.sh [options]

Install or upgrade edgevoice as a systemd service. Keeps an existing config, key and state.

Options:
  --key-stdin    read the Gemini API key from stdin (one line) and store it, replacing the old
                 one; without it the key is asked for (input hidden) when none is stored yet
  --set-key      only store a new key (prompted, or --key-stdin), then restart the service
  --no-apt       do not run apt-get (the build dependencies are installed already)
  --no-start     install and enable the service, but do not start or restart it
  --root DIR     install into DIR as if it were / (implies --no-apt; no systemctl except an
                 offline enable); for tests and image staging
  -h, --help     show this help

Environment: PYTHON (default python3) makes the venv; 3.11 or newer.
Exit status: 0 installed; 1 failed (the line before says why); 2 bad option;
             78 installed, but the config file has errors (nothing was started).
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --root | --root=*)
        take_root_option "$@"
        shift "$SHIFTED"
        ;;
    --key-stdin) KEY_FROM=stdin && shift ;;
    --set-key) SET_KEY_ONLY=yes && shift ;;
    --no-apt) APT=no && shift ;;
    --no-start) START=no && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
    esac
done

check_root
if [ -n "$ROOT" ]; then
    APT=no
    for f in passwd group shadow gshadow; do
        [ -f "$ROOT/etc/$f" ] || die "--root $ROOT has no etc/$f; it must hold a system's /etc"
    done
fi
[ "$(id -u)" = 0 ] || die "run as root: sudo $0 $*"

# --------------------------------------------------------------------------------------------
# Users and groups: in this system, or in ROOT's /etc files

gid_of() { group_line "$1" | cut -d: -f3; }
in_group() { # user group: whether the user is a listed member
    # (no grep -q: an early exit would fail the pipeline under pipefail)
    group_line "$2" | cut -d: -f4 | tr ',' '\n' | grep -x -- "$1" >/dev/null
}

# --------------------------------------------------------------------------------------------
# The key: asked for first, so a person can walk away while the rest installs

KEY=""
read_key() {
    local line="" LC_ALL=C
    if [ "$KEY_FROM" = stdin ]; then
        IFS= read -r -n $((KEY_LIMIT + 1)) line || [ -n "$line" ] || die "--key-stdin: no key on stdin"
    elif [ -t 0 ]; then
        # -s: the terminal does not echo it (line editing still works); the prompt is on stderr.
        IFS= read -r -s -p "Gemini API key (input hidden; Enter to skip): " line || true
        printf '\n' >&2
        [ -n "$line" ] || return 0
    else
        return 0
    fi
    # Surrounding blanks (a pasted line, CRLF) go; what is left must be one visible word.
    line="${line%$'\r'}"
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    [ -n "$line" ] || die "the key is empty; nothing was changed"
    [ "${#line}" -le "$KEY_LIMIT" ] || die "the key is longer than $KEY_LIMIT characters; nothing was changed"
    # The key itself is never shown, only what is wrong with it.
    case "$line" in *[![:graph:]]*) die "the key holds a space or a character that is not visible ASCII; give the key alone" ;; esac
    KEY="$line"
}

key_file_has_key() { [ -s "$ROOT$ETC/api-key" ]; }

store_key() { # writes $KEY to api-key atomically: root:edgevoice 0640
    local gid tmp
    gid="$(gid_of "$SERVICE_USER")"
    [ -n "$gid" ] || die "no group $SERVICE_USER yet: run the full install first"
    install -d -m 0755 -o 0 -g 0 "$ROOT$ETC"
    tmp="$(mktemp "$ROOT$ETC/.api-key.XXXXXX")"
    chmod 0640 "$tmp"
    chown "0:$gid" "$tmp"
    printf '%s\n' "$KEY" >"$tmp" # printf is a builtin: the key is in no process's argv
    mv -f "$tmp" "$ROOT$ETC/api-key"
    KEY=""
}

fix_key_mode() { # an existing key (an older install made it root:root 0600): root:edgevoice 0640
    local gid
    gid="$(gid_of "$SERVICE_USER")"
    if [ -e "$ROOT$ETC/api-key" ] && [ ! -L "$ROOT$ETC/api-key" ] && [ -f "$ROOT$ETC/api-key" ]; then
        chown "0:$gid" "$ROOT$ETC/api-key"
        chmod 0640 "$ROOT$ETC/api-key"
    fi
}

token_command_configured() {
    grep -Eq '^[[:space:]]*token_command[[:space:]]*=[[:space:]]*["'"'"'][^"'"'"']' \
        "$ROOT$ETC/edgevoice.toml" 2>/dev/null
}

restart_if_enabled() { # a unit that waited for its key (or runs with the old one) starts now
    if systemd_running && systemctl --quiet is-enabled "$UNIT" 2>/dev/null; then
        systemctl restart "$UNIT"
        note "restarted $UNIT"
    fi
}

if [ "$SET_KEY_ONLY" = yes ]; then
    [ -n "$(gid_of "$SERVICE_USER")" ] || die "edgevoice is not installed here: run $PROG first"
    if [ "$KEY_FROM" != stdin ] && [ ! -t 0 ]; then
        die "--set-key: stdin is not a terminal; add --key-stdin to read the key from it"
    fi
    read_key
    [ -n "$KEY" ] || die "no key given; nothing was changed"
    store_key
    say "stored the key in $ETC/api-key (root:$SERVICE_USER 0640)"
    restart_if_enabled
    exit 0
fi

if [ "$KEY_FROM" = stdin ] || ! key_file_has_key; then
    read_key
fi

# --------------------------------------------------------------------------------------------

say "apt packages (build dependencies of pyaudio and systemd-python)"
if [ "$APT" = yes ]; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        note "installing: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        note "all present"
    fi
else
    note "skipped (${ROOT:+--root, }--no-apt): needs ${APT_PACKAGES[*]}"
fi

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON is not Python 3.11 or newer (set PYTHON=/path/to/python3.11)"

say "user $SERVICE_USER and groups audio, gpio"
for g in audio gpio; do
    [ -n "$(group_line "$g")" ] || groupadd "${prefix_opts[@]}" --system "$g"
done
if [ -z "$(user_line "$SERVICE_USER")" ]; then
    useradd "${prefix_opts[@]}" --system --user-group --home-dir /var/lib/edgevoice \
        --no-create-home --shell /usr/sbin/nologin --comment "edgevoice voice daemon" \
        --groups audio,gpio "$SERVICE_USER"
    note "created"
else
    for g in audio gpio; do
        in_group "$SERVICE_USER" "$g" || usermod "${prefix_opts[@]}" --append --groups "$g" "$SERVICE_USER"
    done
    note "present"
fi
[ -n "$(gid_of "$SERVICE_USER")" ] || die "the group $SERVICE_USER is missing; create it: groupadd --system $SERVICE_USER"

say "program in $PREFIX/venv"
venv="$ROOT$PREFIX/venv"
install -d -m 0755 -o 0 -g 0 "$ROOT$PREFIX"
want_version="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
have_version="$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
if [ "$have_version" != "$want_version" ]; then
    # Missing, or made by another Python (an OS upgrade): a venv cannot change its Python.
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    note "made a new venv (Python $want_version)"
fi
# Built from a copy, so nothing (build/, *.egg-info) is left in the checkout, owned by root.
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cp -R "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/edgevoice" "$build/"
find "$build" -name __pycache__ -prune -exec rm -rf {} +
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$build"
install -m 0644 -o 0 -g 0 "$SRC/README.md" "$ROOT$PREFIX/README.md"
install -d -m 0755 "$ROOT/usr/local/bin"
ln -sfn "$PREFIX/venv/bin/edgevoice" "$ROOT/usr/local/bin/edgevoice"
note "$("$venv/bin/edgevoice" --version)"

say "configuration in $ETC"
install -d -m 0755 -o 0 -g 0 "$ROOT$ETC"
if [ -e "$ROOT$ETC/edgevoice.toml" ]; then
    note "kept $ETC/edgevoice.toml"
else
    install -m 0644 -o 0 -g 0 "$SRC/deploy/edgevoice.toml" "$ROOT$ETC/edgevoice.toml"
    note "wrote $ETC/edgevoice.toml (every key documented; all optional)"
fi
# A config copied from an older example names the old default model explicitly; say so once.
if grep -Eq '^[[:space:]]*model[[:space:]]*=[[:space:]]*"(models/)?gemini-2\.5-flash-native-audio-preview-12-2025"' \
    "$ROOT$ETC/edgevoice.toml"; then
    note "note: $ETC/edgevoice.toml sets live.model to the 12-2025 preview; the default is now"
    note "gemini-3.8-live (README, What changed). Change it there, then check-config."
fi
if [ -n "$KEY" ]; then
    store_key
    note "stored the key in $ETC/api-key (root:$SERVICE_USER 0640)"
elif [ -e "$ROOT$ETC/api-key" ]; then
    fix_key_mode
    note "kept $ETC/api-key (root:$SERVICE_USER 0640)"
else
    # An empty placeholder: LoadCredential= needs the file; the daemon says it is empty.
    install -m 0640 -o 0 -g "$(gid_of "$SERVICE_USER")" /dev/null "$ROOT$ETC/api-key"
    note "no key yet: store it with  sudo deploy/install.sh --set-key"
fi

config_ok=yes
if ! problems="$("$venv/bin/edgevoice" check-config --config "$ROOT$ETC/edgevoice.toml" --quiet 2>&1)"; then
    config_ok=no
    printf '%s\n' "$problems" | grep -v "warning: no API key found yet" >&2 || true
fi

say "systemd unit $UNIT_DIR/$UNIT"
install -d -m 0755 "$ROOT$UNIT_DIR"
if cmp -s "$SRC/systemd/$UNIT" "$ROOT$UNIT_DIR/$UNIT"; then
    note "unchanged"
else
    install -m 0644 -o 0 -g 0 "$SRC/systemd/$UNIT" "$ROOT$UNIT_DIR/$UNIT"
    note "installed"
fi
if [ -n "$ROOT" ]; then
    systemctl --root="$ROOT" --quiet enable "$UNIT"
    note "enabled in $ROOT (not started: --root)"
elif ! systemd_running; then
    systemctl --quiet enable "$UNIT"
    note "enabled; systemd is not running here, so nothing was started"
else
    systemctl daemon-reload
    systemctl --quiet enable "$UNIT"
    if [ "$config_ok" != yes ]; then
        note "not started: fix the config problems above, then: sudo systemctl restart edgevoice"
    elif [ "$START" != yes ]; then
        note "enabled, not started (--no-start)"
    elif key_file_has_key || token_command_configured; then
        systemctl restart "$UNIT" # starts it, or runs the upgraded program
        note "started: journalctl -u edgevoice -f"
    else
        note "enabled; it starts once the key is stored: sudo deploy/install.sh --set-key"
    fi
fi

if [ "$config_ok" != yes ]; then
    printf '%s: installed, but %s has errors (above); nothing was started\n' "$PROG" "$ETC/edgevoice.toml" >&2
    exit 78
fi
invoker="${SUDO_USER:-}"
if [ -n "$invoker" ] && [ "$invoker" != root ] && ! in_group "$invoker" "$SERVICE_USER"; then
    note "to use 'edgevoice status' and 'edgevoice ctl' without sudo:"
    note "  sudo usermod -aG $SERVICE_USER $invoker   (then log in again)"
fi
cat <<'MSG'
Installed. Next:
  sudo edgevoice doctor                     # config, key, devices, network, clock, the unit
  edgevoice devices                         # find your microphone and speaker names
  sudo nano /etc/edgevoice/edgevoice.toml   # set audio.input_device / audio.output_device
  sudo systemctl reload edgevoice           # apply a config change
  edgevoice status                          # what the daemon is doing
MSG
