"""webrtcvad's speech/non-speech decision for one microphone frame.

The voice trigger's hysteresis (onset, minimum utterance, end of speech, pre-roll) is the pure
`audio.vad_gate.VoiceGate`; this adapter only answers "is this 20 ms frame speech?" for it.
webrtcvad (the `webrtcvad-wheels` distribution) is a C extension: a call takes microseconds, so
it runs on the loop's thread. One instance keeps its own noise estimate: use one per stream, from
one thread.
"""

from __future__ import annotations

from typing import Final

import webrtcvad

from edgevoice.ports import FRAME_MS, MIC_RATE

# 20 ms of 16 kHz mono int16: the only frame webrtcvad is given here (it also takes 10 and 30 ms
# at 8/16/32/48 kHz, but the daemon's frames are FRAME_MS at MIC_RATE).
FRAME_BYTES: Final = MIC_RATE * FRAME_MS // 1000 * 2
AGGRESSIVENESS_RANGE: Final = (0, 3)


class WebRtcVad:
    """`is_speech(frame)` for FRAME_MS frames at MIC_RATE (640 bytes of int16 mono PCM).

    `aggressiveness` 0 (flags the most audio as speech) to 3 (the least: fewer false triggers
    in a noisy room, but quiet speech may be missed); vad.aggressiveness in the config.
    Raises ValueError for an aggressiveness outside 0..3.
    """

    def __init__(self, aggressiveness: int = 2) -> None:
        low, high = AGGRESSIVENESS_RANGE
        if type(aggressiveness) is not int or not low <= aggressiveness <= high:
            raise ValueError(
                f"VAD aggressiveness must be an integer from {low} to {high}, "
                f"got {aggressiveness!r}"
            )
        self.aggressiveness = aggressiveness
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: bytes) -> bool:
        """Whether webrtcvad hears speech in `frame`.

        Raises ValueError naming the expected size for a frame that is not exactly
        FRAME_BYTES long (webrtcvad itself would only say "Error while processing frame"):
        a caller with another frame size must reframe first (`audio.dsp`'s framer).
        """
        if len(frame) != FRAME_BYTES:
            raise ValueError(
                f"a VAD frame is {FRAME_MS} ms of {MIC_RATE} Hz mono int16 = {FRAME_BYTES} "
                f"bytes, got {len(frame)} bytes; reframe the audio first"
            )
        return bool(self._vad.is_speech(frame, MIC_RATE))
