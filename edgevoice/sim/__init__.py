"""A protocol-faithful local Gemini Live API simulator (tests, the demo, and users offline).

In tests (port 0 = a free port; `ssl_context=` serves wss:// for the official SDK)::

    from edgevoice.sim import Fault, SimOptions, run_simulator

    async with run_simulator(SimOptions(pace=0, tool_call_every=2)) as sim:
        sim.url                        # "ws://127.0.0.1:PORT"
        sim.endpoint()                 # the v1beta BidiGenerateContent URL
        sim.endpoint("v1alpha", "BidiGenerateContentConstrained")
        ...                            # connect the client under test, talk
        event = await sim.wait_for(lambda e: e.kind == "turn" and e.turn == 2)
        closed = await sim.wait_closed(1)          # SimEvent: code, reason, closed_by
        record = sim.connections[0]                # ConnectionRecord
        record.frames("realtimeInput")             # ReceivedFrame: raw, is_text, kind, body, json
        record.sent_messages("serverContent")      # what the simulator sent, as dicts
        assert sim.internal_errors == []

While it runs (a soak's faults at moments of its choosing): `sim.inject(fault)` arms a fault
as if it had been in `SimOptions.faults`, `sim.strike(fault)` carries its action out now on the
open connections, `sim.refuse(count, mode)` refuses the next attempts; `sim.firings` lists
every fault carried out (connection, what, when).

Outside tests: `Simulator(options, host=..., port=..., ssl_context=...)`, `await start()`,
`await serve_forever()` / `await stop()`; or the `edgevoice simulator` command.

Time: `SimOptions(now=clock.now, sleep=clock.sleep)` with a `VirtualClock` (clock.py) runs
pacing, connection lifetimes, goAway, the setup timeout and handle expiry on virtual time.

What it does, module by module: strict proto3-JSON parsing of client frames (schema.py,
proto.py); the model families and their rules (models.py); setup and realtimeInput checks
(rules.py); a connection's life, faults and time limits (connection.py); the user's side of the
conversation: turn-taking, activity, input audio, tool responses (conversation.py); the model's
side: answers, streaming, turnComplete, resumption updates (answering.py); function calls,
blocking and not (calls.py); a "parrot" model answering each user turn with the user's own speech
sped up 1.15x (model.py); server-side energy VAD (energy_vad.py); resumption handles
(resumption.py); fault knobs (faults.py, options.py); what it saw, bounded (recorder.py). Every
close reason and where it comes from is in reasons.py.

It is independent of edgevoice.live on purpose: the two implementations check each other. The
behaviour follows docs/live-protocol.md; where the real service's reaction is unknown, the
choice is documented next to the code.
"""

from edgevoice.sim.clock import VirtualClock
from edgevoice.sim.faults import Fault, FaultAction, Firing, Moment, When
from edgevoice.sim.models import DEFAULT_MODELS, KNOWN_MODELS, Family
from edgevoice.sim.options import SimOptions
from edgevoice.sim.recorder import ConnectionRecord, ReceivedFrame, SentFrame, SimEvent
from edgevoice.sim.server import Simulator, run_simulator

__all__ = [
    "DEFAULT_MODELS",
    "KNOWN_MODELS",
    "ConnectionRecord",
    "Family",
    "Fault",
    "FaultAction",
    "Firing",
    "Moment",
    "ReceivedFrame",
    "SentFrame",
    "SimEvent",
    "SimOptions",
    "Simulator",
    "VirtualClock",
    "When",
    "run_simulator",
]
