"""Operator-defined tools: a fixed command the model may run, with checked arguments.

The operator declares each tool in the configuration: a name, a fixed argv (never a shell: no
word splitting, no globbing, no `$(...)`), a JSON schema for the arguments, a timeout. The model
only picks the tool and fills in the arguments; `run_operator_tool` then

1. checks the arguments against the schema (`live.json_schema.check_arguments`); a problem is
   answered as `{"error": ...}` and nothing runs;
2. passes each argument as an environment variable `EDGEVOICE_ARG_<NAME>` (the name upper-cased;
   a string as it is, any other value as its JSON text), never on the command line, so no value
   can become an option or a second command;
3. runs the argv in a process group of its own, with stdin from /dev/null, no inherited file
   descriptors, and an environment built from an allow-list (PATH, HOME, locale and time-zone
   variables): GEMINI_API_KEY, CREDENTIALS_DIRECTORY, NOTIFY_SOCKET and every other variable
   of the daemon stay out;
4. reads stdout up to `max_output` bytes (64 KiB; the rest is read and dropped, so a chatty tool
   is not blocked) and answers `{"result": <the output parsed as JSON, or its text>}`; a
   non-zero exit is `{"error": "exited with status N: <stderr tail>"}`;
5. on the timeout, and when the caller is cancelled (the server's `toolCallCancellation`), kills
   the whole process group with SIGKILL and reaps the process; a timeout answers
   `{"error": "timed out after N s"}`, a cancellation re-raises CancelledError.

Nothing here raises for a tool that misbehaves: every failure becomes an `{"error": ...}`
answer for the model and one log line (outside text through `printable`). Background children
that leave the tool's process group (setsid) and let go of its output are not tracked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from edgevoice.live.json_schema import check_arguments, schema_problems
from edgevoice.live.json_view import JsonValue
from edgevoice.redact import printable

log = logging.getLogger("edgevoice.tools")

MAX_OUTPUT: Final = 64 * 1024  # bytes of stdout kept (the response goes back over the socket)
MAX_STDERR: Final = 4 * 1024  # bytes of stderr kept: its tail goes into the error message
MAX_ARGUMENT_BYTES: Final = 32 * 1024  # all EDGEVOICE_ARG_* values together (E2BIG is 128 KiB+)
MAX_RESULT_DEPTH: Final = 32  # a deeper JSON output is handed back as text
ENV_PREFIX: Final = "EDGEVOICE_ARG_"
# The daemon's variables a tool may see. Everything else (credentials, systemd's sockets and
# credential directory, the daemon's own settings) stays out: an allow-list cannot miss a
# credential variable nobody thought of.
ENV_ALLOWED: Final = frozenset({"PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "USER"})
ENV_ALLOWED_PREFIXES: Final = ("LC_",)
DEFAULT_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # as live.json_schema allows


@dataclass(frozen=True)
class OperatorTool:
    """One operator-defined tool.

    `argv`: the command and its fixed arguments (argv[0] is looked up on PATH when it has no
    slash). `parameters`: the JSON schema of the arguments (the subset of `live.json_schema`;
    None = no arguments). `timeout_s`: how long it may run. `cwd`: its working directory.
    Raises ValueError naming the problem (the config check reports the same problems first).
    """

    name: str
    argv: tuple[str, ...]
    parameters: Mapping[str, JsonValue] | None = None
    timeout_s: float = 10.0
    cwd: str = "/"
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.argv or not self.argv[0]:
            raise ValueError(f"tool {self.name!r}: argv needs at least the command")
        if any("\0" in part for part in self.argv):
            raise ValueError(f"tool {self.name!r}: argv cannot contain a NUL character")
        if not (math.isfinite(self.timeout_s) and self.timeout_s > 0):
            raise ValueError(f"tool {self.name!r}: timeout_s must be > 0, got {self.timeout_s}")
        if self.parameters is not None:
            problems = schema_problems(self.parameters)
            if problems:
                raise ValueError(f"tool {self.name!r}: parameters: {'; '.join(problems)}")


def tool_environment(
    args: Mapping[str, JsonValue], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment a tool runs with: the allow-listed variables of `base` (default: this
    process's environment) plus one `EDGEVOICE_ARG_<NAME>` per argument.

    Raises ValueError (one line, naming the argument) for a name that cannot be a variable
    name, two names that upper-case alike, a NUL character in a value, or values too large.
    """
    base = os.environ if base is None else base
    env = {
        name: value
        for name, value in base.items()
        if name in ENV_ALLOWED or name.startswith(ENV_ALLOWED_PREFIXES)
    }
    env.setdefault("PATH", DEFAULT_PATH)
    total = 0
    for name, value in args.items():
        if not _ARG_NAME.fullmatch(name):
            raise ValueError(
                f"argument name {printable(name, 40)!r} cannot be passed: use letters, digits "
                "and _ (not starting with a digit, at most 64)"
            )
        key = ENV_PREFIX + name.upper()
        if key in env:
            raise ValueError(f"arguments {name!r} and another one both become {key}")
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if "\0" in text:
            raise ValueError(f"argument {name!r} contains a NUL character")
        total += len(key) + len(text.encode("utf-8", "surrogatepass"))
        if total > MAX_ARGUMENT_BYTES:
            raise ValueError(f"arguments are larger than {MAX_ARGUMENT_BYTES} bytes together")
        env[key] = text
    return env


