"""webrtcvad on real speech (espeak-ng, resampled to 16 kHz by sox), silence and noise."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgevoice.adapters.vad import FRAME_BYTES, WebRtcVad

SENTENCE = "Hello there. What is the weather like in Berlin today?"
SILENCE_S = 1.0


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The sentence spoken by espeak-ng (22.05 kHz), as 16 kHz mono int16 PCM."""
    directory: Path = tmp_path_factory.mktemp("speech")
    wav, raw = directory / "sentence.wav", directory / "sentence.raw"
    subprocess.run(["espeak-ng", "-w", str(wav), SENTENCE], check=True, timeout=60)
    subprocess.run(
        ["sox", str(wav), "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-t", "raw",
         str(raw)],
        check=True,
        timeout=60,
    )  # fmt: skip
    pcm = raw.read_bytes()
    assert len(pcm) > 16000 * 2, "espeak-ng produced less than a second of speech"
    return pcm


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]


def noise(std: float, seconds: float, seed: int = 7) -> bytes:
    samples = np.random.default_rng(seed).normal(0, std, int(16000 * seconds))
    return np.clip(samples, -32768, 32767).astype("<i2").tobytes()


@pytest.mark.parametrize("aggressiveness", [0, 1, 2, 3])
def test_speech_is_found_where_it_is_spoken(speech: bytes, aggressiveness: int) -> None:
    pad = bytes(int(16000 * SILENCE_S) * 2)
    decisions = [WebRtcVad(aggressiveness).is_speech(f) for f in frames(pad + speech + pad)]
    pad_frames = len(frames(pad))
    before, spoken, after = (
        decisions[:pad_frames],
        decisions[pad_frames:-pad_frames],
        decisions[-pad_frames:],
    )
    assert not any(before), "digital silence before the sentence was taken for speech"
    assert sum(spoken) > 0.7 * len(spoken), f"{sum(spoken)} of {len(spoken)} spoken frames"
    # webrtcvad holds its decision for a few frames after speech (its hangover); then silence.
    assert not any(after[10:])


def test_quiet_room_noise_is_not_speech_at_the_strictest_setting() -> None:
    vad = WebRtcVad(3)
    hits = sum(vad.is_speech(f) for f in frames(noise(std=100, seconds=4)))  # about -50 dBFS
    assert hits <= 0.05 * len(frames(noise(std=100, seconds=4)))


def test_speech_in_quiet_noise_is_still_found(speech: bytes) -> None:
    pcm = np.frombuffer(speech, "<i2").astype(np.float64)
    noisy = np.frombuffer(noise(std=100, seconds=len(pcm) / 16000), "<i2")[: len(pcm)]
    mixed = np.clip(pcm + noisy, -32768, 32767).astype("<i2").tobytes()
    decisions = [WebRtcVad(2).is_speech(f) for f in frames(mixed)]
    assert sum(decisions) > 0.7 * len(decisions)


@pytest.mark.parametrize("size", [0, 1, 320, FRAME_BYTES - 2, FRAME_BYTES + 2, 960])
def test_a_frame_of_the_wrong_length_is_a_clear_error(size: int) -> None:
    with pytest.raises(ValueError, match=f"640 bytes, got {size} bytes"):
        WebRtcVad().is_speech(bytes(size))


@pytest.mark.parametrize("aggressiveness", [-1, 4, True, 2.0])
def test_aggressiveness_outside_0_to_3_is_refused(aggressiveness: object) -> None:
    with pytest.raises(ValueError, match="from 0 to 3"):
        WebRtcVad(aggressiveness)  # type: ignore[arg-type]


def test_frame_size_is_20_ms_at_16_khz() -> None:
    assert FRAME_BYTES == 16000 // 50 * 2
