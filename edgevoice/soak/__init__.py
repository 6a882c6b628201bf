"""The soak and fault run (`edgevoice soak`, `make soak`): the real daemon process against the
local Live simulator for minutes, with faults injected at random from a seeded RNG, and the
accounting that says whether anything was lost, doubled or leaked.

- `plan`: the seeded choices (turn kinds, pauses, faults and their moments);
- `inject`: carrying faults out (the simulator's knobs while it runs; the microphone's
  PulseAudio source unloaded and loaded again);
- `accounting`: frames the daemon put into turns vs frames the simulator received, across
  reconnects and rotations;
- `probe`: the daemon's RSS, fds and threads (/proc) and asyncio tasks (its status);
- `report`: the report and the verdict; `run`: one soak (`Soak`, `SoakOptions`).

It stands on the rig (`edgevoice.rig`) and, like the bench, runs the daemon from outside, as a
process: nothing of the app is imported.
"""

from edgevoice.soak.plan import FaultKind, Plan, Step, TurnKind
from edgevoice.soak.report import SoakReport
from edgevoice.soak.run import Soak, SoakOptions

__all__ = ["FaultKind", "Plan", "Soak", "SoakOptions", "SoakReport", "Step", "TurnKind"]
