# edgevoice: the two commands a person needs are `make demo` and `make test`.
# Both set everything up themselves on Debian 12 / Raspberry Pi OS bookworm:
# apt build dependencies (through sudo when not root), a .venv, and the package.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Build deps of pyaudio and systemd-python (sdists), plus the tools the tests drive:
# ALSA utilities, a PulseAudio server for real-time paced devices, espeak-ng for speech fixtures,
# and systemd for `systemd-analyze verify` on the shipped unit.
APT_PACKAGES := python3-venv python3-dev gcc pkg-config portaudio19-dev libsystemd-dev \
                alsa-utils libasound2-plugins pulseaudio pulseaudio-utils espeak-ng sox systemd \
                shellcheck openssl

.PHONY: help deps venv lint typecheck pytest test demo bench clean

help:
	@echo "make test   install everything, then ruff + mypy --strict + pytest"
	@echo "            (then '. $(VENV)/bin/activate' puts the edgevoice command on your PATH)"
	@echo "make demo   install everything, then talk to the real daemon on virtual audio devices"
	@echo "make bench  the numbers: latency, CPU, RSS, startup, resampler (about 13 min)"
	@echo "make soak   the daemon against random faults for SOAK_S seconds (default 600)"

$(VENV)/.apt-done:
	@missing=""; for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing apt packages:$$missing"; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p $(VENV) && touch $@

deps: $(VENV)/.apt-done

$(VENV)/.installed: pyproject.toml $(VENV)/.apt-done
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check edgevoice tests
	$(VENV)/bin/ruff format --check edgevoice tests
	shellcheck deploy/*.sh .ci/run

typecheck: venv
	$(VENV)/bin/mypy --strict edgevoice

pytest: venv
	EDGEVOICE_E2E_REQUIRED=1 $(VENV)/bin/pytest

test: lint typecheck pytest

# The real daemon (`edgevoice run`) on virtual real-time audio devices, against the built-in Live
# simulator, spoken to with espeak-ng: a button turn, a voice turn, a barge-in (about 30 s; no
# sound card, GPIO or key needed). It writes what the speaker played to demo-speaker.wav.
demo: venv
	$(VENV)/bin/edgevoice demo
	@echo "To type edgevoice commands as README.md shows: . $(VENV)/bin/activate"

# Every figure of issue #11 in one run: the resampler, then the real daemon against the
# simulator (latency, CPU, RSS, startup; about 13 minutes). `edgevoice bench --quick`: about 2.
bench: venv
	$(VENV)/bin/edgevoice bench

# The real daemon against the simulator's faults (drops, 1011, 1008, goAway, stalls, malformed
# frames, refusals, the microphone unplugged) for SOAK_S seconds, a turn every few seconds;
# exit 1 on a lost or doubled frame, a leak, a fault not recovered from. SOAK_SEED=N replays.
SOAK_S ?= 600
.PHONY: soak
soak: venv
	$(VENV)/bin/edgevoice soak --duration $(SOAK_S) $(if $(SOAK_SEED),--seed $(SOAK_SEED))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info \
	    demo-speaker.wav
