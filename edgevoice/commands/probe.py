"""`edgevoice probe`: one round trip to the configured Live endpoint, measured.

Answers "do my key, network, model and endpoint work?" without a microphone or speaker: it
connects with the configured credential, sends setup, speaks one short synthetic utterance as a
turn, waits for the spoken answer, and reports each step. Works against the real service and
against `edgevoice simulator` alike (`--set live.endpoint=ws://127.0.0.1:8765`).

Exit status: 0 when a complete answer arrived; 1 when the round trip failed (one line says why
and whether retrying can help); 78 for a config problem; 2 for a bad option. Ctrl-C (SIGINT) and
SIGTERM close the connection with 1000 and exit 130 and 143 (128 + the signal, as a shell
reports a command the signal ended): the round trip did not finish, so a script must not read
the run as a success, nor see it as a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import stat
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgevoice.adapters.credential_lookup import CredentialSource
from edgevoice.adapters.wavfile import write_wav
from edgevoice.adapters.ws import LiveConnection
from edgevoice.app.session_config import LivePlan, live_plan
from edgevoice.commands._common import seconds_type, until_signal, with_config
from edgevoice.config import Config
from edgevoice.credentials import Credential
from edgevoice.errors import (
    ConfigError,
    ConnectError,
    CredentialError,
    EdgevoiceError,
    error_class_of,
)
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
from edgevoice.redact import printable

NAME = "probe"
HANDLE_GRACE_S = 2.0  # s to wait after turnComplete for the resumption handle
MAX_TRANSCRIPT = 2000  # characters of each transcript kept and printed
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
        "--seconds",
        type=seconds_type("--seconds", 30, low=0.1),
        default=1.0,
        help="length of the utterance, 0.1 to 30 (default 1.0)",
    )
    parser.add_argument(
        "--timeout",
        type=seconds_type("--timeout", 600, low=1),
        default=30.0,
        help="seconds to wait for the answer, 1 to 600 (default 30)",
    )
    parser.add_argument(
        "--max-reply",
        type=seconds_type("--max-reply", 600, low=1),
        default=120.0,
        metavar="SECONDS",
        help="longest answer kept, 1 to 600 s of audio (default 120); a longer one fails",
    )
    parser.add_argument(
        "--save-reply", metavar="WAV", help="write the answer to a WAV file (replaced)"
    )
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
    signal_ = 0.1 * voice * envelope
    return bytes((signal_ * 32767).astype("<i2").tobytes())


class ReplyFile:
    """Where `--save-reply` writes, checked before anything connects.

    The answer goes to `<path>.part` first and replaces `path` only when it is complete, so a
    failed or interrupted probe never destroys an earlier reply. Only a regular file (or a new
    one) is replaced: a device or a FIFO at `path` is refused, never opened.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.part = f"{path}.part"

    def prepare(self) -> str | None:
        """Why the reply cannot be written there, or None after proving it can."""
        shown = printable(self.path)
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            return f"--save-reply {shown}: {exc.strerror}"
        else:
            if not stat.S_ISREG(st.st_mode):
                return f"--save-reply {shown} exists and is not a regular file; name a new file"
        try:
            with open(self.part, "wb"):
                pass
        except OSError as exc:
            return f"--save-reply {shown} cannot be written: {exc.strerror}; pick another path"
        return None

    def commit(self, pcm: bytes) -> str | None:
        """Write the answer; why it failed, or None."""
        try:
            write_wav(self.part, pcm, SPEAKER_RATE)
            os.replace(self.part, self.path)
        except OSError as exc:
            self.discard()
            return f"the reply could not be saved to {printable(self.path)}: {exc.strerror}"
        return None

    def discard(self) -> None:
        try:
            os.unlink(self.part)
        except OSError:
            pass


@dataclass
class Answer:
    """What came back, bounded: audio up to `max_bytes`, transcripts up to MAX_TRANSCRIPT."""

    max_bytes: int
    pcm: bytearray = field(default_factory=bytearray)
    heard: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    first_audio: float | None = None
    turn_done: bool = False
    handle: bool = False
    overflow: bool = False

    def add_audio(self, pcm: bytes, now: float) -> None:
        self.first_audio = self.first_audio or now
        room = self.max_bytes - len(self.pcm)
        if len(pcm) > room:
            self.overflow = True
            pcm = pcm[: room - room % 2]
        self.pcm += pcm

    @staticmethod
    def add_text(parts: list[str], text: str) -> None:
        if sum(len(p) for p in parts) < MAX_TRANSCRIPT:
            parts.append(text[:MAX_TRANSCRIPT])


