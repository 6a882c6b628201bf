"""Device errors: the failing device is reopened with its own backoff while the rest keeps
running. An unplugged microphone (a PulseAudio sink unloaded, then loaded again with pactl) is
picked up again; a device that only appears later (a USB microphone plugged in after start-up)
is found once every PyAudio instance was terminated (PortAudio builds its device list only
then); a speaker whose FIFO closes mid-answer (EPIPE, a real device failure) is reopened once
a reader is back."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from appkit import TIMEOUT, RigFactory, until

from edgevoice.adapters.capture import PyAudioCapture
from edgevoice.adapters.playback import PyAudioPlayback
from edgevoice.errors import DeviceNotFoundError

_spec = importlib.util.spec_from_file_location(
    "audio_fifo_kit", Path(__file__).parent.parent / "audio" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_audio = importlib.util.module_from_spec(_spec)
sys.modules["audio_fifo_kit"] = _audio  # its dataclasses look their module up
_spec.loader.exec_module(_audio)
Fifo, FifoDrain = _audio.Fifo, _audio.FifoDrain  # tests/audio's FIFO helpers


class UsbMicrophone:
    """A microphone that can be unplugged: a PulseAudio server of its own (its `micsink`
    monitor is `pcm.<name>` in this test's ALSA config, on top of the session's devices).
    Stopping the server is an unplug: the stream dies with it, and the device cannot be opened
    until it is started again."""

    def __init__(self, rt: Any, name: str, directory: Path, monkeypatch: pytest.MonkeyPatch):
        import rtkit

        self.name = name
        self.server = rtkit.PulseServer(directory / name)
        self.server.directory.mkdir()
        self.config = directory / "asound-usb.conf"
        self.base = rt.server.alsa_config.read_text()
        monkeypatch.setenv("ALSA_CONFIG_PATH", str(self.config))

    def write_config(self, *, with_pcm: bool = True) -> None:
        pcm = (
            f'pcm.{self.name} {{ type pulse server "{self.server.server}" '
            'device "micsink.monitor" }\n'
        )
        self.config.write_text(self.base + (pcm if with_pcm else ""))

    def plug(self) -> None:
        self.server.start()

    def unplug(self) -> None:
        self.server.stop()


@pytest.fixture
def usb_sink(
    rt_audio: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UsbMicrophone]:
    sink = UsbMicrophone(rt_audio, "usbmic", tmp_path, monkeypatch)
    try:
        yield sink
    finally:
        sink.unplug()


async def test_an_unplugged_microphone_is_picked_up_again(
    rig_factory: RigFactory, usb_sink: UsbMicrophone
) -> None:
    usb_sink.plug()
    usb_sink.write_config()
    rig = await rig_factory({"audio": {"input_device": "usbmic"}})
    devices = rig.daemon.devices
    usb_sink.unplug()
    await until(lambda: "microphone" in devices.broken)
    await until(lambda: "Microphone unavailable" in rig.conversation.status_text)
    # The rest keeps running: a text turn is answered without a microphone.
    await rig.ctl("say", text="Are you still there?")
    await rig.wait_answers(1)
    frames = devices.frames
    usb_sink.plug()
    await until(lambda: not devices.broken and devices.frames > frames + 25)
    assert devices.reopens >= 1
    await until(lambda: "unavailable" not in rig.conversation.status_text)
    rig.press()
    await until(lambda: rig.audio_sent() > 32000 * 1.2)
    rig.release()
    turns = await rig.wait_turns(1)
    assert turns[-1].ended and turns[-1].seconds > 1.0
    rig.daemon.stop()
    await asyncio.wait_for(rig.task, TIMEOUT)


async def test_portaudio_sees_a_new_device_only_after_every_instance_is_gone(
    rt_audio: Any, usb_sink: UsbMicrophone
) -> None:
    """The premise of the PortAudio restart: with a stream open (its PyAudio instance alive), a
    device added to the ALSA configuration is not found by a new instance."""
    usb_sink.plug()
    usb_sink.write_config(with_pcm=False)
    speaker = PyAudioPlayback(device="spk")
    await speaker.start()
    usb_sink.write_config(with_pcm=True)
    mic = PyAudioCapture(device="usbmic")
    try:
        with pytest.raises(DeviceNotFoundError):
            await mic.start()
        await speaker.close()  # the last instance is gone: the next one reads the list anew
        await mic.start()
        assert mic.device is not None and mic.device.name == "usbmic"
    finally:
        await mic.close()
        await speaker.close()


async def test_a_microphone_plugged_in_after_start_up_is_found(
    rig_factory: RigFactory, usb_sink: UsbMicrophone
) -> None:
    usb_sink.plug()
    usb_sink.write_config(with_pcm=False)  # not there when the daemon starts
    rig = await rig_factory({"audio": {"input_device": "usbmic"}}, devices_ready=False)
    devices = rig.daemon.devices
    await until(lambda: rig.daemon.ready.is_set())  # READY does not wait for the microphone
    assert "microphone" in devices.broken and "speaker" not in devices.broken
    usb_sink.write_config(with_pcm=True)  # plugged in
    await until(lambda: not devices.broken and devices.frames > 10)
    assert devices.portaudio_restarts >= 1  # the speaker was closed too, then reopened


async def test_a_speaker_that_fails_mid_answer_is_reopened_while_the_microphone_runs(
    rig_factory: RigFactory, rt_audio: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = Fifo(tmp_path / "spk.fifo")
    config = tmp_path / "asound-fifo.conf"
    config.write_text(
        rt_audio.alsa_config.read_text()
        + f'pcm.fifospk {{ type file slave.pcm {{ type null }} file "{fifo.path}" '
        'format "raw" }\n'
    )
    monkeypatch.setenv("ALSA_CONFIG_PATH", str(config))
    drain = FifoDrain(fifo)
    rig = await rig_factory({"audio": {"output_device": "fifospk"}})
    devices = rig.daemon.devices
    await rig.ctl("say", text="Say something long enough to be cut off in the middle.")
    await until(lambda: rig.daemon.player.stats.audio_handed > 4800)  # type: ignore[attr-defined]
    drain.stop()
    fifo.close()  # unplugged: the device's next write fails with EPIPE
    await rig.wait_answers(1)
    await rig.ctl("say", text="And now?")  # its answer finds the speaker gone
    await until(lambda: "speaker" in devices.broken)
    frames = devices.frames
    await until(lambda: devices.frames > frames + 25)  # the microphone is not disturbed
    # Plugged in again: a reader on the FIFO; the reopen that waited for it goes through.
    fd = os.open(fifo.path, os.O_RDWR)
    back = FifoDrain(type("F", (), {"fd": fd})())  # type: ignore[arg-type]
    try:
        await until(lambda: "speaker" not in devices.broken)
        await rig.wait_state("idle", "offline", "thinking")
        await rig.ctl("say", text="Again, please.")
        await rig.wait_answers(3)
        await until(lambda: len(back.data) > 48000)  # the answer reached the speaker again
    finally:
        rig.daemon.stop()
        await asyncio.wait_for(rig.task, TIMEOUT)
        back.stop()
        os.close(fd)


def test_a_stuck_portaudio_call_is_never_joined_by_the_next_one() -> None:
    """A stream call left running in its helper thread (its caller gave up) keeps PortAudio;
    the next call waits for it within its own limit, then fails naming the cause."""
    import threading

    from edgevoice.adapters.audio_devices import exclusive
    from edgevoice.errors import AudioDeviceError

    inside = threading.Event()
    release = threading.Event()
    overlap: list[str] = []

    def stuck() -> None:
        inside.set()
        release.wait(10)

    worker = threading.Thread(target=exclusive, args=(stuck, 5.0, "open the capture device"))
    worker.start()
    assert inside.wait(5)
    with pytest.raises(AudioDeviceError) as caught:
        exclusive(lambda: overlap.append("ran"), 0.2, "open the playback device")
    assert overlap == []  # never alongside the stuck call
    assert "an earlier PortAudio call is still stuck" in str(caught.value)
    release.set()
    worker.join(5)
    assert exclusive(lambda: "ran", 1.0, "open the playback device") == "ran"
