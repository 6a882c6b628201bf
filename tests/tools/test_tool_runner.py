"""Operator tools as real subprocesses: arguments, environment, output, timeout, cancellation."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import pytest

from edgevoice.adapters.tool_runner import (
    MAX_OUTPUT,
    OperatorTool,
    parse_output,
    run_operator_tool,
    tool_environment,
)

HANG_GUARD = 30.0
PY = sys.executable

SCHEMA = {
    "type": "object",
    "properties": {
        "room": {"type": "string", "maxLength": 1000},
        "level": {"type": "integer", "minimum": 0, "maximum": 100},
        "on": {"type": "boolean"},
    },
    "required": ["room"],
}

# Prints what it was given: its argv and every EDGEVOICE_ARG_* variable.
ECHO_ARGS = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:],
                  "env": {k: v for k, v in os.environ.items() if k.startswith("EDGEVOICE_ARG_")}}))
"""

# Starts a child that lives long, records both pids, then waits forever.
SPAWN_AND_HANG = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(f"{__import__('os').getpid()} {child.pid}")
time.sleep(600)
"""


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def dead(pid: int) -> bool:
    """No /proc entry, or a zombie waiting for a PID 1 that may never reap it here."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def gone(*pids: int) -> bool:
    """Every pid dies (SIGKILL lands asynchronously: a child may take a moment to exit)."""
    async with asyncio.timeout(HANG_GUARD):
        while True:
            if all(dead(pid) for pid in pids):
                return True
            await asyncio.sleep(0.01)


async def run(tool: OperatorTool, args: dict[str, object], **kw: object) -> dict[str, object]:
    async with asyncio.timeout(HANG_GUARD):
        return await run_operator_tool(tool, args, **kw)  # type: ignore[arg-type]


async def test_arguments_arrive_as_environment_never_as_argv(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"kitchen; touch {marker} $(touch {marker}) `touch {marker}` --help"
    tool = OperatorTool("lights", (PY, script(tmp_path, "t.py", ECHO_ARGS), "fixed"), SCHEMA)
    reply = await run(tool, {"room": hostile, "level": 42, "on": True})
    assert reply == {
        "result": {
            "argv": ["fixed"],
            "env": {
                "EDGEVOICE_ARG_ROOM": hostile,  # a string as it is
                "EDGEVOICE_ARG_LEVEL": "42",  # anything else as its JSON text
                "EDGEVOICE_ARG_ON": "true",
            },
        }
    }
    assert not marker.exists()


async def test_bad_arguments_are_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    tool = OperatorTool("lights", ("/bin/touch", str(marker)), SCHEMA)
    for args in ({"level": 5}, {"room": "x", "level": 101}, {"room": 3}, {"room": "x", "on": 1}):
        reply = await run(tool, args)
        assert set(reply) == {"error"}
        assert str(reply["error"]).startswith("invalid arguments: ")
    assert not marker.exists()
    assert await run(tool, {"room": "x"}) == {"result": ""}
    assert marker.exists()  # the same tool with good arguments does run


@pytest.mark.parametrize(
    ("args", "problem"),
    [({"ok": "x\0y"}, "NUL"), ({"big": "x" * 40_000}, "larger than")],
)
async def test_values_that_cannot_be_variables_are_refused(
    tmp_path: Path, args: dict[str, object], problem: str
) -> None:
    marker = tmp_path / "ran"
    schema = {"type": "object", "properties": {name: {"type": "string"} for name in args}}
    reply = await run(OperatorTool("t", ("/bin/touch", str(marker)), schema), args)
    assert problem in str(reply["error"])
    assert not marker.exists()


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ({"a-b": "x"}, "cannot be passed"),
        ({"9x": "x"}, "cannot be passed"),
        ({"name": "1", "NAME": "2"}, "both become EDGEVOICE_ARG_NAME"),
    ],
)
def test_names_that_cannot_be_variables_are_refused(args: dict[str, str], problem: str) -> None:
    # The schema check refuses such names first; the environment builder refuses them anyway.
    with pytest.raises(ValueError, match=problem):
        tool_environment(args, base={})
    schema = {"type": "object", "properties": {name: {"type": "string"} for name in args}}
    with pytest.raises(ValueError, match="parameters"):
        OperatorTool("t", ("/bin/true",), schema)  # type: ignore[arg-type]


