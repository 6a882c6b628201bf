"""The app tests' rig: the real Daemon in this process, against the simulator on loopback, on
real-time audio devices (the `rt_audio` harness: PulseAudio null sinks behind ALSA's pulse
plugin), with gpiozero's MockFactory for the button and the LED. The `rig_factory` fixture
(conftest.py) builds it; test modules import this module as `appkit`.

    async def test_x(rig_factory):
        rig = await rig_factory({"button": {"mode": "toggle"}}, SimOptions(pace=0))
        rig.press(); ...; rig.release()
        (turn,) = await rig.turns(1)

Everything is real except the pins (MockFactory: no GPIO here) and, where a test asks for it,
time (`virtual=True`: the controller's timers run on the simulator's VirtualClock, so a
follow-up window or a response timeout passes with `await rig.clock.advance(s)`). At teardown
the daemon is stopped (its connection closes, its state is flushed), every frame it sent is
validated against the official SDK's types (tests/live/conftest.py) and the simulator must
have hit no bug of its own.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockFactory

from edgevoice.adapters.control_socket import socket_path
from edgevoice.app.daemon import Daemon
from edgevoice.config import Config
from edgevoice.rig import wire as rig_wire
from edgevoice.rig.daemon import EARCONS_OFF, socket_request
from edgevoice.rig.wire import MIC_MIME, Item, Turn, audio_outside_turns
from edgevoice.sim import ConnectionRecord, Simulator, VirtualClock

KEY = "AQ.app9-daemon-test-key-71c4e0"
BUTTON = 17
RED, GREEN, BLUE = 22, 23, 24
TIMEOUT = 30.0  # a hang guard, never a measurement
LIVE_CONFTEST = Path(__file__).parent.parent / "live" / "conftest.py"

QUIET = dict(EARCONS_OFF)


def oracle() -> Callable[[str], Any]:
    """The SDK oracle of tests/live/conftest.py (`check_client_frame`)."""
    spec = importlib.util.spec_from_file_location("app_live_oracle", LIVE_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    check: Callable[[str], Any] = module.check_client_frame
    return check


# --------------------------------------------------------------------------------------------
# What the daemon sent, as the simulator received it


def wire(record: ConnectionRecord) -> list[Item]:
    """The rig's reading of a connection's frames, asserting each is well formed and each
    audio chunk is 16 kHz PCM."""
    items = rig_wire.wire(record)
    for item in items:
        assert item.kind != "malformed", item
        if item.kind == "audio":
            assert item.mime == MIC_MIME, item.mime
    return items


def turns_of(items: list[Item]) -> list[Turn]:
    """activityStart ... activityEnd brackets (the rig's `turns_of` raises when they are
    broken), asserting no audio went out between them."""
    assert audio_outside_turns(items) == 0, "audio sent outside a turn"
    return rig_wire.turns_of(items)


# --------------------------------------------------------------------------------------------
# The rig


@dataclass
class Rig:
    daemon: Daemon
    config: Config
    sim: Simulator
    factory: MockFactory
    clock: VirtualClock | None
    rt: Any  # rtkit.RtAudio
    task: asyncio.Task[None]
    state_dir: Path

    @property
    def conversation(self) -> Any:
        return self.daemon.conversation

    # --- the button and the LED --------------------------------------------------------------
    def press(self) -> None:
        self.factory.pin(BUTTON).drive_low()  # pull-up: pressed pulls the pin to ground

    def release(self) -> None:
        self.factory.pin(BUTTON).drive_high()

    def led_pins(self) -> tuple[Any, Any, Any]:
        """The MockPins of the RGB LED (red, green, blue)."""
        return tuple(self.factory.pin(p) for p in (RED, GREEN, BLUE))  # type: ignore[return-value]

    @staticmethod
    def pin_history(pin: Any) -> list[int]:
        """The levels a pin took since its `clear_states()`, repeats folded."""
        levels: list[int] = []
        for state in pin.states:
            level = int(state.state)
            if not levels or levels[-1] != level:
                levels.append(level)
        return levels

    def pins(self) -> tuple[int, int, int]:
        """(red, green, blue) as the LED shows them now."""
        return tuple(int(self.factory.pin(p).state) for p in (RED, GREEN, BLUE))  # type: ignore[return-value]

    # --- the control socket ------------------------------------------------------------------
    async def request(self, body: Mapping[str, Any] | bytes) -> Any:
        """One line on the control socket; the parsed reply (None if it closed without one)."""
        return await socket_request(socket_path(self.config.paths.runtime_dir), body, TIMEOUT)

    async def ctl(self, cmd: str, **fields: Any) -> dict[str, Any]:
        reply = await self.request({"cmd": cmd, **fields})
        assert reply is not None and reply["ok"], reply
        return dict(reply)

    # --- what the simulator saw --------------------------------------------------------------
    def items(self) -> list[Item]:
        return [item for record in self.sim.connections for item in wire(record)]

    def turns(self) -> list[Turn]:
        return turns_of(self.items())

    def audio_sent(self) -> int:
        return sum(len(i.value) for i in self.items() if i.kind == "audio")

    async def wait_turns(self, count: int) -> list[Turn]:
        await until(lambda: sum(t.ended for t in self.turns()) >= count)
        return self.turns()

    async def wait_answers(self, count: int) -> None:
        """Until the simulator completed `count` user turns (answers sent)."""
        await self.sim.wait_for(lambda e: e.kind == "turn" and e.turn >= count, timeout_s=TIMEOUT)

    async def wait_state(self, *states: str) -> None:
        await until(lambda: self.conversation.state.value in states)


async def until(predicate: Callable[[], bool], timeout_s: float = TIMEOUT) -> None:
    """Poll `predicate` (a hang guard of `timeout_s`, never a measurement)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for section, values in extra.items():
        out.setdefault(section, {}).update(values)
    return out


def toml_value(value: Any) -> str:
    """A TOML value (inline tables for dicts; JSON's strings and numbers are TOML's)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def toml_of(settings: Mapping[str, Mapping[str, Any]]) -> str:
    lines = []
    for section, values in settings.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


RigFactory = Callable[..., Awaitable[Rig]]
