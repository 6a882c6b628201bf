"""The trace points of the WebSocket client, against the real simulator on loopback: every
frame the bench times is marked once it is handed to the socket, and setupComplete and reply
audio when they are read."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from edgevoice.adapters import trace
from edgevoice.adapters.trace import Tracer
from edgevoice.adapters.ws import Endpoint, LiveConnection
from edgevoice.bench.trace_read import Event, parse_lines
from edgevoice.credentials import Credential, CredentialKind
from edgevoice.live.events import AudioChunk, TurnComplete
from edgevoice.live.frames import ActivityDetection, Setup
from edgevoice.redact import Secret
from edgevoice.sim import SimOptions, run_simulator

KEY = "AQ.bench-trace-key-51c0e9a2"
MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"
TIMEOUT = 20.0  # hang guard only


class Collected:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        self.sent.append(data)

    def events(self) -> list[Event]:
        return [e for data in self.sent for e in parse_lines(data)[0]]


@pytest.fixture
def collected() -> Iterator[Collected]:
    """A tracer as the process's TRACER (what EDGEVOICE_TRACE_SOCKET turns on), sending to a
    list; off again after the test."""
    assert trace.TRACER is None
    out = Collected()
    trace.TRACER = Tracer(sender=out)
    try:
        yield out
    finally:
        trace.stop()


def tone(seconds: float) -> bytes:
    t = np.arange(round(seconds * 16_000)) / 16_000
    return (0.3 * np.sin(2 * np.pi * 300.0 * t) * 32767).astype("<i2").tobytes()


async def test_a_turn_marks_every_frame_the_bench_times(collected: Collected) -> None:
    options = SimOptions(api_keys=frozenset({KEY}), pace=0)
    async with run_simulator(options) as sim:
        endpoint = Endpoint(
            base_url=sim.url, connect_timeout=TIMEOUT, setup_timeout=TIMEOUT,
            keepalive_interval=None, close_timeout=TIMEOUT,
        )  # fmt: skip
        setup = Setup(model=MODEL, activity_detection=ActivityDetection(disabled=True))
        credential = Credential(CredentialKind.API_KEY, Secret(KEY), "test")
        async with asyncio.timeout(TIMEOUT):
            conn = await LiveConnection.open(endpoint, credential, setup)
            try:
                await conn.begin_activity()
                for _ in range(25):
                    await conn.send_audio(tone(0.02))
                await conn.end_activity()
                audio = 0
                async for event in conn.events():
                    audio += isinstance(event, AudioChunk)
                    if isinstance(event, TurnComplete):
                        break
            finally:
                await conn.close()
    assert audio > 0
    assert trace.TRACER is not None
    trace.TRACER.flush()
    events = collected.events()
    names = [e.name for e in events]
    assert names.count("ws.setup") == 1 and names.count("ws.setup_complete") == 1
    assert names.count("ws.activity_start") == 1 and names.count("ws.activity_end") == 1
    assert names.count("ws.audio") == 25
    assert names.count("ws.recv_audio") >= 1
    at = {name: [e.at for e in events if e.name == name] for name in set(names)}
    # In the order they happened on the wire.
    assert at["ws.setup"][0] <= at["ws.setup_complete"][0] <= at["ws.activity_start"][0]
    assert at["ws.activity_start"][0] <= min(at["ws.audio"])
    assert max(at["ws.audio"]) <= at["ws.activity_end"][0] <= min(at["ws.recv_audio"])