def probe(args: argparse.Namespace, config: Config) -> int:
    plan = live_plan(config)  # 78 when a setup or the endpoint cannot be built
    for warning in plan.warnings:
        log.warning("%s", warning)
    reply = ReplyFile(args.save_reply) if args.save_reply else None
    if reply is not None:
        problem = reply.prepare()
        if problem is not None:
            print(f"edgevoice probe: {problem}", file=sys.stderr)
            return 2
    status = 1
    try:
        credential = CredentialSource(config.auth).resolve()  # 78 when missing or unsafe
        status = asyncio.run(_interruptible(args, config, plan, credential, reply))
    except (EdgevoiceError, OSError) as exc:
        if isinstance(exc, (ConfigError, CredentialError)):
            raise  # reported by with_config: exit 78, or 75 for a token command that failed
        print(
            f"probe failed ({error_class_of(exc).value}): {printable(str(exc), 500)}",
            file=sys.stderr,
        )
    finally:
        if reply is not None and status != 0:
            reply.discard()  # only a complete answer replaces the file; no .part is left
    return status


async def _interruptible(
    args: argparse.Namespace,
    config: Config,
    plan: LivePlan,
    credential: Credential,
    reply: ReplyFile | None,
) -> int:
    """Run the probe; SIGINT or SIGTERM cancels it, which closes the connection with 1000."""
    return await until_signal(
        _probe(args, config, plan, credential, reply),
        lambda signum: f"probe interrupted by {signum.name}; the connection was closed",
    )


async def _probe(
    args: argparse.Namespace,
    config: Config,
    plan: LivePlan,
    credential: Credential,
    reply: ReplyFile | None,
) -> int:
    started = time.monotonic()
    conn = await LiveConnection.open(plan.endpoint, credential, plan.setup())
    try:
        setup_s = time.monotonic() - started
        # Flushed: a person (or a script) watching a pipe sees progress as it happens.
        print(f"connected and set up in {setup_s * 1000:.0f} ms ({credential.source})", flush=True)
        ended = await _speak(conn, args.seconds)
        answer = Answer(max_bytes=int(args.max_reply * SPEAKER_RATE) * 2)
        await _listen(conn, config, answer, args.timeout)
    finally:
        await conn.close()  # 1000, also when cancelled by a signal
    return _report(answer, ended, config, reply, args.max_reply)


async def _speak(conn: LiveConnection, seconds: float) -> float:
    """Send the utterance as one turn; the time it ended."""
    pcm = utterance(seconds)
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
    return time.monotonic()


async def _listen(conn: LiveConnection, config: Config, answer: Answer, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds) as deadline:
            async for event in conn.events():
                if isinstance(event, AudioChunk):
                    answer.add_audio(event.pcm, time.monotonic())
                    if answer.overflow:
                        return
                elif isinstance(event, InputTranscription):
                    answer.add_text(answer.heard, event.text)
                elif isinstance(event, OutputTranscription):
                    answer.add_text(answer.said, event.text)
                elif isinstance(event, ToolCall):
                    context = ToolContext(now=datetime.datetime.now().astimezone())
                    for call in event.calls:
                        outcome = run_local_tool(call, context, config.live.tools)
                        await conn.send_tool_response(call.id, call.name, outcome.response)
                elif isinstance(event, SessionResumptionUpdate) and event.resumable:
                    answer.handle = True
                elif isinstance(event, TurnComplete):
                    answer.turn_done = True
                if answer.turn_done and (answer.handle or not config.live.resumption):
                    return
                if isinstance(event, TurnComplete):
                    # The resumable handle usually follows turnComplete (section 4.2): wait a
                    # moment for it rather than reporting resumption as broken.
                    deadline.reschedule(asyncio.get_running_loop().time() + HANDLE_GRACE_S)
    except TimeoutError:
        if not answer.turn_done:
            raise ConnectError(f"no complete answer within {seconds:g} s") from None


def _report(
    answer: Answer, ended: float, config: Config, reply: ReplyFile | None, max_reply: float
) -> int:
    if answer.first_audio is not None:
        print(
            f"first answer audio {1000 * (answer.first_audio - ended):.0f} ms after the turn ended"
        )
    print(f"answer: {len(answer.pcm) / 2 / SPEAKER_RATE:.2f} s of audio")
    if answer.heard:
        print(f"heard: {printable(''.join(answer.heard).strip(), MAX_TRANSCRIPT)}")
    if answer.said:
        print(f"said: {printable(''.join(answer.said).strip(), MAX_TRANSCRIPT)}")
    if config.live.resumption and not answer.overflow:
        print(
            "resumption handle received" if answer.handle else "no resumption handle after the turn"
        )
    if answer.overflow:
        print(
            f"probe failed: the answer went on past {max_reply:g} s of audio without "
            "turnComplete; the connection was closed (raise --max-reply for longer answers)",
            file=sys.stderr,
        )
    ok = bool(answer.pcm) and not answer.overflow
    if reply is not None and ok:
        problem = reply.commit(bytes(answer.pcm))
        if problem is not None:
            print(f"probe failed: {problem}", file=sys.stderr)
            return 1
    return 0 if ok else 1