async def run_operator_tool(
    tool: OperatorTool,
    args: Mapping[str, JsonValue],
    *,
    base_env: Mapping[str, str] | None = None,
    max_output: int = MAX_OUTPUT,
) -> dict[str, JsonValue]:
    """Run `tool` with `args` and return the function response for the model.

    `{"result": ...}` on success (stdout parsed as JSON when it is JSON, else its text; with
    `"truncated": true` when stdout was longer than `max_output`), `{"error": "..."}` for bad
    arguments, a command that cannot start, a non-zero exit or the timeout. Raises only
    CancelledError (after the process group is killed and reaped).
    """
    problems = check_arguments(tool.parameters or {"type": "object"}, dict(args))
    if problems:
        return _refused(tool, "invalid arguments: " + "; ".join(problems))
    try:
        env = tool_environment(args, base_env)
    except ValueError as error:
        return _refused(tool, str(error))

    started = time.monotonic()
    try:
        process = await asyncio.create_subprocess_exec(
            *tool.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tool.cwd,
            start_new_session=True,  # its own process group: killpg reaches its children
            close_fds=True,
        )
    except OSError as error:
        return _refused(tool, f"cannot run {printable(tool.argv[0], 80)}: {error.strerror}")

    assert process.stdout is not None and process.stderr is not None
    stdout, stderr = process.stdout, process.stderr
    try:
        async with asyncio.timeout(tool.timeout_s):
            (out, truncated), (err, _) = await asyncio.gather(
                _read_bounded(stdout, max_output), _read_tail(stderr, MAX_STDERR)
            )
            status = await process.wait()
    except TimeoutError:
        await _kill_group(process)
        log.warning(
            "tool %s timed out after %g s; its process group was killed", tool.name, tool.timeout_s
        )
        return {"error": f"timed out after {tool.timeout_s:g} s"}
    finally:
        # Cancelled (toolCallCancellation, shutdown) or anything unexpected: never leave it
        # running. (Children still holding its output keep the reads open until the timeout.)
        if process.returncode is None:
            await _kill_group(process)

    elapsed = time.monotonic() - started
    if status != 0:
        reason = _exit_reason(status)
        detail = _tail(err.decode("utf-8", "replace").strip(), 300)
        log.warning(
            "tool %s %s after %.2f s%s", tool.name, reason, elapsed, f": {detail}" if detail else ""
        )
        return {"error": reason + (f": {detail}" if detail else "")}
    log.info(
        "tool %s finished in %.2f s with %d bytes of output%s",
        tool.name,
        elapsed,
        len(out),
        " (truncated)" if truncated else "",
    )
    response: dict[str, JsonValue] = {"result": parse_output(out)}
    if truncated:
        response["truncated"] = True
    return response


def _refused(tool: OperatorTool, message: str) -> dict[str, JsonValue]:
    log.warning("tool %s not run: %s", tool.name, printable(message, 300))
    return {"error": message}


def _tail(text: str, limit: int) -> str:
    """The end of `text` (where a failing command says why), on one printable line."""
    if len(text) > limit:
        text = "..." + text[-(limit - 3) :]
    return printable(text)


def _exit_reason(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"killed by {name}"
    return f"exited with status {status}"


async def _read_bounded(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """The first `limit` bytes of `stream` and whether there was more (read and dropped)."""
    kept = bytearray()
    truncated = False
    while chunk := await stream.read(65536):
        room = limit - len(kept)
        if len(chunk) > room:
            truncated = True
        kept += chunk[: max(room, 0)]
    return bytes(kept), truncated


async def _read_tail(stream: asyncio.StreamReader, limit: int) -> tuple[bytes, bool]:
    """The last `limit` bytes of `stream` (an error is usually at the end)."""
    tail = b""
    dropped = False
    while chunk := await stream.read(65536):
        tail += chunk
        if len(tail) > limit:
            tail, dropped = tail[-limit:], True
    return tail, dropped


async def _kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the tool's whole process group and reap its leader (shielded: a cancellation
    arriving meanwhile still leaves no zombie)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone
    await asyncio.shield(process.wait())


def parse_output(out: bytes) -> JsonValue:
    """A tool's stdout as the model gets it: the JSON value it holds, else its text.

    Only plain JSON counts (no NaN or Infinity, no duplicate keys, no lone surrogates, at most
    MAX_RESULT_DEPTH deep); anything else is handed back as text (UTF-8, undecodable bytes
    replaced), stripped of surrounding white space.
    """
    text = out.decode("utf-8", "replace").strip()
    try:
        value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):
        return text
    if not _plain(value):
        return text
    return value  # type: ignore[no-any-return]


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: Sequence[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain(value: object) -> bool:
    """Nesting within MAX_RESULT_DEPTH, finite numbers and no lone surrogates (iteratively)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= MAX_RESULT_DEPTH:
                return False
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, str) and _SURROGATE.search(key):
                    return False
                stack.append((child, depth + 1))
        elif isinstance(item, str) and _SURROGATE.search(item):
            return False
        elif isinstance(item, float) and not math.isfinite(item):
            return False  # 1e400 parses to inf
    return True
