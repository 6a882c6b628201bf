"""journald: the daemon's lines as journald receives them (a fake journald socket bound at the
path libsystemd hard-codes; needs root, which CI has): one summary line per turn with its
structured fields, the fields of the moment on every line, transcripts only at debug."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator

import pytest
from appkit import TIMEOUT, RigFactory, until
from journalkit import bound_journal_socket, parse_native

from edgevoice.adapters.journald import JournalHandler
from edgevoice.app.log_setup import setup_logging
from edgevoice.sim import SimOptions


class FakeJournald:
    """Reads every datagram sent to the journal socket, in a thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.entries: list[dict[str, str]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                return
            self.entries.append(parse_native(data))

    def matching(self, **fields: str) -> list[dict[str, str]]:
        return [e for e in self.entries if all(e.get(k) == v for k, v in fields.items())]


@pytest.fixture
def journald() -> Iterator[FakeJournald]:
    with bound_journal_socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        yield FakeJournald(sock)


async def test_a_turn_ends_with_one_summary_line_of_structured_fields(
    rig_factory: RigFactory, journald: FakeJournald
) -> None:
    handler = setup_logging("debug", "journal")
    assert isinstance(handler, JournalHandler)
    rig = await rig_factory({}, SimOptions(pace=0, lifetime_s=None, session_id=True))
    rig.press()
    speech = rig.rt.speak("What is the weather like today?")
    await speech.finished(TIMEOUT)
    rig.release()
    await rig.wait_answers(1)
    await until(lambda: bool(journald.matching(TURN_OUTCOME="answered")))
    (summary,) = journald.matching(TURN_OUTCOME="answered")
    assert summary["SYSLOG_IDENTIFIER"] == "edgevoice"
    assert summary["PRIORITY"] == "6"
    assert summary["TURN_ID"] == "1"
    assert summary["TURN_TRIGGER"] == "button"
    assert 1.0 < float(summary["SPEECH_S"]) < 10.0  # about what was said, pre-roll included
    assert 0 <= int(summary["LATENCY_MS"]) < int(TIMEOUT * 1000)
    assert float(summary["REPLY_S"]) > 0.5  # the parrot repeats it
    assert summary["INTERRUPTED"] == "no"
    assert int(summary["TOKENS"]) > 0
    assert summary["MESSAGE"].startswith("turn 1: button, ")
    assert summary["MESSAGE"].endswith(", answered")
    # The fields of the moment ride along: the connection and the server's session id.
    assert summary["CONNECTION_ID"] == "1"
    session_id = rig.sim.connections[0].sent_messages("setupComplete")[0]["setupComplete"]
    assert summary["SESSION_ID"] == session_id["sessionId"]
    assert summary["EDGEVOICE_STATE"] in ("thinking", "speaking")
    # Every line of the turn carries its TURN_ID and the state.
    started = journald.matching(TURN_ID="1")
    assert any(e["MESSAGE"].startswith("turn 1 started") for e in started)
    entries = journald.entries
    start = next(i for i, e in enumerate(entries) if e["MESSAGE"].startswith("turn 1 started"))
    end = entries.index(summary)
    during = [
        e
        for e in entries[start : end + 1]
        if e["LOGGER"].startswith("edgevoice.") and not e["LOGGER"].startswith("edgevoice.sim")
    ]
    assert len(during) > 3 and all(e.get("TURN_ID") == "1" for e in during), [
        (e["MESSAGE"], e.get("TURN_ID")) for e in during
    ]
    assert all("EDGEVOICE_STATE" in e for e in during)
    # Transcripts at debug, escaped, with the turn's id.
    heard = [e for e in journald.matching(TURN_ID="1") if " heard: " in e["MESSAGE"]]
    assert len(heard) == 1 and heard[0]["PRIORITY"] == "7"
    assert "\n" not in heard[0]["MESSAGE"]


async def test_transcripts_stay_out_of_the_journal_at_info(
    rig_factory: RigFactory, journald: FakeJournald
) -> None:
    setup_logging("info", "journal")
    rig = await rig_factory({}, SimOptions(pace=0, lifetime_s=None))
    await rig.ctl("say", text="A private question.")
    await rig.wait_answers(1)
    await until(lambda: bool(journald.matching(TURN_OUTCOME="answered")))
    (summary,) = journald.matching(TURN_OUTCOME="answered")
    assert summary["TURN_TRIGGER"] == "control" and summary["SPEECH_S"] == "0.00"
    assert not [e for e in journald.entries if " heard: " in e.get("MESSAGE", "")]
    assert not [e for e in journald.entries if " said: " in e.get("MESSAGE", "")]
    assert logging.getLogger().level == logging.INFO


async def test_a_lost_connection_names_its_close_code_and_reason(
    rig_factory: RigFactory, journald: FakeJournald
) -> None:
    from edgevoice.sim import Fault

    setup_logging("info", "journal")
    sim = SimOptions(
        pace=0,
        lifetime_s=None,
        faults=(Fault.parse("close=1011:Internal error encountered.@frame:2*0"),),
    )
    rig = await rig_factory({"reconnect": {"initial_delay": 60, "max_delay": 60, "jitter": 0}}, sim)
    await rig.ctl("say", text="Hello?")
    await until(lambda: bool(journald.matching(CLOSE_CODE="1011")))
    entry = journald.matching(CLOSE_CODE="1011")[0]
    assert entry["CLOSE_REASON"] == "Internal error encountered."
    assert entry["ERROR_CLASS"] == "transient"
    assert entry["CONNECTION_ID"] == "1"
    assert entry["PRIORITY"] == "4"
