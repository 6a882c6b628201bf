"""The rig's own cost: a PortAudio client that does nothing, on the daemon's devices.

`python -m edgevoice.bench.device_floor SECONDS` opens the two streams the bench's daemon opens
(capture `mic` and playback `spk`, 48 kHz stereo, 20 ms periods, through the same opener as the
daemon: edgevoice.adapters.audio_devices.open_stream), with callbacks that only hand back
silence, runs for SECONDS and exits. `edgevoice bench` measures its CPU like the daemon's: the
part of the daemon's figures that PortAudio and the ALSA pulse plugin cost on this rig (on a
Pi's own sound card, the plugin is not there). Run it with the rig's ALSA_CONFIG_PATH.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pyaudio

from edgevoice.adapters.audio_devices import open_stream

RATE = 48000
CHANNELS = 2
PERIOD_MS = 20


def main(argv: list[str]) -> int:
    seconds = float(argv[1]) if len(argv) > 1 else 10.0
    silence = bytes(2 * CHANNELS * RATE * PERIOD_MS // 1000)

    def capture(_in: bytes | None, _frames: int, _time: Any, _status: int) -> tuple[None, int]:
        return None, pyaudio.paContinue

    def playback(_in: bytes | None, frames: int, _time: Any, _status: int) -> tuple[bytes, int]:
        data = silence if frames * 2 * CHANNELS == len(silence) else bytes(frames * 2 * CHANNELS)
        return data, pyaudio.paContinue

    streams = [
        open_stream(pyaudio.PyAudio, "input", "mic", RATE, CHANNELS, PERIOD_MS, capture),
        open_stream(pyaudio.PyAudio, "output", "spk", RATE, CHANNELS, PERIOD_MS, playback),
    ]
    for opened in streams:
        opened.stream.start_stream()
    print("running", flush=True)
    time.sleep(seconds)
    for opened in streams:
        opened.stream.stop_stream()
        opened.stream.close()
        opened.pa.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
