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
	@echo "make demo   install everything, then a round trip to the local Live simulator"
	@echo "make bench  run the shipped benchmarks"

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

# Until the conversation loop and its demo land, `make demo` shows what exists end to end: the
# example config is validated, the local Live simulator starts, and the real client does one
# measured round trip against it (setup, a spoken turn, the spoken answer saved to a WAV file).
demo: venv
	$(VENV)/bin/edgevoice check-config --config deploy/edgevoice.toml --quiet
	@rm -f .demo-sim.out; \
	$(VENV)/bin/edgevoice simulator --port 0 > .demo-sim.out 2> .demo-sim.log & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null' EXIT; \
	for i in $$(seq 100); do url=$$(head -n 1 .demo-sim.out 2>/dev/null); [ -n "$$url" ] && break; sleep 0.1; done; \
	[ -n "$$url" ] || { echo "make demo: the simulator did not start; see .demo-sim.log" >&2; exit 1; }; \
	echo "simulator: $$url"; \
	GEMINI_API_KEY=demo-key $(VENV)/bin/edgevoice probe --config deploy/edgevoice.toml \
	    --set live.endpoint=$$url --save-reply demo-reply.wav && \
	echo "make demo: reply saved to demo-reply.wav. (The demo with the whole daemon on real-time audio devices is issue #11.)" && \
	echo "To type edgevoice commands as README.md shows: . $(VENV)/bin/activate"

bench: venv
	$(VENV)/bin/edgevoice bench resampler

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info \
	    .demo-sim.out .demo-sim.log demo-reply.wav
