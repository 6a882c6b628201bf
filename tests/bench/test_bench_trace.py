"""The trace facility (edgevoice.adapters.trace) and its reader (edgevoice.bench.trace_read):
marks and the playback callback's pulls reach the bench, over a real datagram socket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edgevoice.adapters import trace
from edgevoice.adapters.trace import MAX_DATAGRAM, Tracer
from edgevoice.bench.trace_read import Event, TraceListener, parse_lines

TIMEOUT = 20.0  # hang guard only


class Datagrams:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        self.sent.append(data)

    def events(self) -> list[Event]:
        return [e for data in self.sent for e in parse_lines(data)[0]]


def test_marks_are_sent_as_lines_with_their_time_and_value() -> None:
    out = Datagrams()
    tracer = Tracer(sender=out, clock=lambda: 5.25)
    tracer.mark("ctl", "press")
    tracer.mark("ws.audio")
    tracer.mark("ws.recv_audio", at=4.125)
    tracer.flush()
    assert out.events() == [
        Event(5.25, "ctl", "press"),
        Event(5.25, "ws.audio", ""),
        Event(4.125, "ws.recv_audio", ""),
    ]
    assert tracer.sent == 3
    tracer.flush()  # nothing new: nothing sent
    assert len(out.sent) == 1


def test_pulls_become_start_and_stop_of_audible_playback() -> None:
    """The callback appends (time, audio samples, samples); the flusher finds where audio
    starts after silence and the period in which it ends."""
    out = Datagrams()
    tracer = Tracer(sender=out)
    for pull in [
        (1.00, 0, 960),  # silence
        (1.02, 960, 960),  # the answer starts
        (1.04, 960, 960),
        (1.06, 192, 960),  # a fade-out, then silence: it ends here
        (1.08, 0, 960),
        (1.10, 500, 960),  # a short sound: starts and ends in one period
    ]:
        tracer.pulls.append(pull)
    tracer.flush()
    assert out.events() == [
        Event(1.02, "play.start", "960"),
        Event(1.06, "play.stop", "192"),
        Event(1.10, "play.start", "500"),
        Event(1.10, "play.stop", "500"),
    ]


def test_audio_running_across_two_flushes_is_one_start() -> None:
    out = Datagrams()
    tracer = Tracer(sender=out)
    tracer.pulls.append((1.0, 960, 960))
    tracer.flush()
    tracer.pulls.append((1.02, 960, 960))
    tracer.pulls.append((1.04, 10, 960))
    tracer.flush()
    assert [e.name for e in out.events()] == ["play.start", "play.stop"]


def test_a_big_batch_is_split_into_datagrams_that_fit() -> None:
    out = Datagrams()
    tracer = Tracer(sender=out, clock=lambda: 123.456789)
    for _ in range(2000):
        tracer.mark("ws.audio")
    tracer.flush()
    assert len(out.sent) > 1
    assert all(len(d) <= MAX_DATAGRAM for d in out.sent)
    assert len(out.events()) == 2000


def test_a_socket_nobody_reads_loses_the_batch_without_raising(tmp_path: Path) -> None:
    tracer = Tracer(tmp_path / "nobody")
    tracer.mark("ctl", "press")
    tracer.flush()
    assert tracer.lost == 1 and tracer.sent == 0
    tracer.close()


def test_memory_is_bounded() -> None:
    tracer = Tracer(sender=Datagrams(), capacity=10)
    for _ in range(100):
        tracer.mark("ws.audio")
    assert len(tracer.events) == 10


def test_a_tracer_needs_exactly_one_destination(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        Tracer(tmp_path / "x", sender=Datagrams())
    with pytest.raises(ValueError):
        Tracer()


def test_tracing_is_off_unless_the_environment_names_a_socket(tmp_path: Path) -> None:
    assert trace.TRACER is None
    assert trace.start_from_environment({}) is None
    assert trace.TRACER is None
    try:
        tracer = trace.start_from_environment({trace.ENV: str(tmp_path / "t")})
        assert tracer is not None and trace.TRACER is tracer
        # A second call keeps the tracer it has.
        assert trace.start_from_environment({trace.ENV: str(tmp_path / "u")}) is tracer
    finally:
        trace.stop()
    assert trace.TRACER is None
    trace.stop()  # off already: nothing happens


async def test_the_listener_receives_what_the_tracer_sends(tmp_path: Path) -> None:
    listener = TraceListener(tmp_path / "trace")
    await listener.open()
    tracer = Tracer(listener.path, flush_s=0.01).start()
    try:
        tracer.mark("ctl", "press", at=10.0)
        tracer.mark("ws.audio", at=10.002)
        tracer.mark("ws.activity_start", at=10.001)  # out of order: the listener sorts
        found = await listener.wait_for("ws.audio", after=9.0, timeout_s=TIMEOUT)
        assert found == Event(10.002, "ws.audio", "")
        await asyncio.sleep(0)
        assert [e.name for e in listener.events] == ["ctl", "ws.activity_start", "ws.audio"]
        assert listener.find("ctl", after=10.0005) is None
        with pytest.raises(TimeoutError):
            await listener.wait_for("play.start", after=0.0, timeout_s=0.05)
    finally:
        tracer.close()
        listener.close()
    assert not listener.path.exists()