async def test_no_credential_or_daemon_variable_reaches_the_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "GEMINI_API_KEY": "AIza-secret-value",
        "GOOGLE_API_KEY": "another-secret",
        "CREDENTIALS_DIRECTORY": "/run/credentials/edgevoice.service",
        "NOTIFY_SOCKET": "/run/systemd/notify",
        "MQTT_PASSWORD": "hunter2",
        "EDGEVOICE_CONFIG": "/etc/edgevoice/edgevoice.toml",
        "EDGEVOICE_ARG_ROOM": "forged by the parent",
        "TZ": "Europe/Berlin",
        "LC_TIME": "de_DE.UTF-8",
    }.items():
        monkeypatch.setenv(name, value)
    dump = script(tmp_path, "env.py", "import json, os; print(json.dumps(dict(os.environ)))")
    reply = await run(OperatorTool("env", (PY, dump), SCHEMA), {"room": "hall"})
    seen = reply["result"]
    assert isinstance(seen, dict)
    assert set(seen) <= {"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER", "LC_TIME",
                         "LC_ALL", "LC_CTYPE", "EDGEVOICE_ARG_ROOM"}  # fmt: skip
    assert seen["EDGEVOICE_ARG_ROOM"] == "hall"
    assert seen["TZ"] == "Europe/Berlin" and seen["LC_TIME"] == "de_DE.UTF-8"
    assert "secret" not in json.dumps(seen) and "hunter2" not in json.dumps(seen)


def test_tool_environment_has_a_path_even_when_the_daemon_has_none() -> None:
    assert tool_environment({}, base={})["PATH"]


async def test_no_file_descriptor_of_the_daemon_is_inherited(tmp_path: Path) -> None:
    listing = script(
        tmp_path, "fds.py", "import os; print(sorted(map(int, os.listdir('/proc/self/fd'))))"
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as held:
        held.set_inheritable(True)  # even a descriptor marked inheritable stays behind
        reply = await run(OperatorTool("fds", (PY, listing)), {})
    result = reply["result"]
    assert isinstance(result, list)
    assert set(result) <= {0, 1, 2, 3}  # stdin, stdout, stderr, and the directory listed


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    tool = OperatorTool("hang", (PY, script(tmp_path, "h.py", SPAWN_AND_HANG), str(pids)),
                        timeout_s=1.0)  # fmt: skip
    reply = await run(tool, {})
    assert reply == {"error": "timed out after 1 s"}
    assert await gone(*map(int, pids.read_text().split()))


async def test_cancellation_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    tool = OperatorTool("hang", (PY, script(tmp_path, "h.py", SPAWN_AND_HANG), str(pids)),
                        timeout_s=600)  # fmt: skip
    task = asyncio.create_task(run_operator_tool(tool, {}))
    async with asyncio.timeout(HANG_GUARD):
        while True:  # until the tool has started its child
            if pids.exists() and len(pids.read_text().split()) == 2:
                break
            await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(*map(int, pids.read_text().split()))


async def test_a_failing_tool_is_an_error_with_its_stderr_escaped(tmp_path: Path) -> None:
    failing = script(
        tmp_path,
        "fail.py",
        "import sys; sys.stderr.write('x' * 10000 + 'lamp \\x1b[31munreachable\\n'); sys.exit(3)",
    )
    reply = await run(OperatorTool("fail", (PY, failing)), {})
    error = str(reply["error"])
    assert error.startswith("exited with status 3: ")
    assert "\x1b" not in error and "\\x1b[31munreachable" in error
    assert len(error) < 400


async def test_a_tool_killed_by_a_signal_says_which(tmp_path: Path) -> None:
    killer = script(tmp_path, "k.py", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    assert await run(OperatorTool("k", (PY, killer)), {}) == {"error": "killed by SIGTERM"}


async def test_a_command_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    reply = await run(OperatorTool("nope", (str(tmp_path / "no-such-tool"),)), {})
    assert str(reply["error"]).startswith("cannot run ")
    assert "No such file" in str(reply["error"])


async def test_output_beyond_the_bound_is_dropped_and_the_tool_still_finishes(
    tmp_path: Path,
) -> None:
    chatty = script(tmp_path, "chatty.py", "import sys; sys.stdout.write('y' * 1_000_000)")
    reply = await run(OperatorTool("chatty", (PY, chatty)), {})
    assert reply == {"result": "y" * MAX_OUTPUT, "truncated": True}


@pytest.mark.parametrize(
    ("out", "expected"),
    [
        (b'{"temp": 21.5, "unit": "C"}\n', {"temp": 21.5, "unit": "C"}),
        (b"[1, 2, 3]", [1, 2, 3]),
        (b"  plain text answer \n", "plain text answer"),
        (b"NaN", "NaN"),
        (b"1e400", "1e400"),
        (b'{"a": 1, "a": 2}', '{"a": 1, "a": 2}'),
        (b'"\\ud800"', '"\\ud800"'),
        (b"[" * 100 + b"]" * 100, "[" * 100 + "]" * 100),
        (b"[" * 100_000, "[" * 100_000),
        (b"\xff\xfeabc", "\ufffd\ufffdabc"),
        (b"", ""),
    ],
)
def test_output_is_json_when_plain_json_else_text(out: bytes, expected: object) -> None:
    assert parse_output(out) == expected


@pytest.mark.parametrize("timeout_s", [0, -1, float("nan"), float("inf")])
def test_bad_tool_definitions_are_refused(timeout_s: float) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        OperatorTool("t", ("/bin/true",), timeout_s=timeout_s)
    with pytest.raises(ValueError, match="argv"):
        OperatorTool("t", ())
