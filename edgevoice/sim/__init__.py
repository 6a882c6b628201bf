"""A protocol-faithful local Gemini Live API simulator (tests, the demo, and users offline).

    from edgevoice.sim import SimOptions, run_simulator

    async with run_simulator(SimOptions(pace=0)) as sim:
        sim.url                  # "ws://127.0.0.1:PORT" (wss:// when given an ssl_context)
        sim.endpoint()           # full v1beta BidiGenerateContent URL
        sim.connections          # ConnectionRecord per connection: received/sent frames, close
        await sim.wait_for(lambda e: e.kind == "turn")

It is independent of edgevoice.live on purpose: the two implementations check each other. The
behaviour follows docs/live-protocol.md; where the real service's reaction is unknown, the
choice is documented next to the code (see reasons.py).
"""

from edgevoice.sim.faults import Fault, FaultAction, Moment, When
from edgevoice.sim.models import DEFAULT_MODELS
from edgevoice.sim.options import SimOptions
from edgevoice.sim.recorder import ConnectionRecord, ReceivedFrame, SentFrame, SimEvent
from edgevoice.sim.server import Simulator, run_simulator

__all__ = [
    "DEFAULT_MODELS",
    "ConnectionRecord",
    "Fault",
    "FaultAction",
    "Moment",
    "ReceivedFrame",
    "SentFrame",
    "SimEvent",
    "SimOptions",
    "Simulator",
    "When",
    "run_simulator",
]
