"""The speaker path: the model's answer and the earcons, through one player.

- `play_answer(pcm, rate)` queues a chunk of the answer; from the first chunk until the answer
  has played out, `playing` is True (the device is SPEAKING, and half duplex keeps the voice
  trigger deaf).
- `answer_done()` (at turnComplete) marks the end of the answer: a watcher waits for the
  player to hand over the last sample (`AudioSink.drain`) and posts `PlaybackDone(token)`;
  `finished(done)` tells the controller whether that is the answer still current.
- `clear()` (barge-in, `interrupted`) drops everything queued at once: the player is silent
  within one device period. A watcher of the cleared answer reports a stale token.
- `earcon(kind)` plays a tone (when the config has it on) and returns its length, so the
  controller can keep the voice trigger from hearing it.

A player that fails (`AudioDeviceError`: the USB speaker was unplugged) is handed to
`on_failure` (the daemon's device doctor, `edgevoice.app.devices`, reopens it with its own
backoff); without one it is reopened here, every `REOPEN_DELAY_S`. The conversation goes on
without sound meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from edgevoice.app.inputs import Input, PlaybackDone
from edgevoice.audio.earcons import Earcon, duration_s, earcon
from edgevoice.config import EarconsConfig
from edgevoice.errors import AudioDeviceError
from edgevoice.ports import SPEAKER_RATE, AudioSink

log = logging.getLogger("edgevoice.speaker")

REOPEN_DELAY_S = 2.0  # between attempts to reopen a failed player


class Player(AudioSink, Protocol):
    """An `AudioSink` whose volume can be set (`PyAudioPlayback`)."""

    volume: int

    def set_volume(self, percent: int) -> None: ...


class Speaker:
    """See the module docstring. `spawn` creates a task in the controller's TaskGroup."""

    def __init__(
        self,
        player: Player,
        earcons: EarconsConfig,
        *,
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        post: Callable[[Input], None],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.player = player
        self._enabled = {
            Earcon.LISTEN_START: earcons.listen_start,
            Earcon.LISTEN_END: earcons.listen_end,
            Earcon.ERROR: earcons.error,
            Earcon.OFFLINE: earcons.offline,
            Earcon.LIMIT: earcons.limit,
        }
        self._spawn = spawn
        self._post = post
        self._sleep = sleep
        self.playing = False
        self._token = 0
        self._reopening = False
        self.device_lock = asyncio.Lock()  # one device open/start/close at a time (daemon.py)
        self.on_failure: Callable[[AudioDeviceError], None] | None = None
        self.earcons_played: list[Earcon] = []  # the most recent ones, for status and tests

    @property
    def volume(self) -> int:
        return int(self.player.volume)

    def set_volume(self, percent: int) -> None:
        self.player.set_volume(percent)

    # -- the answer --------------------------------------------------------------------------

    def play_answer(self, pcm: bytes, rate: int) -> None:
        self.playing = True
        self._play(pcm, rate)

    def answer_done(self) -> None:
        """No more audio is coming for this answer: report when it has played out."""
        if self.playing:
            self._spawn(self._watch(self._token))

    def clear(self) -> None:
        """Drop everything queued now (barge-in)."""
        self.player.clear()
        self._token += 1
        self.playing = False

    def finished(self, done: PlaybackDone) -> bool:
        """True when `done` is the end of the answer still current (it is then over)."""
        if done.token != self._token or not self.playing:
            return False
        self.playing = False
        return True

    async def _watch(self, token: int) -> None:
        try:
            await self.player.drain()
        except AudioDeviceError as exc:
            self._failed(exc)
        self._post(PlaybackDone(token))

    # -- earcons -----------------------------------------------------------------------------

    def earcon(self, kind: Earcon) -> float:
        """Play the tone for `kind` if it is on; its length in seconds (0 when off)."""
        if not self._enabled[kind]:
            return 0.0
        self.earcons_played = [*self.earcons_played[-15:], kind]
        self._play(earcon(kind, SPEAKER_RATE), SPEAKER_RATE)
        if not self.playing:
            # Mark the tone's end, so the player plays it out instead of waiting for more
            # (and counting an underrun when none comes).
            self._spawn(self._drain_quietly())
        return duration_s(kind)

    async def _drain_quietly(self) -> None:
        try:
            await self.player.drain()
        except AudioDeviceError as exc:
            self._failed(exc)

    # -- a failing player ----------------------------------------------------------------------

    def _play(self, pcm: bytes, rate: int) -> None:
        try:
            self.player.play(pcm, rate)
        except AudioDeviceError as exc:
            self._failed(exc)

    def _failed(self, exc: AudioDeviceError) -> None:
        if self.on_failure is not None:
            self.on_failure(exc)
            return
        if self._reopening:
            return
        self._reopening = True
        log.warning("speaker failed: %s; reopening it", exc, extra={"ERROR_CLASS": "transient"})
        self._spawn(self._reopen())

    async def _reopen(self) -> None:
        try:
            while True:
                try:
                    async with self.device_lock:
                        await self.player.close()
                        await self.player.start()
                except AudioDeviceError as exc:
                    log.debug("speaker still unavailable: %s", exc)
                    await self._sleep(REOPEN_DELAY_S)
                    continue
                log.info("speaker reopened")
                return
        finally:
            self._reopening = False
