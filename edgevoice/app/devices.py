"""The microphone and the speaker: opened at start-up, reopened with their own backoff when
they fail, while the rest of the daemon keeps running.

Two tasks of the daemon's TaskGroup:

- `pump()`: capture frames -> the controller (`MicFrame`), counting them (`frames`: the
  watchdog's evidence that the audio path is alive). `mic_missing` says the microphone cannot
  be opened at all (not found, busy, refused): a known state the doctor keeps working on, as
  opposed to a stream that opens and then delivers nothing (a stall). A failing stream
  (unplugged, stalled) hands the microphone to the doctor and waits until it is open again.
- `doctor()`: opens what is not open: both devices at start-up, then whatever failed (the
  pump's microphone, or the speaker the controller's `Speaker` reports through
  `speaker_failed`). Attempts back off from `DEVICE_RETRY_S[0]` to `DEVICE_RETRY_S[1]`. The
  first attempt reopens the failed device alone; the next ones restart PortAudio: every stream
  is closed (the other device too, unless it is busy: the speaker playing, a turn open), so no
  PyAudio instance is left and PortAudio builds its device list anew, which is the only way it
  sees a USB device plugged in again. Each distinct failure is one warning line; STATUS= says
  which device is unavailable (`DeviceProblem`) until it works again.

Every open, start and close runs under the daemon's device lock (one PortAudio operation at a
time). At the stop neither task is cancelled inside PortAudio: both end by themselves once an
open under way has finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from edgevoice.app.inputs import DeviceProblem, Input, MicFrame
from edgevoice.errors import AudioDeviceError, DeviceStalledError
from edgevoice.ports import AudioSink, AudioSource
from edgevoice.redact import printable

log = logging.getLogger("edgevoice.devices")

DEVICE_RETRY_S = (1.0, 30.0)  # first and longest wait before reopening a failed device
MICROPHONE, SPEAKER = "microphone", "speaker"


class Devices:
    """See the module docstring. `busy(device)` tells whether closing that device now would
    cut something (the speaker playing an answer, the microphone in a turn); `post` hands
    inputs to the controller; `stop` is the daemon's stop event."""

    def __init__(
        self,
        source: AudioSource,
        player: AudioSink,
        lock: asyncio.Lock,
        *,
        post: Callable[[Input], None],
        stop: asyncio.Event,
        busy: Callable[[str], bool] = lambda _device: False,
        retry: tuple[float, float] = DEVICE_RETRY_S,
    ) -> None:
        self.source = source
        self.player = player
        self.lock = lock
        self._post = post
        self._stop = stop
        self._busy = busy
        self._retry = retry
        self.frames = 0  # capture frames delivered since start
        self.mic_missing = False  # the microphone's last open failed (other than a stall)
        self.reopens = 0  # successful reopens after a failure
        self.portaudio_restarts = 0  # attempts that closed every stream first
        self.first_attempt = asyncio.Event()  # both devices tried once (READY=1 may go out)
        self.broken: dict[str, str] = {MICROPHONE: "not opened yet", SPEAKER: "not opened yet"}
        self._mic_open = asyncio.Event()
        self._trouble = asyncio.Event()
        self._trouble.set()
        self._reported: dict[str, str] = {}
        self._problem = ""

    # -- the microphone pump -----------------------------------------------------------------

    async def pump(self) -> None:
        """Capture frames -> the controller, until the stop."""
        while not self._stop.is_set():
            if not await self._until(self._mic_open):
                return
            try:
                async for frame in self.source.frames():
                    self.frames += 1
                    self._post(MicFrame(frame))
            except AudioDeviceError as exc:
                self._failed(MICROPHONE, exc)
            else:
                # The stream was closed: by the stop, or by the doctor restarting PortAudio.
                if self._mic_open.is_set() and not self._stop.is_set():
                    self._failed(MICROPHONE, AudioDeviceError("the microphone stream ended"))

    def speaker_failed(self, exc: AudioDeviceError) -> None:
        """The speaker failed (play, drain): the doctor reopens it."""
        self._failed(SPEAKER, exc)

    def _failed(self, device: str, exc: AudioDeviceError) -> None:
        if device in self.broken:
            return
        if device == MICROPHONE:
            self._mic_open.clear()
        self.broken[device] = str(exc)
        self._trouble.set()

    # -- the doctor ----------------------------------------------------------------------------

    async def doctor(self) -> None:
        """Open what is not open, with backoff (see the module docstring), until the stop."""
        delay = self._retry[0]
        attempt = 0
        try:
            while not self._stop.is_set():
                if not self.broken:
                    self._trouble.clear()
                    if not await self._until(self._trouble):
                        return
                    continue
                attempt += 1
                await self._attempt(restart=attempt > 1 and self.first_attempt.is_set())
                self.first_attempt.set()
                self._show_problem()
                if not self.broken:
                    delay, attempt = self._retry[0], 0
                    continue
                await self._pause(delay)
                delay = min(delay * 2, self._retry[1])
        finally:
            self.first_attempt.set()

    async def _attempt(self, *, restart: bool) -> None:
        """One try at opening every broken device (after closing every stream, to restart
        PortAudio, when `restart` and nothing would be cut)."""
        async with self.lock:
            if self._stop.is_set():
                return
            if restart:
                others = [d for d in (MICROPHONE, SPEAKER) if d not in self.broken]
                if not any(self._busy(d) for d in others):
                    self.portaudio_restarts += 1
                    for device in others:
                        if device == MICROPHONE:
                            self._mic_open.clear()
                        self.broken[device] = "closed to restart PortAudio"
                    log.debug("restarting PortAudio: every stream closed, then reopened")
            for device in list(self.broken):
                reason = self.broken[device]
                try:
                    await self._close(device)
                    if self._stop.is_set():
                        return
                    await self._open(device)
                except AudioDeviceError as exc:
                    self.broken[device] = str(exc)
                    self._report(device, str(exc))
                    if device == MICROPHONE:
                        self.mic_missing = not isinstance(exc, DeviceStalledError)
                    continue
                del self.broken[device]
                if device == MICROPHONE:
                    self.mic_missing = False
                    self._mic_open.set()
                if device in self._reported:
                    del self._reported[device]
                    self.reopens += 1
                    log.info("%s open again", device)
                elif reason not in ("not opened yet", "closed to restart PortAudio"):
                    self.reopens += 1
                    log.info("%s reopened after: %s", device, printable(reason, 200))

    async def _open(self, device: str) -> None:
        if device == MICROPHONE:
            await self.source.start()
        else:
            await self.player.start()

    async def _close(self, device: str) -> None:
        if device == MICROPHONE:
            await self.source.close()
        else:
            await self.player.close()

    def _report(self, device: str, text: str) -> None:
        """One warning per distinct failure of a device (debug lines while it persists)."""
        level = logging.DEBUG if self._reported.get(device) == text else logging.WARNING
        self._reported[device] = text
        log.log(
            level,
            "%s unavailable: %s; trying again (less and less often, at most every %.0f s)",
            device,
            printable(text, 300),
            self._retry[1],
            extra={"ERROR_CLASS": "transient", "DEVICE": device},
        )

    def _show_problem(self) -> None:
        failing = [d for d in (MICROPHONE, SPEAKER) if d in self._reported]
        text = " and ".join(failing) + " unavailable, retrying" if failing else ""
        if text:
            text = text[0].upper() + text[1:]
        if text != self._problem:
            self._problem = text
            self._post(DeviceProblem(text))

    # -- waiting -------------------------------------------------------------------------------

    async def _until(self, event: asyncio.Event) -> bool:
        """Wait for `event`; False when the daemon stops first."""
        if event.is_set():
            return True
        stop = asyncio.ensure_future(self._stop.wait())
        wanted = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait([stop, wanted], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            wanted.cancel()
        return event.is_set() and not self._stop.is_set()

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or less when the daemon stops meanwhile."""
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            pass
