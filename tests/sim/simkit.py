"""Helpers for the simulator tests: a raw websockets client speaking JSON, setup builders, audio.

Imported by the test modules as `simkit` (conftest.py puts this directory on sys.path).

Clients here are plain `websockets.asyncio.client.connect` with hand-written JSON, never
edgevoice.live: the simulator is checked independently of the daemon's codec.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from edgevoice.sim import Simulator

MODEL_25 = "models/gemini-2.5-flash-native-audio-preview-12-2025"
MODEL_31 = "models/gemini-3.1-flash-live-preview"
MODEL_38 = "models/gemini-3.8-live"
MODEL_38T = "models/gemini-3.8-live-extended-thinking"
THINK_LOW = {"thinkingConfig": {"thinkingLevel": "LOW"}}  # 3.8 extended thinking needs a level
KEY = "test-key-123"
TIMEOUT = 30.0  # generous: the machine is shared; nothing asserts on durations


def setup(
    model: str = MODEL_25,
    *,
    manual: bool = True,
    resumption: dict[str, Any] | None = None,
    transcripts: bool = True,
    tools: list[dict[str, Any]] | None = None,
    generation: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A valid setup frame (camelCase) with the options tests usually need.

    `generation` adds to generationConfig; 3.8 extended thinking gets a LOW thinking level
    unless `generation` says otherwise (it refuses to start without one).
    """
    if generation is None:
        generation = THINK_LOW if model == MODEL_38T else {}
    body: dict[str, Any] = {
        "model": model,
        "generationConfig": {"responseModalities": ["AUDIO"], **generation},
    }
    if manual:
        body["realtimeInputConfig"] = {"automaticActivityDetection": {"disabled": True}}
    if resumption is not None:
        body["sessionResumption"] = resumption
    if transcripts:
        body["inputAudioTranscription"] = {}
        body["outputAudioTranscription"] = {}
    if tools is not None:
        body["tools"] = tools
    body.update(extra)
    return {"setup": body}


# Protocol doc section 2.2, the exact setup frame the SDK sent [observed]; its two elisions
# ("functionDeclarations":[...] and "automatic_activity_detection":{...}) are filled with what
# google-genai 3.6.1 emits for them. Sent on v1alpha, the only endpoint that takes proactivity.
OBSERVED_SDK_SETUP = (
    '{"setup":{"model":"models/gemini-2.5-flash-native-audio-preview-12-2025","generationConfig":'
    '{"responseModalities":["AUDIO"],"temperature":0.7,"mediaResolution":"MEDIA_RESOLUTION_LOW",'
    '"speechConfig":{"voice_config":{"prebuilt_voice_config":{"voice_name":"Kore"}},'
    '"language_code":"en-US"},"thinkingConfig":{"include_thoughts":false,"thinking_budget":0},'
    '"enableAffectiveDialog":true},"systemInstruction":{"parts":[{"text":"You are terse."}],'
    '"role":"user"},"tools":[{"googleSearch":{}},{"codeExecution":{}},{"functionDeclarations":'
    '[{"description":"the time","name":"get_time","parameters":{"properties":{"tz":{"type":'
    '"STRING"}},"required":["tz"],"type":"OBJECT"},"behavior":"NON_BLOCKING"}]}],'
    '"sessionResumption":{"handle":"prev-handle"},"inputAudioTranscription":{},'
    '"outputAudioTranscription":{},"realtimeInputConfig":{"automatic_activity_detection":'
    '{"disabled":true,"start_of_speech_sensitivity":"START_SENSITIVITY_LOW","prefix_padding_ms":20,'
    '"silence_duration_ms":500},"activity_handling":"NO_INTERRUPTION","turn_coverage":'
    '"TURN_INCLUDES_ALL_INPUT"},"contextWindowCompression":{"trigger_tokens":25600,'
    '"sliding_window":{"target_tokens":12800}},"proactivity":{"proactive_audio":true}}}'
)

GET_TIME_TOOL = [{"functionDeclarations": [{"name": "get_time", "description": "the time"}]}]


def get_time_tool(behavior: str | None = None) -> list[dict[str, Any]]:
    """The get_time declaration, with `behavior` (BLOCKING / NON_BLOCKING) when given."""
    declaration: dict[str, Any] = {"name": "get_time", "description": "the time"}
    if behavior is not None:
        declaration["behavior"] = behavior
    return [{"functionDeclarations": [declaration]}]


