"""The real-time audio rig: the real daemon on virtual sound devices that keep a sound card's
pace, spoken to with espeak-ng, against the local Live simulator.

What `edgevoice demo`, the end-to-end tests, and the benchmarks and soak run stand on. Nothing in
the daemon imports it (only commands and tests do); it needs `pulseaudio`, `pulseaudio-utils`,
`libasound2-plugins` and `espeak-ng` (`make deps`), and says so in one line when they are missing
(`host.ToolsMissing`).

- `host`: what must be installed; `RigError`, `ToolsMissing`.
- `processes`: every child in its own process group, dying with the rig (parent-death signal),
  stopped at exit (`atexit`): no server, player or daemon outlives it.
- `pulse.PulseServer`: a private PulseAudio server with null sinks `micsink`/`spksink` behind
  ALSA's `pulse` plugin (`pcm.mic`, `pcm.spk`, `default`), in a directory of its own.
- `devices.RtAudio`: clips (espeak-ng speech, WAVs) played into the microphone at real-time
  pace, a noise floor, speaker and microphone recorders (timestamped: a position is a wall
  time), an acoustic echo path. `clips`, `recorder`: their pieces.
- `daemon`: `edgevoice run` as systemd starts it (credential file, runtime/state dirs, UMask,
  NOTIFY_SOCKET bound by the rig: `notify`), driven with `edgevoice ctl`, stopped with SIGTERM.
- `wire`: the simulator's record decoded (turns, their audio, replies, transcripts).
- `signals`: PCM, WAV, levels, cross-correlation (`align`, `pieces`, `breaks`).
- `demo`: what `edgevoice demo` runs (set-up, the checks, the verdict); `demo_talk`: its three
  turns; `demo_screen`: the labelled lines it prints as things happen.
"""

from edgevoice.rig.clips import Clip, Playing
from edgevoice.rig.daemon import (
    CtlResult,
    DaemonError,
    DaemonProcess,
    Daemons,
    DaemonSetup,
    run_command,
    socket_request,
    toml_text,
)
from edgevoice.rig.devices import EchoPath, NoiseFloor, RtAudio
from edgevoice.rig.host import RigError, ToolsMissing, missing_tools, require_tools
from edgevoice.rig.notify import Notification, NotifyListener
from edgevoice.rig.pulse import MIC_SINK, SINK_CHANNELS, SINK_RATE, SPK_SINK, PulseServer
from edgevoice.rig.recorder import SpeakerRecorder, SpeakerRecording

__all__ = [
    "MIC_SINK",
    "SINK_CHANNELS",
    "SINK_RATE",
    "SPK_SINK",
    "Clip",
    "CtlResult",
    "DaemonError",
    "DaemonProcess",
    "DaemonSetup",
    "Daemons",
    "EchoPath",
    "NoiseFloor",
    "Notification",
    "NotifyListener",
    "Playing",
    "PulseServer",
    "RigError",
    "RtAudio",
    "SpeakerRecorder",
    "SpeakerRecording",
    "ToolsMissing",
    "missing_tools",
    "require_tools",
    "run_command",
    "socket_request",
    "toml_text",
]
