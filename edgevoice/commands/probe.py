"""`edgevoice probe`: one round trip to the configured Live endpoint, measured.

Answers "do my key, network, model and endpoint work?" without a microphone or speaker: it
connects with the configured credential, sends setup, speaks one short synthetic utterance as a
turn, waits for the spoken answer, and reports each step. Works against the real service and
against `edgevoice simulator` alike (`--set live.endpoint=ws://127.0.0.1:8765`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import Any

import numpy as np

from edgevoice.adapters.credential_lookup import CredentialSource
from edgevoice.adapters.wavfile import write_wav
from edgevoice.adapters.ws import LiveConnection
from edgevoice.app.session_config import endpoint, session_setup
from edgevoice.commands._common import with_config
from edgevoice.config import Config
from edgevoice.errors import ConnectError, EdgevoiceError, error_class_of
from edgevoice.live.events import (
    AudioChunk,
    InputTranscription,
    OutputTranscription,
    SessionResumptionUpdate,
    ToolCall,
    TurnComplete,
)
from edgevoice.live.tools import ToolContext, run_local_tool
from edgevoice.ports import FRAME_MS, MIC_RATE, SPEAKER_RATE

NAME = "probe"
HANDLE_GRACE_S = 2.0  # s to wait after turnComplete for the resumption handle
log = logging.getLogger("edgevoice.probe")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="test one round trip to the Live API (key, network, model)",
        description=(
            "Connect to the configured Live endpoint, send setup, speak one short synthetic "
            "utterance, wait for the answer and report timings. Exit 0 when an answer arrived."
        ),
    )
    parser.add_argument(
        "--seconds", type=float, default=1.0, help="length of the utterance (default 1.0)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for the answer (default 30)"
    )
    parser.add_argument("--save-reply", metavar="WAV", help="write the answer to a WAV file")
    parser.set_defaults(func=with_config(probe))


def utterance(seconds: float) -> bytes:
    """A voiced, speech-like test signal at 16 kHz: a gliding harmonic tone at about -20 dBFS."""
    t = np.arange(int(seconds * MIC_RATE)) / MIC_RATE
    pitch = 140 + 40 * np.sin(2 * np.pi * 1.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / MIC_RATE
    voice = np.zeros_like(t)
    for harmonic in range(1, 8):
        voice += np.sin(harmonic * phase) / harmonic
    envelope = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.05)
    signal = 0.1 * voice * envelope
    return bytes((signal * 32767).astype("<i2").tobytes())


def probe(args: argparse.Namespace, config: Config) -> int:
    credential = CredentialSource(config.auth).resolve()
    try:
        return asyncio.run(_probe(args, config, credential))
    except EdgevoiceError as exc:
        print(f"probe failed ({error_class_of(exc).value}): {exc}", file=sys.stderr)
        return 1


async def _probe(args: argparse.Namespace, config: Config, credential: Any) -> int:
    started = time.monotonic()
    conn = await LiveConnection.open(endpoint(config), credential, session_setup(config))
    setup_s = time.monotonic() - started
    print(f"connected and set up in {setup_s * 1000:.0f} ms ({credential.source})")
    pcm = utterance(args.seconds)
    frame_bytes = MIC_RATE * FRAME_MS // 1000 * 2
    manual = conn.session.manual_activity
    if manual:
        await conn.begin_activity()
    for offset in range(0, len(pcm), frame_bytes):
        await conn.send_audio(pcm[offset : offset + frame_bytes])
    if manual:
        await conn.end_activity()
    else:
        await conn.send_audio(bytes(MIC_RATE * 2))  # 1 s of silence: server VAD ends the turn
        await conn.audio_stream_end()
    ended = time.monotonic()
    reply = bytearray()
    first_audio: float | None = None
    heard, said = [], []
    turn_done = handle = False
    try:
        async with asyncio.timeout(args.timeout) as deadline:
            async for event in conn.events():
                if isinstance(event, AudioChunk):
                    first_audio = first_audio or time.monotonic()
                    reply += event.pcm
                elif isinstance(event, InputTranscription):
                    heard.append(event.text)
                elif isinstance(event, OutputTranscription):
                    said.append(event.text)
                elif isinstance(event, ToolCall):
                    context = ToolContext(local_time=time.strftime("%Y-%m-%d %H:%M:%S %Z"))
                    for call in event.calls:
                        result = run_local_tool(call, context, config.live.tools)
                        await conn.send_tool_response(call.id, call.name, result)
                elif isinstance(event, SessionResumptionUpdate) and event.resumable:
                    handle = True
                elif isinstance(event, TurnComplete):
                    turn_done = True
                if turn_done and (handle or not config.live.resumption):
                    break
                if isinstance(event, TurnComplete):
                    # The resumable handle usually follows turnComplete (section 4.2): wait a
                    # moment for it rather than reporting resumption as broken.
                    deadline.reschedule(asyncio.get_running_loop().time() + HANDLE_GRACE_S)
    except TimeoutError:
        if not turn_done:
            raise ConnectError(f"no complete answer within {args.timeout:g} s") from None
    finally:
        await conn.close()
    if first_audio is not None:
        print(f"first answer audio {1000 * (first_audio - ended):.0f} ms after the turn ended")
    print(f"answer: {len(reply) / 2 / SPEAKER_RATE:.2f} s of audio")
    if heard:
        print(f"heard: {''.join(heard).strip()}")
    if said:
        print(f"said: {''.join(said).strip()}")
    if config.live.resumption:
        print("resumption handle received" if handle else "no resumption handle after the turn")
    if args.save_reply:
        write_wav(args.save_reply, bytes(reply), SPEAKER_RATE)
    return 0 if reply else 1
