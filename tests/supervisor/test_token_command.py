"""A token server that is down for a while (issue #7 section 2): the failing token command is a
transient credential error the daemon retries with its backoff, never a reason to stop, and the
first line of what the command printed on stderr reaches the journal scrubbed and escaped."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from appkit import RigFactory, until
from supkit import Gate, fixed_delays

from edgevoice.audio.earcons import Earcon
from edgevoice.sim import SimOptions, VirtualClock

LEAKED = "AQ.token-server-leaked-key-8c1f"  # a secret the command echoes on stderr


def token_script(tmp_path: Path, failures: int) -> Path:
    """A token command that fails `failures` times (stderr names the cause, with a secret in it
    and a control character), then prints a fresh ephemeral token."""
    counter = tmp_path / "calls"
    script = tmp_path / "token.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'n=$(cat "{counter}" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "{counter}"\n'
        f'if [ "$n" -le {failures} ]; then\n'
        f"  printf 'token server unreachable (try %s) key={LEAKED}\\033[2J\\nsecond line\\n' "
        '"$n" >&2\n'
        "  exit 3\n"
        "fi\n"
        'echo "auth_tokens/fresh-token-$n"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


async def test_a_failing_token_command_is_retried_until_the_token_server_is_back(
    rig_factory: RigFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    script = token_script(tmp_path, failures=2)
    clock = VirtualClock()
    gate = Gate()
    rig = await rig_factory(
        {"auth": {"token_command": str(script)}, "earcons": {"error": True, "offline": True}},
        SimOptions(pace=0, lifetime_s=None),
        virtual=clock,
        delays=fixed_delays(0.5, 30.0, 2.0, random=0.5),
        wrap_connect=gate.wrap,
    )
    await rig.ctl("say", text="Hello, are you there?")
    for attempt, delay in ((1, 0.25), (2, 0.5)):  # the token command fails twice
        await until(lambda n=attempt: len(gate.attempts) == n)  # type: ignore[misc]
        await clock.until_sleeping(1)
        assert rig.conversation.state.value != "error"  # transient: never needs attention
        await clock.advance(delay * 1.1)
    await rig.wait_answers(1)  # the third token worked: the text went through
    (record,) = rig.sim.connections
    assert record.method == "BidiGenerateContentConstrained" and record.auth_source == "header"
    lines = [r.getMessage() for r in caplog.records if "token server unreachable" in r.getMessage()]
    assert lines, "the command's stderr never reached the log"
    for line in lines:
        assert LEAKED not in line and "second line" not in line  # scrubbed, first line only
        assert "\x1b" not in line and "\n" not in line  # escaped: one printable line
    assert rig.conversation.speaker.earcons_played.count(Earcon.ERROR) == 0  # never gave up
