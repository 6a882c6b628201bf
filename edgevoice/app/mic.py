"""The microphone path: where each 20 ms frame goes. No I/O; the speech detector is injected.

Every frame from the capture adapter comes here first (`MicPath.feed`), in order:

1. **Muted**: the frame is dropped. Nothing is kept, nothing can leave the device.
2. **A button or `ctl` turn is open**: the frame belongs to it (`Speech(frame)`); the controller
   sends it.
3. Otherwise the frame goes into the button's **pre-roll ring** (`preroll_ms`): a press takes
   the ring (`take_preroll()`), so what was said just before the press reached the loop is sent
   too.
4. With the voice trigger on, the frame and webrtcvad's verdict go to the **voice gate**
   (`edgevoice.audio.vad_gate.VoiceGate`), whose events (`Triggered`, `Speech`, `Ended`,
   `Rejected`) are returned for the controller to act on. Nothing leaves the device before
   `Triggered`: a candidate shorter than the minimum utterance is `Rejected` unsent.
   **Half duplex**: while the device speaks, and for `echo_tail_s` after (or while an earcon
   plays), the gate is reset and fed nothing, so the device never triggers on itself. A voice
   turn that is already open keeps going (the person is talking).

The controller tells the path what it decided: `start_button_turn()` / `take_over()` (a press
during a voice turn), `end_turn()`, `set_muted()`, `hold_gate(until)`.
"""

from __future__ import annotations

from collections.abc import Callable

from edgevoice.audio.vad_gate import GateEvent, PrerollRing, Speech, VoiceGate


class MicPath:
    """See the module docstring. `gate` and `is_speech` are None when the voice trigger is off;
    `half_duplex` deafens the gate while the device plays and for `echo_tail_s` after."""

    def __init__(
        self,
        *,
        preroll_ms: int,
        gate: VoiceGate | None = None,
        is_speech: Callable[[bytes], bool] | None = None,
        half_duplex: bool = True,
        echo_tail_s: float = 0.3,
    ) -> None:
        if (gate is None) != (is_speech is None):
            raise ValueError("the voice gate and the speech detector come together")
        self.ring = PrerollRing(preroll_ms)
        self.gate = gate
        self._is_speech = is_speech
        self.half_duplex = half_duplex
        self.echo_tail_s = echo_tail_s
        self.muted = False
        self.button_turn = False
        self._deaf_until = float("-inf")
        self.frames_muted = 0  # frames dropped because the microphone was muted

    @property
    def voice_turn(self) -> bool:
        """The voice gate has an open turn."""
        return self.gate is not None and self.gate.in_turn

    def feed(self, frame: bytes, now: float, *, speaking: bool) -> list[GateEvent]:
        """Where `frame` goes (see the module docstring); `speaking`: the answer is playing."""
        if self.muted:
            self.frames_muted += 1
            return []
        if self.button_turn:
            return [Speech(frame)]
        gate = self.gate
        if gate is None or self._is_speech is None:
            self.ring.push(frame)
            return []
        if not gate.in_turn:
            self.ring.push(frame)
            if self.half_duplex and (speaking or now < self._deaf_until):
                gate.reset()
                return []
        return gate.feed(frame, self._is_speech(frame))

    def speaking_ended(self, now: float) -> None:
        """The answer has played out: the gate stays deaf for the echo tail."""
        self.hold_gate(now + self.echo_tail_s)

    def hold_gate(self, until: float) -> None:
        """Keep the voice gate deaf until `until` (an earcon playing, the echo tail)."""
        self._deaf_until = max(self._deaf_until, until)

    def take_preroll(self) -> tuple[bytes, ...]:
        """The frames from just before now (the ring empties)."""
        return self.ring.take()

    def start_button_turn(self) -> tuple[bytes, ...]:
        """A button or `ctl` turn opens: its pre-roll; every later frame is `Speech`."""
        self.button_turn = True
        if self.gate is not None:
            self.gate.reset()
        return self.take_preroll()

    def take_over(self) -> None:
        """A press during an open voice turn: the turn goes on as a button turn."""
        self.button_turn = True
        if self.gate is not None:
            self.gate.reset()

    def end_turn(self) -> None:
        """The open turn is over (whoever opened it)."""
        self.button_turn = False
        if self.gate is not None and self.gate.in_turn:
            # Ended by the controller (a limit, a failure): the gate's own end keeps its
            # cool-down after a turn that hit the maximum length, so it is not reset then.
            self.gate.reset()
        self.ring.clear()  # sent already: the next pre-roll starts after it

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        self.button_turn = False
        self.ring.clear()
        if self.gate is not None:
            self.gate.reset()
