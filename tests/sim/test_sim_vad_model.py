"""Unit tests of the simulator's energy VAD, parrot audio and wire helpers (no network)."""

from __future__ import annotations

import numpy as np

from edgevoice.sim.energy_vad import EnergyVad, VadEventKind
from edgevoice.sim.model import OUTPUT_RATE, UserTurn, answer, chirp, transcript_pieces
from edgevoice.sim.pcm import float_to_pcm16, pcm16_to_float, resample, rms_dbfs
from edgevoice.sim.wire import duration, resumption_update, usage_metadata

RATE = 16_000


def sine(seconds: float, level: float = 0.3, freq: float = 300.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.float32)


def test_vad_start_and_end_after_the_silence_hangover() -> None:
    vad = EnergyVad(silence_ms=800)
    events = vad.feed(quiet(0.5))
    assert events == []
    events = vad.feed(sine(1.0))
    assert [e.kind for e in events] == [VadEventKind.START]
    assert vad.feed(quiet(0.78)) == []  # 780 ms of silence: still in speech
    (end,) = vad.feed(quiet(0.02))
    assert end.kind is VadEventKind.END and end.audio is not None
    # A 200 ms pre-roll ring (its last 40 ms are the onset frames) + speech + 800 ms hangover.
    assert end.audio.size == round((0.16 + 1.0 + 0.8) * RATE)


def test_vad_is_independent_of_chunk_size() -> None:
    signal = np.concatenate([quiet(0.3), sine(0.5), quiet(1.0), sine(0.4), quiet(1.0)])
    whole = EnergyVad().feed(signal)
    pieces: list = []
    vad = EnergyVad()
    for start in range(0, signal.size, 333):
        pieces += vad.feed(signal[start : start + 333])
    assert (
        [e.kind for e in whole]
        == [e.kind for e in pieces]
        == [
            VadEventKind.START,
            VadEventKind.END,
            VadEventKind.START,
            VadEventKind.END,
        ]
    )
    assert [e.audio.size for e in whole if e.audio is not None] == [
        e.audio.size for e in pieces if e.audio is not None
    ]


def test_vad_threshold_and_flush() -> None:
    vad = EnergyVad(threshold_dbfs=-40.0)
    assert vad.feed(sine(0.5, level=0.005)) == []  # about -49 dBFS: not speech
    assert vad.flush() is None
    vad.feed(sine(0.5, level=0.05))  # about -29 dBFS: speech
    event = vad.flush()
    assert event is not None and event.kind is VadEventKind.END and not vad.in_speech


def test_parrot_reply_is_the_speech_faster_and_higher() -> None:
    heard = np.concatenate([quiet(0.4), sine(1.0, freq=400), quiet(0.6)])
    reply = answer(UserTurn(heard), turn_number=4, speed=1.15, threshold_dbfs=-40, max_s=8)
    samples = pcm16_to_float(reply.pcm)
    assert abs(samples.size / OUTPUT_RATE - 1.0 / 1.15) < 0.01  # silence trimmed
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * OUTPUT_RATE / samples.size - 460) < 5
    assert reply.transcript == "Parrot turn 4: I heard 2.0 s of audio."


def test_reply_length_is_capped_and_silence_gets_a_chirp() -> None:
    long = answer(UserTurn(sine(20.0)), turn_number=1, speed=1.0, threshold_dbfs=-40, max_s=3)
    assert len(long.pcm) == 2 * 3 * OUTPUT_RATE
    empty = answer(UserTurn(quiet(1.0)), turn_number=1, speed=1.15, threshold_dbfs=-40, max_s=8)
    assert empty.pcm == float_to_pcm16(chirp())
    assert -15 < rms_dbfs(chirp()) < -10


def test_resample_keeps_duration_and_pcm_round_trips() -> None:
    assert resample(sine(1.0), RATE, 48_000).size == 48_000
    assert resample(sine(0.5), 44_100, RATE).size == round(0.5 * RATE * RATE / 44_100)
    pcm = float_to_pcm16(sine(0.1))
    assert float_to_pcm16(pcm16_to_float(pcm)) == pcm


def test_wire_helpers_follow_proto3_json() -> None:
    assert [duration(s) for s in (10, 0.25, 1.0005, 2e-9)] == [
        "10s",
        "0.250s",
        "1.000500s",
        "0.000000002s",
    ]
    assert resumption_update("") == {"sessionResumptionUpdate": {}}
    assert resumption_update("h") == {
        "sessionResumptionUpdate": {"newHandle": "h", "resumable": True}
    }
    assert usage_metadata({"AUDIO": 0, "TEXT": 0}, {"AUDIO": 0}) == {}
    assert usage_metadata({"AUDIO": 3, "TEXT": 0}, {"AUDIO": 2}) == {
        "promptTokenCount": 3,
        "responseTokenCount": 2,
        "totalTokenCount": 5,
        "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 3}],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 2}],
    }
    assert transcript_pieces("a b c") == ["a", " b", " c"]
