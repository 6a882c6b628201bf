#!/usr/bin/env bash
# Install edgevoice as a systemd service on Raspberry Pi OS (bookworm) / Debian 12.
# Run from a checkout:  sudo deploy/install.sh
# Idempotent: re-run it to upgrade. It never overwrites /etc/edgevoice/edgevoice.toml or the key.
set -euo pipefail

PREFIX=/opt/edgevoice
ETC=/etc/edgevoice
SRC="$(cd "$(dirname "$0")/.." && pwd)"

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo $0)" >&2
    exit 1
fi

echo "==> apt packages (build deps of pyaudio and systemd-python)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-venv python3-dev gcc pkg-config portaudio19-dev libsystemd-dev alsa-utils

echo "==> user and groups"
getent group gpio >/dev/null || groupadd --system gpio
if ! id edgevoice >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/edgevoice --no-create-home --shell /usr/sbin/nologin \
        --groups audio,gpio edgevoice
fi

echo "==> virtual environment in $PREFIX/venv"
install -d -m 0755 "$PREFIX"
[ -x "$PREFIX/venv/bin/python" ] || python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade pip
"$PREFIX/venv/bin/pip" install -q "$SRC"
install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
ln -sf "$PREFIX/venv/bin/edgevoice" /usr/local/bin/edgevoice

echo "==> configuration in $ETC"
install -d -m 0755 "$ETC"
[ -e "$ETC/edgevoice.toml" ] || install -m 0644 "$SRC/deploy/edgevoice.toml" "$ETC/edgevoice.toml"
# A config copied from an older example names the old default model explicitly; say so once.
if grep -Eq '^[[:space:]]*model[[:space:]]*=[[:space:]]*"(models/)?gemini-2\.5-flash-native-audio-preview-12-2025"' \
        "$ETC/edgevoice.toml"; then
    echo "    note: $ETC/edgevoice.toml sets live.model to the 12-2025 preview; the default is now"
    echo "    gemini-3.8-live (README, What changed). Change it there, then check-config."
fi
if [ ! -e "$ETC/api-key" ]; then
    install -m 0600 /dev/null "$ETC/api-key"
    echo "    write your Gemini API key into $ETC/api-key (it stays mode 0600, owner root)"
fi

echo "==> systemd unit"
install -m 0644 "$SRC/systemd/edgevoice.service" /etc/systemd/system/edgevoice.service
systemctl daemon-reload
"$PREFIX/venv/bin/edgevoice" check-config --config "$ETC/edgevoice.toml" --quiet

cat <<MSG
Installed. Next:
  sudo nano $ETC/api-key              # paste the key (one line)
  edgevoice devices                   # find your microphone and speaker names
  sudo nano $ETC/edgevoice.toml       # set audio.input_device / audio.output_device
  sudo systemctl enable --now edgevoice
  journalctl -u edgevoice -f
MSG
