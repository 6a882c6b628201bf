"""The resampler benchmark: its quality part against the issue's bounds, and its measurements.

Quality figures are deterministic, so they are asserted; speed is never asserted here (the
machine is shared), only that the speed run produces figures and the stream==whole check.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from edgevoice.audio.resampler import design_filter
from edgevoice.bench import BENCHMARKS, load, measure
from edgevoice.bench import resampler as bench
from edgevoice.bench.methods import METHODS, MissingDependency, _import, make_stream, stream_chunks
from edgevoice.commands import bench as bench_command

CONVERSIONS = bench.CONVERSIONS


@pytest.mark.parametrize(("in_rate", "out_rate"), CONVERSIONS)
def test_edgevoice_meets_every_quality_bound(in_rate: int, out_rate: int) -> None:
    q = bench.measure_quality("edgevoice", in_rate, out_rate)
    b = bench.BOUNDS
    assert q.ripple_db <= b.ripple_db
    assert q.alias_db_min >= b.alias_db_min
    assert q.thd_n_db <= b.thd_n_db
    assert 0.0 < q.delay_ms <= b.delay_ms
    # edgevoice's output is not shifted; its delay is all look-ahead (backlog).
    assert abs(q.offset_ms) < 0.01
    assert q.backlog_ms == pytest.approx(q.delay_ms)


@pytest.mark.parametrize(("in_rate", "out_rate"), [(48000, 16000), (24000, 44100)])
def test_upfirdn_baseline_is_the_same_filter_delayed_by_half_its_length(
    in_rate: int, out_rate: int
) -> None:
    ours = bench.measure_quality("edgevoice", in_rate, out_rate)
    baseline = bench.measure_quality("scipy-upfirdn", in_rate, out_rate)
    assert baseline.alias_db_min == pytest.approx(ours.alias_db_min, abs=0.05)
    assert baseline.ripple_db == pytest.approx(ours.ripple_db, abs=1e-4)
    # Causal: the delay shows as offset (T/2 input samples), with nothing owed after a chunk.
    half = design_filter(in_rate, out_rate).taps // 2
    assert baseline.offset_ms == pytest.approx(1000.0 * half / in_rate, abs=0.01)
    assert abs(baseline.backlog_ms) < 0.05


def test_stream_equals_whole_and_speed_figures_for_every_method() -> None:
    x = bench.speed_signal(24000, 1.0)
    speeds = bench.measure_speed(METHODS, 24000, 48000, x)
    assert speeds["edgevoice"].stream_equals_whole is True
    for speed in speeds.values():
        assert speed.xrt > 0 and speed.xrt_wall > 0
        assert isinstance(speed.stream_equals_whole, bool)


def test_every_method_produces_the_ratio_length() -> None:
    x = bench.speed_signal(44100, 0.5)
    for method in METHODS:
        y = np.concatenate(stream_chunks(make_stream(method, 44100, 16000), x, 882))
        # edgevoice and soxr follow the ratio; the causal baseline also flushes its delay.
        assert abs(y.shape[0] - 8000) <= 30, method


def test_offset_measurement_finds_a_known_delay() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    reference = bench._chirp(t, 100.0, 6000.0, 0.1, 0.5)
    for delay in (0.0, 0.0012, 0.0031, -0.0007):
        delayed = bench._chirp(t - delay, 100.0, 6000.0, 0.1, 0.5)
        assert measure.offset_seconds(delayed, reference, rate, 0.05) == pytest.approx(
            delay, abs=1e-5
        )


def test_level_measurements_on_known_signals() -> None:
    rate = 16000
    n = np.arange(rate // 4)
    tone = 0.5 * np.sin(2 * np.pi * 1000 * n / rate + 0.4)
    spur = 0.5e-5 * np.sin(2 * np.pi * 3100 * n / rate)  # 100 dB below the tone
    assert measure.tone_amplitude(tone, 1000, rate) == pytest.approx(0.5, rel=1e-6)
    found = measure.largest_spur(tone + spur, rate, exclude_hz=1000)
    assert measure.to_db(found / 0.5) == pytest.approx(-100.0, abs=0.2)
    assert measure.largest_spur(tone + spur, rate) == pytest.approx(0.5, rel=1e-3)
    harmonic = 0.5e-3 * np.sin(2 * np.pi * 2000 * n / rate)  # 60 dB below
    assert measure.thd_n_db(tone + harmonic, 1000, rate) == pytest.approx(-60.0, abs=0.05)
    assert measure.thd_n_db(tone, 1000, rate) < -150  # float64 rounding only


def test_missing_dev_dependency_is_one_clear_line() -> None:
    with pytest.raises(MissingDependency, match=r"pip install") as info:
        _import("edgevoice_no_such_module", "nosuchpkg")
    assert "\n" not in str(info.value)


def run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="edgevoice")
    sub = parser.add_subparsers(dest="command")
    bench_command.register(sub, argparse.ArgumentParser(add_help=False))
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


def test_bench_resampler_json_has_exactly_the_documented_shape(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = run_command(
        ["bench", "resampler", "--json", "--seconds", "0.5", "--conversion", "24000:48000"]
    )
    out = capsys.readouterr().out
    report = json.loads(out)  # exactly one JSON object, nothing else on stdout
    assert list(report) == ["24000->48000"]
    figures = report["24000->48000"]
    assert list(figures) == list(METHODS)
    for values in figures.values():
        assert list(values) == list(bench.JSON_FIELDS)
        assert isinstance(values["stream_equals_whole"], bool)
    ours = figures["edgevoice"]
    assert ours["stream_equals_whole"] is True
    # The exit status is the verdict on edgevoice's bounds, speed ratios included.
    speed_ok = (
        ours["xrt"] >= 0.25 * figures["soxr-hq"]["xrt"]
        and ours["xrt"] >= 1.5 * figures["scipy-upfirdn"]["xrt"]
    )
    assert status == (0 if speed_ok else 1)


def test_bench_table_and_bad_use(capsys: pytest.CaptureFixture[str]) -> None:
    status = run_command(
        [
            "bench",
            "resampler",
            "--seconds",
            "0.2",
            "--conversion",
            "48000:16000",
            "--method",
            "edgevoice",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0  # no other method ran, so only the quality bounds apply
    assert "48000->16000" in out and "PASS" in out and "FAIL" not in out
    assert run_command(["bench", "resampler", "--conversion", "7000:16000"]) == 2
    assert "8000 to 192000" in capsys.readouterr().err
    assert run_command(["bench", "resampler", "--conversion", "48k"]) == 2
    # `edgevoice bench` alone runs every benchmark (edgevoice.bench.suite); a name it does not
    # know is bad use, and the error lists the ones it has.
    with pytest.raises(SystemExit) as exited:
        run_command(["bench", "nosuch"])
    assert exited.value.code == 2
    assert "resampler" in capsys.readouterr().err


def test_benchmark_registry_modules_follow_the_protocol() -> None:
    for name in BENCHMARKS:
        module = load(name)
        assert module.NAME == name
        assert module.HELP and callable(module.add_arguments) and callable(module.run)
