"""`edgevoice bench resampler`: edgevoice's resampler against soxr HQ and a scipy baseline.

One run streams the same signals through every method in chunks of `chunk_ms` (20 ms, what the
capture path does 50 times a second) and reports, per conversion and method:

xrt
    Seconds of audio converted per second of CPU time (time.process_time, so other processes
    on a busy machine do not count): a `seconds`-long white-noise signal streamed in chunks,
    flush included, best of REPEATS runs. The wall-clock figure (time.perf_counter) of the
    same run is shown in the table too.
delay_ms
    How far behind the input a feature comes out of the stream, in ms: offset + backlog.
    *offset* is where the output waveform sits relative to the ideal one (cross-correlation of
    the streamed output of a chirp against the chirp evaluated analytically at the output
    instants, refined to a fraction of a sample; positive = late). *backlog* is how much
    output the stream owes after a chunk: (n_in * out/in - n_out) / out_rate after each
    process() call, averaged over the calls after the first 100 ms. A causal filter shows its
    group delay as offset; a look-ahead design such as edgevoice's shows it as backlog; both
    count. The same measurement is applied to every method.
alias_db_min
    Downsampling: for input tones from 9 kHz to 50 Hz below the input Nyquist frequency, every
    61 Hz, the input level over the largest spectral component of the output, in dB; the
    minimum over the tones. Upsampling: for tones from 50 Hz to 10 kHz, every 61 Hz, the tone's
    level over the largest output component outside the tone itself (its images): again the
    minimum. Anything counts as a spur: aliases, images, harmonics, DC, noise peaks. The 61 Hz
    grid is finer than the stopband lobes of the filters (about 350 Hz apart).
ripple_db
    Max minus min gain in dB from 50 Hz to the passband edge: 36 tones up to 7 kHz when
    downsampling to 16 kHz; the 61 Hz grid up to 10 kHz when upsampling from 24 kHz.
thd_n_db
    THD+N of a 997 Hz tone at -3 dBFS: power of everything but the least-squares-fitted 997 Hz
    sinusoid over its power, across the whole output band. Measured for upsampling too, where it
    also catches images of the tone.
stream_equals_whole
    The chunked output of the `seconds`-long signal is byte-identical to converting the whole
    signal in one process() call (plus flush) with a fresh stream.

Quality figures come from 0.25 s probe tones (analysed over 0.08 s to 0.22 s of output, after
every method's start-up) at -6 dBFS, streamed with the same chunk size as the speed run, each
through a fresh stream. They are deterministic.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgevoice.audio.resampler import design_filter
from edgevoice.bench import measure
from edgevoice.bench.methods import METHODS, MissingDependency, make_stream, stream_chunks

Float32Array = npt.NDArray[np.float32]

NAME = "resampler"
HELP = "compare the streaming resampler with soxr HQ and scipy upfirdn"
CONVERSIONS: tuple[tuple[int, int], ...] = (
    (48000, 16000),
    (44100, 16000),
    (24000, 48000),
    (24000, 44100),
)
REPEATS = 3
PROBE_SECONDS = 0.25
ANALYSE_FROM, ANALYSE_TO = 0.08, 0.22  # seconds of output analysed (after every start-up)
PROBE_AMPLITUDE = 0.5
THD_FREQ, THD_DBFS = 997.0, -3.0
PASSBAND_TONES = 36
ALIAS_START_HZ = 9000.0
PROBE_STEP_HZ = 61.0  # finer than the filters' stopband lobes (~350 Hz apart), so none is missed


@dataclass(frozen=True)
class Bounds:
    """What edgevoice must meet (from the issue); checked for every method, enforced for ours."""

    ripple_db: float = 0.01
    alias_db_min: float = 80.0
    thd_n_db: float = -90.0
    delay_ms: float = 2.0
    xrt_vs_soxr: float = 0.25
    xrt_vs_scipy: float = 1.5


BOUNDS = Bounds()


@dataclass(frozen=True)
class Quality:
    delay_ms: float
    offset_ms: float
    backlog_ms: float
    alias_db_min: float
    alias_worst_hz: float
    ripple_db: float
    thd_n_db: float


@dataclass(frozen=True)
class Speed:
    xrt: float  # audio seconds per CPU second, best of REPEATS
    xrt_wall: float  # audio seconds per wall-clock second, same run
    stream_equals_whole: bool


def passband_edge_hz(in_rate: int, out_rate: int) -> float:
    """The passband the issue specifies: 7/8 of the output Nyquist when downsampling (7 kHz at
    16 kHz), 5/6 of the input Nyquist when upsampling (10 kHz from 24 kHz)."""
    if out_rate < in_rate:
        return out_rate / 2.0 * 0.875
    return in_rate / 2.0 * (10.0 / 12.0)


def _chunk_samples(rate: int, chunk_ms: float) -> int:
    return max(1, round(rate * chunk_ms / 1000.0))


def _tone(freq: float, rate: int, seconds: float, amplitude: float) -> Float32Array:
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2.0 * np.pi * freq * t)).astype(np.float32)


def _run(method: str, in_rate: int, out_rate: int, x: Float32Array, chunk: int) -> Float32Array:
    return np.concatenate(stream_chunks(make_stream(method, in_rate, out_rate), x, chunk))


def _analysed(y: Float32Array, out_rate: int) -> Float32Array:
    return y[round(ANALYSE_FROM * out_rate) : round(ANALYSE_TO * out_rate)]


def _chirp(t: npt.NDArray[np.float64], f0: float, f1: float, start: float, length: float) -> Any:
    """A linear chirp from f0 to f1 Hz over [start, start + length) with 10 ms raised-cosine
    fades, zero elsewhere; evaluated at any instants t (so the ideal output is exact)."""
    u = t - start
    inside = (u >= 0.0) & (u < length)
    phase = 2.0 * np.pi * (f0 * u + 0.5 * (f1 - f0) / length * u * u)
    fade = 0.01
    envelope = np.clip(np.minimum(u, length - u) / fade, 0.0, 1.0)
    envelope = 0.5 - 0.5 * np.cos(np.pi * envelope)
    return np.where(inside, PROBE_AMPLITUDE * envelope * np.sin(phase), 0.0)


def _delay(
    method: str, in_rate: int, out_rate: int, chunk: int, edge: float
) -> tuple[float, float]:
    """(offset_ms, backlog_ms) as described in the module docstring."""
    total, start, length = 0.75, 0.1, 0.5
    f0, f1 = 100.0, 0.8 * edge
    x = _chirp(np.arange(round(total * in_rate)) / in_rate, f0, f1, start, length)
    x = x.astype(np.float32)
    stream = make_stream(method, in_rate, out_rate)
    pieces, backlogs = [], []
    n_in = n_out = 0
    for i in range(0, x.shape[0], chunk):
        piece = stream.process(x[i : i + chunk])
        pieces.append(piece)
        n_in += min(chunk, x.shape[0] - i)
        n_out += piece.shape[0]
        if n_in >= 0.1 * in_rate:
            backlogs.append((n_in * out_rate / in_rate - n_out) / out_rate)
    pieces.append(stream.flush())
    y = np.concatenate(pieces)
    ideal = _chirp(np.arange(y.shape[0]) / out_rate, f0, f1, start, length)
    offset = measure.offset_seconds(y, ideal, out_rate, max_lag=0.05)
    return offset * 1000.0, float(np.mean(backlogs)) * 1000.0


def _probe(
    method: str, in_rate: int, out_rate: int, freq: float, chunk: int, amplitude: float
) -> Float32Array:
    """Stream a PROBE_SECONDS tone through a fresh `method` stream; return the analysed part."""
    x = _tone(freq, in_rate, PROBE_SECONDS, amplitude)
    return _analysed(_run(method, in_rate, out_rate, x, chunk), out_rate)


def measure_quality(method: str, in_rate: int, out_rate: int, chunk_ms: float = 20.0) -> Quality:
    """Every quality figure for one method and conversion (deterministic)."""
    chunk = _chunk_samples(in_rate, chunk_ms)
    edge = passband_edge_hz(in_rate, out_rate)
    a = PROBE_AMPLITUDE
    gains_db: list[float] = []
    spurs: list[tuple[float, float]] = []  # (attenuation dB, tone Hz)
    if out_rate < in_rate:
        for freq in np.linspace(50.0, edge, PASSBAND_TONES):
            y = _probe(method, in_rate, out_rate, freq, chunk, a)
            gains_db.append(measure.to_db(measure.tone_amplitude(y, freq, out_rate) / a))
        for freq in np.arange(ALIAS_START_HZ, in_rate / 2.0 - 50.0, PROBE_STEP_HZ):
            y = _probe(method, in_rate, out_rate, freq, chunk, a)
            spurs.append((-measure.to_db(measure.largest_spur(y, out_rate) / a), float(freq)))
    else:
        for freq in np.append(np.arange(50.0, edge, PROBE_STEP_HZ), edge):
            y = _probe(method, in_rate, out_rate, freq, chunk, a)
            gains_db.append(measure.to_db(measure.tone_amplitude(y, freq, out_rate) / a))
            spur = measure.largest_spur(y, out_rate, exclude_hz=freq)
            spurs.append((-measure.to_db(spur / a), float(freq)))
    worst_db, worst_hz = min(spurs)
    y = _probe(method, in_rate, out_rate, THD_FREQ, chunk, 10.0 ** (THD_DBFS / 20.0))
    offset_ms, backlog_ms = _delay(method, in_rate, out_rate, chunk, edge)
    return Quality(
        delay_ms=offset_ms + backlog_ms,
        offset_ms=offset_ms,
        backlog_ms=backlog_ms,
        alias_db_min=worst_db,
        alias_worst_hz=worst_hz,
        ripple_db=max(gains_db) - min(gains_db),
        thd_n_db=measure.thd_n_db(y, THD_FREQ, out_rate),
    )


def speed_signal(in_rate: int, seconds: float) -> Float32Array:
    """The speed-test input: deterministic white noise at -20 dBFS RMS (the content does not
    matter to any of the methods' speed; no silence, so no denormal slow paths either)."""
    rng = np.random.default_rng(20240601)
    return (0.1 * rng.standard_normal(round(seconds * in_rate))).astype(np.float32)


def _time_stream(
    method: str, in_rate: int, out_rate: int, chunks: Sequence[Float32Array]
) -> tuple[float, float, Float32Array]:
    """Stream `chunks` through a fresh stream; return (cpu seconds, wall seconds, output)."""
    stream = make_stream(method, in_rate, out_rate)
    process = stream.process
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection in the middle of one method's run is noise, not its cost
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        pieces = [process(c) for c in chunks]
        pieces.append(stream.flush())
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        if gc_was_enabled:
            gc.enable()
    return cpu, wall, np.concatenate(pieces)


def measure_speed(
    methods: Sequence[str], in_rate: int, out_rate: int, x: Float32Array, chunk_ms: float = 20.0
) -> dict[str, Speed]:
    """Time streaming `x` through each method and compare its chunked and whole outputs.

    The methods take turns (REPEATS rounds, each method once per round) and each keeps its
    fastest round, so a burst of load on a shared machine hurts one round, not one method.
    """
    chunk = _chunk_samples(in_rate, chunk_ms)
    chunks = [x[i : i + chunk] for i in range(0, x.shape[0], chunk)]
    seconds = x.shape[0] / in_rate
    best: dict[str, tuple[float, float]] = {m: (math.inf, math.inf) for m in methods}
    outputs: dict[str, Float32Array] = {}
    for _ in range(REPEATS):
        for method in methods:
            cpu, wall, outputs[method] = _time_stream(method, in_rate, out_rate, chunks)
            if cpu < best[method][0]:
                best[method] = (cpu, wall)
    result = {}
    for method in methods:
        whole_stream = make_stream(method, in_rate, out_rate)
        whole = np.concatenate((whole_stream.process(x), whole_stream.flush()))
        chunked = outputs[method]
        cpu, wall = best[method]
        result[method] = Speed(
            xrt=seconds / max(cpu, 1e-9),
            xrt_wall=seconds / max(wall, 1e-9),
            stream_equals_whole=chunked.dtype == whole.dtype
            and chunked.tobytes() == whole.tobytes(),
        )
    return result


def conversion_key(in_rate: int, out_rate: int) -> str:
    return f"{in_rate}->{out_rate}"


def run_benchmark(
    seconds: float = 60.0,
    chunk_ms: float = 20.0,
    methods: Sequence[str] = METHODS,
    conversions: Sequence[tuple[int, int]] = CONVERSIONS,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Run everything; return {conversion: {method: figures}} with the extra table fields.

    Raises MissingDependency when soxr or scipy is needed but not installed.
    """
    report: dict[str, dict[str, dict[str, Any]]] = {}
    for in_rate, out_rate in conversions:
        x = speed_signal(in_rate, seconds)
        speeds = measure_speed(methods, in_rate, out_rate, x, chunk_ms)
        entry: dict[str, dict[str, Any]] = {}
        for method in methods:
            quality = measure_quality(method, in_rate, out_rate, chunk_ms)
            entry[method] = {**asdict(speeds[method]), **asdict(quality)}
        report[conversion_key(in_rate, out_rate)] = entry
    return report


JSON_FIELDS = ("xrt", "delay_ms", "alias_db_min", "ripple_db", "thd_n_db", "stream_equals_whole")


def to_json(report: dict[str, dict[str, dict[str, Any]]]) -> str:
    """The --json output: exactly the documented fields per conversion and method."""
    slim = {
        conv: {
            method: {field: _json_value(figures[field]) for field in JSON_FIELDS}
            for method, figures in methods.items()
        }
        for conv, methods in report.items()
    }
    return json.dumps(slim)


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    return value


def checks(figures: dict[str, Any], entry: dict[str, dict[str, Any]]) -> list[tuple[str, bool]]:
    """(description, passed) for every bound, for one method's figures.

    The speed ratios are only defined for edgevoice (against soxr-hq and scipy-upfirdn, when
    those were run)."""
    b = BOUNDS
    result = [
        (
            f"ripple {figures['ripple_db']:.4f} <= {b.ripple_db} dB",
            figures["ripple_db"] <= b.ripple_db,
        ),
        (
            f"alias/image {figures['alias_db_min']:.1f} >= {b.alias_db_min:.0f} dB",
            figures["alias_db_min"] >= b.alias_db_min,
        ),
        (
            f"THD+N {figures['thd_n_db']:.1f} <= {b.thd_n_db:.0f} dB",
            figures["thd_n_db"] <= b.thd_n_db,
        ),
        (
            f"delay {figures['delay_ms']:.2f} <= {b.delay_ms:.0f} ms",
            figures["delay_ms"] <= b.delay_ms,
        ),
        ("stream == whole", bool(figures["stream_equals_whole"])),
    ]
    if figures is entry.get("edgevoice"):
        for other, bound in (("soxr-hq", b.xrt_vs_soxr), ("scipy-upfirdn", b.xrt_vs_scipy)):
            if other in entry:
                ratio = figures["xrt"] / entry[other]["xrt"]
                result.append((f"xrt/{other} {ratio:.2f} >= {bound}", ratio >= bound))
    return result


def edgevoice_passes(report: dict[str, dict[str, dict[str, Any]]]) -> bool:
    return all(
        ok
        for entry in report.values()
        if "edgevoice" in entry
        for _, ok in checks(entry["edgevoice"], entry)
    )


def render_table(
    report: dict[str, dict[str, dict[str, Any]]], seconds: float, chunk_ms: float
) -> str:
    lines = [
        f"Resampler benchmark: speed on {seconds:g} s of noise in {chunk_ms:g} ms chunks "
        f"(best of {REPEATS}, CPU time); quality on {PROBE_SECONDS} s probes, same chunks.",
        "delay = offset (waveform lateness) + backlog (output owed after each chunk); "
        "alias/image = worst probe, input level over the largest output spur.",
        "",
        f"{'conversion':<13} {'method':<14} {'xrt cpu':>8} {'xrt wall':>8} "
        f"{'delay ms (offset+backlog)':>26} {'alias/image dB':>20} {'ripple dB':>9} "
        f"{'THD+N dB':>8} {'stream==whole':>13}",
    ]
    for conv, entry in report.items():
        for method, f in entry.items():
            delay = f"{f['delay_ms']:.2f} ({f['offset_ms']:+.2f}{f['backlog_ms']:+.2f})"
            alias = f"{f['alias_db_min']:.1f} @ {f['alias_worst_hz']:.0f} Hz"
            lines.append(
                f"{conv:<13} {method:<14} {f['xrt']:>8.0f} {f['xrt_wall']:>8.0f} {delay:>26} "
                f"{alias:>20} {f['ripple_db']:>9.4f} {f['thd_n_db']:>8.1f} "
                f"{'yes' if f['stream_equals_whole'] else 'NO':>13}"
            )
        for method, f in entry.items():
            verdicts = "; ".join(
                f"{text} {'PASS' if ok else 'FAIL'}" for text, ok in checks(f, entry)
            )
            lines.append(f"{'':<13} {method + ':':<14} {verdicts}")
        lines.append("")
    if any("edgevoice" in entry for entry in report.values()):
        verdict = "PASS" if edgevoice_passes(report) else "FAIL"
        lines.append(f"edgevoice meets every bound: {verdict}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="length of the speed-test signal (default 60)"
    )
    parser.add_argument(
        "--chunk-ms", type=float, default=20.0, help="chunk length in milliseconds (default 20)"
    )
    parser.add_argument(
        "--conversion",
        action="append",
        metavar="IN:OUT",
        help="only this conversion, e.g. 48000:16000 (repeatable; default: "
        + ", ".join(f"{a}:{b}" for a, b in CONVERSIONS)
        + ")",
    )
    parser.add_argument(
        "--method",
        action="append",
        choices=METHODS,
        help="only this method (repeatable; default: all three)",
    )


def _parse_conversion(text: str) -> tuple[int, int]:
    parts = text.replace("->", ":").split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"bad --conversion {text!r}: write IN:OUT in Hz, e.g. 48000:16000")
    return int(parts[0]), int(parts[1])


def run(args: argparse.Namespace) -> int:
    """Exit status 0 when edgevoice meets every bound, 1 when one fails, 2 on bad use."""
    if args.seconds <= 0 or args.chunk_ms <= 0:
        print(
            "edgevoice bench resampler: --seconds and --chunk-ms must be positive numbers",
            file=sys.stderr,
        )
        return 2
    try:
        conversions = [_parse_conversion(text) for text in args.conversion or ()] or CONVERSIONS
        for in_rate, out_rate in conversions:
            design_filter(in_rate, out_rate)  # a clear message for rates it cannot do
    except ValueError as error:
        print(f"edgevoice bench resampler: {error}", file=sys.stderr)
        return 2
    methods = tuple(dict.fromkeys(args.method)) if args.method else METHODS
    try:
        report = run_benchmark(args.seconds, args.chunk_ms, methods, conversions)
    except MissingDependency as error:
        print(f"edgevoice bench resampler: {error}", file=sys.stderr)
        return 2
    print(to_json(report) if args.json else render_table(report, args.seconds, args.chunk_ms))
    return 0 if edgevoice_passes(report) else 1