def tone(seconds: float, freq: float = 300.0, rate: int = 16_000, level: float = 0.3) -> bytes:
    t = np.arange(round(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2").tobytes()


def silence(seconds: float, rate: int = 16_000) -> bytes:
    return bytes(2 * round(seconds * rate))


def audio_frame(pcm: bytes, rate: int = 16_000, *, urlsafe: bool = False) -> dict[str, Any]:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    data = encode(pcm).decode("ascii")
    return {"realtimeInput": {"audio": {"data": data, "mimeType": f"audio/pcm;rate={rate}"}}}


class Client:
    """A raw Live client: JSON in, JSON out, and the close the server sent."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.raw: list[str | bytes] = []

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def send_audio(self, pcm: bytes, rate: int = 16_000, chunk_ms: int = 20) -> None:
        step = 2 * rate * chunk_ms // 1000
        for start in range(0, len(pcm), step):
            await self.send(audio_frame(pcm[start : start + step], rate))

    async def recv(self) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), TIMEOUT)  # a hang guard only
        self.raw.append(raw)
        message: dict[str, Any] = json.loads(raw)
        self.received.append(message)
        return message

    async def recv_until(self, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Messages up to and including the first one for which `done` is true."""
        got: list[dict[str, Any]] = []
        while True:
            message = await self.recv()
            got.append(message)
            if done(message):
                return got

    async def turn(self) -> list[dict[str, Any]]:
        """Messages up to turnComplete, plus the resumable update after it when expected."""
        return await self.recv_until(is_turn_complete)

    async def closed(self) -> tuple[int, str]:
        """Read until the server closes; return the close code and reason it sent (1006: none)."""
        try:
            while True:
                await self.recv()
        except ConnectionClosed as closed:
            if closed.rcvd is None:
                return 1006, ""
            return closed.rcvd.code, closed.rcvd.reason


def is_turn_complete(message: dict[str, Any]) -> bool:
    return bool(message.get("serverContent", {}).get("turnComplete"))


def interaction_status(message: dict[str, Any]) -> str | None:
    status: str | None = message.get("serverContent", {}).get("interactionStatus")
    return status


def is_resumable_update(message: dict[str, Any]) -> bool:
    return bool(message.get("sessionResumptionUpdate", {}).get("resumable"))


async def until(condition: Callable[[], bool], timeout_s: float = TIMEOUT) -> None:
    """Poll `condition` until it holds (the simulator has no event for it); hang guard."""
    for _ in range(round(timeout_s / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise TimeoutError("condition never held")


async def ask(c: Client, pcm: bytes | None = None) -> None:
    """One manual-activity user turn: activityStart, audio (0.3 s tone by default), activityEnd."""
    await c.send({"realtimeInput": {"activityStart": {}}})
    await c.send_audio(tone(0.3) if pcm is None else pcm)
    await c.send({"realtimeInput": {"activityEnd": {}}})


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    """A compact description of a message sequence, e.g. ["audio", "generationComplete", ...]."""
    out: list[str] = []
    for message in messages:
        content = message.get("serverContent")
        if content is None:
            out.append(next(iter(message)))
            continue
        for key in content:
            out.append("audio" if key == "modelTurn" else key)
        if not content:
            out.append("serverContent{}")
    return out


def reply_audio(messages: list[dict[str, Any]]) -> bytes:
    pcm = b""
    for message in messages:
        for part in message.get("serverContent", {}).get("modelTurn", {}).get("parts", []):
            assert part["inlineData"]["mimeType"] == "audio/pcm;rate=24000"
            pcm += base64.b64decode(part["inlineData"]["data"])
    return pcm


def output_text(messages: list[dict[str, Any]]) -> str:
    return "".join(
        m["serverContent"]["outputTranscription"]["text"]
        for m in messages
        if "outputTranscription" in m.get("serverContent", {})
    )


@asynccontextmanager
async def client(
    sim: Simulator,
    *,
    key: str | None = KEY,
    path: str | None = None,
    headers: dict[str, str] | None = None,
) -> AsyncIterator[Client]:
    url = path if path is not None else sim.endpoint()
    extra = dict(headers or {})
    if key is not None:
        extra["x-goog-api-key"] = key
    async with connect(url, additional_headers=extra, open_timeout=TIMEOUT) as ws:
        yield Client(ws)


@asynccontextmanager
async def session(
    sim: Simulator, frame: dict[str, Any] | None = None, **kw: Any
) -> AsyncIterator[Client]:
    """A connected client whose setup was answered with setupComplete."""
    async with client(sim, **kw) as c:
        await c.send(frame or setup())
        first = await c.recv()
        assert list(first) == ["setupComplete"], first
        yield c
