"""Earcons (edgevoice.audio.earcons): length, level, no clicks, and each one recognisable, at
every rate a sink takes."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest

from edgevoice.audio.earcons import Earcon, duration_s, earcon

RATES = (8000, 11025, 16000, 22050, 24000, 44100, 48000, 96000, 192000)
FULL_SCALE = 32768.0


def samples(kind: Earcon, rate: int) -> npt.NDArray[np.float64]:
    pcm = earcon(kind, rate)
    assert len(pcm) % 2 == 0
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / FULL_SCALE


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("kind", list(Earcon))
def test_length_and_level(kind: Earcon, rate: int) -> None:
    x = samples(kind, rate)
    seconds = len(x) / rate
    assert 0.06 <= seconds <= 0.4
    assert seconds == pytest.approx(duration_s(kind), abs=5 / rate)  # one sample per note
    peak = np.max(np.abs(x))
    # Well below full scale (no clipping next to the model's voice), well above inaudible.
    assert 10 ** (-20 / 20) <= peak <= 10 ** (-6 / 20)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("kind", list(Earcon))
def test_no_click_at_either_end(kind: Earcon, rate: int) -> None:
    x = samples(kind, rate)
    peak = np.max(np.abs(x))
    assert x[0] == 0 and x[-1] == 0
    edge = max(2, rate // 1000)  # the first and last millisecond
    for part in (x[:edge], x[-edge:]):
        assert np.sqrt(np.mean(part**2)) < 0.1 * peak


@pytest.mark.parametrize("kind", list(Earcon))
def test_no_click_anywhere_energy_stays_below_3_khz(kind: Earcon) -> None:
    # A step in the waveform (a click, at an end or between notes) is broadband; the notes
    # themselves have no partial above 2.2 kHz. At 48 kHz, what lies above 3 kHz must be tiny.
    rate = 48_000
    x = samples(kind, rate)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    high = spectrum[freqs > 3000].sum() / spectrum.sum()
    assert high < 1e-4


def test_the_click_check_can_fail() -> None:
    # The same tone cut off without a fade: the check above must see it.
    rate = 48_000
    t = np.arange(int(0.1 * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 523.25 * t + 1.0)
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    assert spectrum[freqs > 3000].sum() / spectrum.sum() > 1e-4


def pitch_contour(kind: Earcon, rate: int = 16_000) -> list[float]:
    """The dominant frequency of each sounding stretch (notes split at silences and at pitch
    changes), measured over 20 ms windows."""
    x = samples(kind, rate)
    window = rate // 50
    contour: list[float] = []
    for start in range(0, len(x) - window + 1, window // 2):
        part = x[start : start + window]
        if np.sqrt(np.mean(part**2)) < 0.05 * np.max(np.abs(x)):
            if contour and contour[-1] != 0.0:
                contour.append(0.0)
            continue
        spectrum = np.abs(np.fft.rfft(part * np.hanning(window), n=32 * window))
        hz = float(np.fft.rfftfreq(32 * window, 1 / rate)[np.argmax(spectrum)])
        if not contour or abs(contour[-1] - hz) > 0.06 * hz:
            contour.append(round(hz))
    return [hz for hz in contour if hz] if contour else []


def test_each_earcon_has_the_shape_its_doc_promises() -> None:
    start, end = pitch_contour(Earcon.LISTEN_START), pitch_contour(Earcon.LISTEN_END)
    assert len(start) == 2 and start[0] < start[1]  # up
    assert len(end) == 2 and end[0] > end[1]  # down
    error = pitch_contour(Earcon.ERROR)
    assert len(error) == 2 and max(error) < 250  # two low notes
    offline = pitch_contour(Earcon.OFFLINE)
    assert len(offline) == 3 and offline[0] > offline[1] > offline[2]  # three, falling
    limit = pitch_contour(Earcon.LIMIT)
    assert len(limit) == 3 and max(limit) - min(limit) < 0.02 * limit[0]  # three, the same
    assert limit[0] > 800  # high


def test_every_pair_differs_in_pitch_or_shape() -> None:
    shapes = {kind: tuple(pitch_contour(kind)) for kind in Earcon}
    for a, b in itertools.combinations(Earcon, 2):
        same_shape = len(shapes[a]) == len(shapes[b]) and all(
            abs(x - y) < 0.06 * x for x, y in zip(shapes[a], shapes[b], strict=True)
        )
        assert not same_shape, (a, b)


@pytest.mark.parametrize("rate", [7999, 192_001, 0, -16000, 16000.0, True])
def test_a_rate_the_player_would_refuse_is_refused(rate: object) -> None:
    with pytest.raises(ValueError, match="8000-192000 Hz"):
        earcon(Earcon.ERROR, rate)  # type: ignore[arg-type]


def test_the_same_tone_every_time() -> None:
    assert earcon(Earcon.LIMIT, 22050) == earcon(Earcon.LIMIT, 22050)
    assert earcon(Earcon.LIMIT, 22050) != earcon(Earcon.LIMIT, 24000)


@pytest.mark.parametrize("kind", list(Earcon))
def test_a_tone_sounds_the_same_at_every_rate(kind: Earcon) -> None:
    reference = pitch_contour(kind, 48_000)
    for rate in (8000, 11025, 22050, 192_000):
        assert pitch_contour(kind, rate) == pytest.approx(reference, rel=0.03)
