"""Fixtures for the app tests: `rig_factory`, the in-process Daemon rig (appkit.py, on sys.path
from here)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

sys.path.insert(0, str(Path(__file__).parent))

from appkit import (
    BLUE,
    BUTTON,
    GREEN,
    KEY,
    QUIET,
    RED,
    TIMEOUT,
    Rig,
    RigFactory,
    merge,
    oracle,
    toml_of,
    until,
)

from edgevoice.adapters.credential_lookup import CredentialSource
from edgevoice.app.daemon import build_daemon
from edgevoice.config import parse_config
from edgevoice.sim import SimOptions, Simulator, VirtualClock, run_simulator


@pytest.fixture
async def rig_factory(rt_audio: Any, tmp_path: Path) -> AsyncIterator[RigFactory]:
    """`await rig_factory(settings, sim_options, virtual=False)`: a running daemon (stopped,
    and its frames checked with the SDK, at teardown). Call it again for a restart: the state
    directory is kept. `virtual` may be the VirtualClock to use; `devices_ready=False` returns
    before both devices work; other keywords go to `build_daemon`."""
    stack = AsyncExitStack()
    rigs: list[Rig] = []
    sims: dict[int, Simulator] = {}
    check = oracle()

    async def make(
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        sim: SimOptions | Simulator | None = None,
        *,
        virtual: bool | VirtualClock = False,
        devices_ready: bool = True,
        **build: Any,
    ) -> Rig:
        if isinstance(sim, Simulator):
            simulator = sim
        else:
            simulator = await stack.enter_async_context(
                run_simulator(sim or SimOptions(pace=0, lifetime_s=None))
            )
            sims[id(simulator)] = simulator
        base = {
            "live": {
                "endpoint": simulator.url,
                "model": "gemini-3.8-live",
                "keepalive_interval": 0,
                "follow_up_window": 600.0,
            },
            "audio": {"input_device": "mic", "output_device": "spk"},
            "button": {"pin": BUTTON},
            "led": {
                "enabled": True,
                "kind": "rgb",
                "red_pin": RED,
                "green_pin": GREEN,
                "blue_pin": BLUE,
            },
            "earcons": QUIET,
            "paths": {"state_dir": str(tmp_path / "state"), "runtime_dir": str(tmp_path / "run")},
        }
        config = parse_config(toml_of(merge(base, settings or {})), "test")
        clock = (
            virtual if isinstance(virtual, VirtualClock) else VirtualClock() if virtual else None
        )
        factory = MockFactory()
        daemon = build_daemon(
            config,
            credentials=CredentialSource(config.auth, environ={"GEMINI_API_KEY": KEY}),
            pin_factory=factory,
            **({"clock": clock.now, "sleep": clock.sleep} if clock is not None else {}),
            **build,
        )
        task = asyncio.create_task(daemon.run())
        await asyncio.wait_for(daemon.started.wait(), TIMEOUT)
        # Both devices open and the microphone delivering: a test never races the start-up.
        devices = daemon.devices
        if devices_ready:
            await until(lambda: devices.frames > 0 and not devices.broken)
        rig = Rig(daemon, config, simulator, factory, clock, rt_audio, task, tmp_path / "state")
        rigs.append(rig)
        return rig

    try:
        yield make
    finally:
        for rig in rigs:
            if not rig.task.done():
                rig.daemon.stop()
                await asyncio.wait_for(rig.task, TIMEOUT)
            rig.factory.close()
        for simulator in sims.values():
            for record in simulator.connections:
                for frame in record.received:
                    raw = frame.raw.decode() if isinstance(frame.raw, bytes) else frame.raw
                    check(raw)
            assert simulator.internal_errors == []
        await stack.aclose()
        for rig in rigs:  # a task that failed is a failure of the test
            assert rig.task.exception() is None, rig.task.exception()
