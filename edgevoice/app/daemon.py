"""The daemon: the adapters built from the config, and one TaskGroup running them.

`build_daemon(config, ...)` (inside the running event loop) builds every part from the config:
the microphone and the speaker (PyAudio on ALSA), the voice trigger (webrtcvad and the voice
gate), the button and the LED (gpiozero; none on a machine without GPIO, after one warning
line), the state store, the usage ledger, the connection policy and the conversation
controller. Tests pass what they must replace: gpiozero's MockFactory (`pin_factory`), a
virtual clock and sleep, the credential's environment, the backoff's delays, a notify socket;
everything else is the real thing.

`Daemon.run()` runs until `stop()`, in one TaskGroup:

- the devices (`edgevoice.app.devices`): the microphone pump (capture frames -> the
  controller) and the doctor that opens both devices and reopens a failing one;
- the button: press, release, long press -> the controller (toggle mode makes presses clicks);
- the control server: each request -> the controller, which answers it;
- the conversation controller (with its supervisor: `edgevoice.app.supervisor`);
- the service manager's view (`edgevoice.adapters.systemd_notify`, a no-op off systemd):
  READY=1 once both devices were tried (config valid and audio open; not waiting for the
  network; a device that is missing at boot is retried and shown in STATUS=, the daemon does
  not wait for it), STATUS= on every change of what the device does, and WATCHDOG=1 every half
  watchdog period while capture frames keep arriving, or while the microphone is missing and
  being looked for (a microphone that went silently dead, or a hung loop, gets the service
  restarted; one that is unplugged is found again in-process).

Stopping cancels the group: the connection closes with 1000, running tools are killed,
playback stops, the state (handle, mute, volume, the day's usage) is written and fsynced
before the devices are closed, the LED goes off.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from edgevoice import control_protocol as cp
from edgevoice.adapters import trace
from edgevoice.adapters.capture import PyAudioCapture
from edgevoice.adapters.control_socket import ControlServer, ControlSocketError, socket_path
from edgevoice.adapters.credential_lookup import CredentialSource
from edgevoice.adapters.gpio import open_button, open_led
from edgevoice.adapters.playback import PyAudioPlayback
from edgevoice.adapters.state_store import JsonStateStore
from edgevoice.adapters.systemd_notify import NullNotifier
from edgevoice.adapters.ws import LiveConnection
from edgevoice.app.backoff import Delays, delays_from
from edgevoice.app.conversation import Conversation
from edgevoice.app.devices import MICROPHONE, SPEAKER, Devices
from edgevoice.app.inputs import Click, ControlInput, EndConversation, Press, Release
from edgevoice.app.link import Connector
from edgevoice.app.log_setup import LOG_CONTEXT
from edgevoice.app.mic import MicPath
from edgevoice.app.policy import ConnectionPolicy
from edgevoice.app.session_config import LivePlan, live_plan
from edgevoice.app.speaker import Player
from edgevoice.audio.vad_gate import GateTiming, VoiceGate
from edgevoice.config import Config
from edgevoice.limits import UsageLedger
from edgevoice.live.frames import Setup
from edgevoice.live.json_view import JsonValue
from edgevoice.ports import (
    AudioSource,
    Indicator,
    ServiceNotifier,
    StateStore,
    TriggerKind,
    TriggerSource,
)
from edgevoice.redact import printable

log = logging.getLogger("edgevoice.daemon")


class Daemon:
    """The running daemon (see the module docstring). Build it with `build_daemon`."""

    def __init__(
        self,
        conversation: Conversation,
        *,
        source: AudioSource,
        player: Player,
        store: StateStore,
        button: TriggerSource | None = None,
        button_toggles: bool = False,
        indicator: Indicator | None = None,
        control: ControlServer | None = None,
        notifier: ServiceNotifier | None = None,
        watchdog_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.conversation = conversation
        self.source = source
        self.player = player
        self.store = store
        self.button = button
        self.button_toggles = button_toggles
        self.indicator = indicator
        self.control = control
        self.notifier: ServiceNotifier = notifier or NullNotifier()
        self._watchdog_sleep = watchdog_sleep
        self._stop = asyncio.Event()
        # One PortAudio operation (open, start, close) at a time: the capture and the playback
        # stream each have a PyAudio instance, and PortAudio's calls on two of them from two
        # threads at once have aborted the process (seen under load with the pulse plugin).
        self.devices = Devices(
            source,
            player,
            asyncio.Lock(),
            post=conversation.post,
            stop=self._stop,
            busy=self._device_busy,
        )
        conversation.speaker.on_failure = self.devices.speaker_failed
        conversation.speaker.device_lock = self.devices.lock
        self.started = asyncio.Event()  # set once every part runs (tests wait for it)
        self.ready = asyncio.Event()  # READY=1 went out (both devices were tried)
        self.watchdog_pings = 0

    def stop(self) -> None:
        """Ask `run()` to end (from the loop's thread, e.g. a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _device_busy(self, device: str) -> bool:
        c = self.conversation
        if device == SPEAKER:
            return c.speaker.playing
        return device == MICROPHONE and c.turn is not None

    async def run(self) -> None:
        """Run until `stop()`; then shut everything down cleanly (see the module docstring)."""
        conversation = self.conversation
        notifier = self.notifier
        conversation.on_status = notifier.status
        if self.control is not None:
            try:
                await self.control.start()
            except ControlSocketError as exc:
                log.warning("%s; the daemon runs on without `edgevoice ctl`", exc)
                self.control = None
        try:
            async with asyncio.TaskGroup() as group:
                # The device tasks are not cancelled at the stop: they end by themselves once a
                # device open under way has finished (a PortAudio start-up left running in its
                # thread when the process exits aborts it).
                group.create_task(self.devices.pump(), name="microphone")
                group.create_task(self.devices.doctor(), name="devices")
                tasks = [
                    group.create_task(conversation.run(), name="conversation"),
                    group.create_task(self._announce_ready(), name="ready"),
                    group.create_task(self._watchdog(), name="watchdog"),
                ]
                if self.button is not None:
                    tasks.append(group.create_task(self._button(self.button), name="button"))
                if self.control is not None:
                    tasks.append(group.create_task(self.control.serve(), name="control"))
                self.started.set()
                log.info("edgevoice is running")
                await self._stop.wait()
                log.info("stopping")
                # The handle and the rest first: whatever hangs later cannot cost them.
                self.store.save_usage(conversation.ledger.snapshot())
                await asyncio.to_thread(self.store.flush)
                for task in tasks:
                    task.cancel()
                # Closing the microphone ends its frames() loop: the pump returns by itself.
                async with self.devices.lock:
                    await self.source.close()
        finally:
            await self._shut_down()

    async def _shut_down(self) -> None:
        conversation = self.conversation
        if self.control is not None:
            await self.control.close()
        # The state first: a device that hangs while closing must not cost the handle.
        self.store.save_usage(conversation.ledger.snapshot())
        await asyncio.to_thread(self.store.close)
        async with self.devices.lock:
            await self.player.close()
            await self.source.close()
        if self.button is not None:
            await self.button.close()
        if self.indicator is not None:
            self.indicator.close()
        LOG_CONTEXT.clear()
        log.info("stopped")

    # -- the service manager's view --------------------------------------------------------

    async def _announce_ready(self) -> None:
        """READY=1 once both devices were tried (open or being retried)."""
        await self.devices.first_attempt.wait()
        self.notifier.ready(self.conversation.status_line())
        self.ready.set()
        log.info("ready: %s", self.conversation.status_line())

    async def _watchdog(self) -> None:
        """WATCHDOG=1 every half watchdog period while capture frames keep arriving, or while
        the microphone is missing (it cannot be opened: a known state, retried here, where a
        restart would not help). A microphone that opens and then delivers nothing, or a hung
        loop, stops the pings: systemd restarts the service."""
        interval = self.notifier.watchdog_interval()
        if interval is None:
            return
        devices = self.devices
        seen = devices.frames
        fed = True
        while True:
            await self._watchdog_sleep(interval)
            frames = devices.frames
            alive = frames != seen or devices.mic_missing
            seen = frames
            if alive:
                if not fed:
                    log.info("the audio path is alive again: the watchdog is fed")
                fed = True
                self.notifier.watchdog()
                self.watchdog_pings += 1
            elif fed:
                fed = False
                log.warning(
                    "no capture frames for %.0f s: the watchdog is no longer fed; systemd "
                    "restarts edgevoice if the microphone does not come back",
                    interval,
                    extra={"ERROR_CLASS": "transient", "DEVICE": MICROPHONE},
                )

    # -- the parts -------------------------------------------------------------------------

    async def _button(self, button: TriggerSource) -> None:
        post = self.conversation.post
        async for event in button.events():
            match event.kind:
                case TriggerKind.PRESS:
                    post(Click("button") if self.button_toggles else Press("button"))
                case TriggerKind.RELEASE:
                    if not self.button_toggles:
                        post(Release("button"))
                case TriggerKind.LONG_PRESS:
                    # In hold mode holding is talking: a long hold is a long turn, not a request
                    # to end the conversation (ctl cancel, the follow-up window or the model
                    # end it there).
                    if self.button_toggles:
                        post(EndConversation("button"))

    async def handle_control(self, request: cp.Request) -> dict[str, JsonValue]:
        """The control server's handler: the controller answers every request."""
        if (tracer := trace.TRACER) is not None:
            tracer.mark("ctl", request.cmd)
        reply: asyncio.Future[dict[str, JsonValue]] = asyncio.get_running_loop().create_future()
        self.conversation.post(ControlInput(request, reply))
        return await reply


# --------------------------------------------------------------------------------------------
# Building it from the config


def local_zone_name(environ: dict[str, str] | None = None) -> str:
    """The device's time zone name ("Europe/Berlin"), or "" when it cannot be told (the
    datetime's own abbreviation is used then)."""
    env = os.environ if environ is None else environ
    tz = env.get("TZ", "").lstrip(":")
    if tz and not tz.startswith("/"):
        return printable(tz, 64)
    try:
        target = os.readlink(tz or "/etc/localtime")
    except OSError:
        return ""
    _, found, name = target.partition("zoneinfo/")
    return printable(name, 64) if found else ""


def connector(
    plan: LivePlan, credentials: CredentialSource, clock: Callable[[], float]
) -> Connector:
    """Open a connection: a fresh credential (a token command runs for each), the WebSocket,
    the setup and its setupComplete."""

    async def connect(setup: Setup) -> LiveConnection:
        credential = await credentials.resolve_async()
        return await LiveConnection.open(plan.endpoint, credential, setup, clock=clock)

    return connect


def build_daemon(
    config: Config,
    *,
    plan: LivePlan | None = None,
    credentials: CredentialSource | None = None,
    connect: Connector | None = None,
    pin_factory: Any = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    wall: Callable[[], float] = time.time,
    today: Callable[[], dt.date] = dt.date.today,
    local_now: Callable[[], dt.datetime] = lambda: dt.datetime.now().astimezone(),
    is_speech: Callable[[bytes], bool] | None = None,
    delays: Delays | None = None,
    notifier: ServiceNotifier | None = None,
    wrap_source: Callable[[AudioSource], AudioSource] | None = None,
    wrap_connect: Callable[[Connector], Connector] | None = None,
) -> Daemon:
    """The daemon for `config`, every part built from it (call inside the running loop).

    Raises ConfigError when the config cannot start (`live_plan`). The injectable parts are for
    tests (see the module docstring); `is_speech` replaces webrtcvad's verdict only where a
    test must decide what is speech; `delays` the backoff (default: `[reconnect]`);
    `notifier` the service manager's socket (default: none); `wrap_source` and `wrap_connect`
    put a layer between the microphone, or the connector, and the rest (a test that counts
    frames, or holds a connection attempt).
    """
    loop = asyncio.get_running_loop()
    trace.start_from_environment()  # `edgevoice bench` measures through it (off by default)
    plan = plan or live_plan(config)
    credentials = credentials or CredentialSource(config.auth)
    store = JsonStateStore(config.paths.state_dir)
    saved = store.load()
    audio = config.audio
    source = PyAudioCapture(
        device=audio.input_device,
        rate=audio.input_rate,
        channels=audio.input_channels,
        downmix=audio.downmix,
        gain_db=audio.input_gain_db,
        period_ms=audio.period_ms,
        queue_frames=audio.capture_queue_frames,
    )
    player = PyAudioPlayback(
        device=audio.output_device,
        rate=audio.output_rate,
        channels=audio.output_channels,
        volume=saved.volume if saved.volume is not None else audio.volume,
        prebuffer_ms=audio.playback_prebuffer_ms,
        period_ms=audio.period_ms,
    )
    mode = config.trigger.mode
    vad = config.vad
    gate = None
    if mode in ("voice", "both"):
        if is_speech is None:
            from edgevoice.adapters.vad import WebRtcVad

            is_speech = WebRtcVad(vad.aggressiveness).is_speech
        gate = VoiceGate(
            GateTiming(
                onset_ms=vad.onset_ms,
                min_utterance_ms=vad.min_utterance_ms,
                end_ms=vad.end_ms,
                preroll_ms=vad.preroll_ms,
                max_turn_ms=round(config.limits.max_turn_s * 1000),
            )
        )
    else:
        is_speech = None
    mic = MicPath(
        preroll_ms=vad.preroll_ms,
        gate=gate,
        is_speech=is_speech,
        half_duplex=vad.half_duplex,
        echo_tail_s=vad.echo_tail_ms / 1000,
    )
    button = None
    if mode in ("button", "both"):
        b = config.button
        button = open_button(
            b.pin,
            loop=loop,
            pull_up=b.pull_up,
            bounce_ms=b.bounce_ms,
            long_press_s=b.long_press_s,
            pin_factory=pin_factory,
        )
    indicator = None
    if config.led.enabled:
        led = config.led
        rgb = led.kind == "rgb"
        indicator = open_led(
            (led.red_pin, led.green_pin, led.blue_pin) if rgb else (led.pin,),
            kind="rgb" if rgb else "single",
            pwm=led.kind == "pwm",
            active_high=led.active_high,
            pin_factory=pin_factory,
        )
    limits = config.limits
    ledger = UsageLedger(
        max_turn_s=limits.max_turn_s, daily_audio_s=limits.daily_audio_s or None, today=today()
    )
    if saved.usage is not None:
        ledger.restore(saved.usage, today())
    policy = ConnectionPolicy(
        plan,
        store,
        saved.resumption,
        resumption=config.live.resumption,
        window_s=config.live.resumption_window,
        delays=delays or delays_from(config.reconnect),
        throttled_s=config.reconnect.throttled_delay,
        wall=wall,
        clock=clock,
    )

    def device_counters() -> dict[str, JsonValue]:
        return {
            "capture_dropped_frames": source.stats.dropped_frames,
            "playback_underruns": player.stats.underruns,
        }

    connect = connect or connector(plan, credentials, clock)
    conversation = Conversation(
        config,
        policy=policy,
        connect=wrap_connect(connect) if wrap_connect is not None else connect,
        player=player,
        mic=mic,
        store=store,
        ledger=ledger,
        indicator=indicator,
        muted=saved.muted,
        clock=clock,
        sleep=sleep,
        today=today,
        local_now=local_now,
        time_zone=local_zone_name(),
        device_counters=device_counters,
    )
    daemon = Daemon(
        conversation,
        source=wrap_source(source) if wrap_source is not None else source,
        player=player,
        store=store,
        button=button,
        button_toggles=config.button.mode == "toggle",
        indicator=indicator,
        notifier=notifier,
    )
    if config.control.enabled:
        group = config.control.group
        daemon.control = ControlServer(
            socket_path(config.paths.runtime_dir),
            daemon.handle_control,
            int(group) if group.isdigit() else (group or None),
        )
    if saved.muted:
        log.info("the microphone is muted (since before the restart); `edgevoice ctl unmute`")
    return daemon
