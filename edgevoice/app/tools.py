"""Tool calls: the built-ins answered at once, operator commands run as tasks.

`ToolCalls.call(link, call, setup)` for each function call of a `toolCall`:

- an operator command (`[[tools.command]]`, offered in the setup) starts as a task of the
  controller's TaskGroup (`edgevoice.adapters.tool_runner.run_operator_tool`: fixed argv, no
  shell, arguments checked against the schema and passed as environment variables, a timeout,
  its own process group); when it finishes the controller gets `ToolDone` and answers;
- anything else is a built-in (`edgevoice.live.tools.run_local_tool`): its answer is returned
  at once, as an `Answer` with the action the controller carries out after answering (set the
  volume, mute, end the conversation). A name that is not offered gets an `{"error": ...}`
  answer, so the model is never left waiting: nothing the model says can run anything else.

`cancel(ids)` (toolCallCancellation) cancels the runs of those calls: their process groups are
killed and no answer is sent. `interrupt_blocking()` does the same for the calls that block,
when the person starts a new turn while one runs: the controller then answers each as cancelled
(`CANCELLED_BY_PERSON`), so the model stops waiting and the new turn's activityStart, held back
while a blocking call is pending (protocol doc section 3.2), goes out at once.

Every answer carries the scheduling the call's family and declaration allow (`scheduling_for`),
and whether the model waits for it (`blocking`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edgevoice.adapters.tool_runner import OperatorTool, run_operator_tool
from edgevoice.app.inputs import Input, ToolDone
from edgevoice.app.link import Link
from edgevoice.app.session_config import operator_timing
from edgevoice.config import CommandTool
from edgevoice.live.events import FunctionCall
from edgevoice.live.frames import Scheduling, Setup
from edgevoice.live.json_view import JsonValue
from edgevoice.live.models import call_blocks, takes_scheduling
from edgevoice.live.tools import (
    Timing,
    ToolAction,
    ToolContext,
    ToolOutcome,
    run_local_tool,
    scheduling_for,
)
from edgevoice.redact import printable

log = logging.getLogger("edgevoice.tools")

CANCELLED_BY_PERSON: dict[str, JsonValue] = {
    "error": "cancelled: the person started a new turn before this finished"
}

RunCommand = Callable[[OperatorTool, Mapping[str, JsonValue]], Awaitable[dict[str, JsonValue]]]


@dataclass(frozen=True)
class Answer:
    """A call answered at once: the response, its scheduling, whether the model waits for it,
    and the action to carry out after answering."""

    response: dict[str, JsonValue]
    scheduling: Scheduling | None
    blocking: bool
    action: ToolAction | None = None


@dataclass(frozen=True)
class _Command:
    tool: OperatorTool
    timing: Timing


def _run(tool: OperatorTool, args: Mapping[str, JsonValue]) -> Awaitable[dict[str, JsonValue]]:
    return run_operator_tool(tool, args)


class ToolCalls:
    """See the module docstring. `builtins`: live.tools; `commands`: [[tools.command]];
    `context()` measures what the built-ins need right before one runs."""

    def __init__(
        self,
        *,
        builtins: Iterable[str],
        commands: Iterable[CommandTool],
        context: Callable[[], ToolContext],
        spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]],
        post: Callable[[Input], None],
        run_command: RunCommand = _run,
    ) -> None:
        self._builtins = tuple(builtins)
        self._commands = {
            c.name: _Command(
                OperatorTool(
                    name=c.name,
                    argv=c.argv,
                    parameters=c.parameters,
                    timeout_s=c.timeout_s,
                    description=c.description,
                ),
                operator_timing(c),
            )
            for c in commands
        }
        self._context = context
        self._spawn = spawn
        self._post = post
        self._run_command = run_command
        self.running: dict[str, asyncio.Task[None]] = {}  # call id -> the command's task
        self._blocking: dict[str, str] = {}  # call id -> name, for running calls that block
        self.answered = 0
        self.cancelled = 0

    def call(self, link: Link, call: FunctionCall, setup: Setup) -> Answer | None:
        """Handle one function call: its `Answer` now, or None when a command started."""
        command = self._commands.get(call.name)
        offered = any(d.name == call.name for d in setup.function_declarations)
        if command is not None and offered:
            if call.id in self.running:  # the session refuses a repeated id before this
                return None
            log.info("tool %s: running %s", call.name, printable(command.tool.argv[0], 120))
            self.running[call.id] = self._spawn(self._run(link, call, command.tool))
            if call_blocks(setup.model, setup.declared_behavior(call.name)):
                self._blocking[call.id] = call.name
            return None
        outcome = run_local_tool(call, self._context(), self._builtins)
        if outcome.failed:
            log.warning("tool %s: %s", printable(call.name, 64), outcome.response.get("error"))
        else:
            log.info("tool %s answered", call.name)
        self.answered += 1
        return Answer(
            outcome.response,
            scheduling_for(setup, call.name, outcome),
            call_blocks(setup.model, setup.declared_behavior(call.name)),
            outcome.action,
        )

    def done(self, done: ToolDone, setup: Setup) -> Answer:
        """The answer for a command that finished."""
        self.answered += 1
        command = self._commands[done.name]
        behavior = setup.declared_behavior(done.name)
        scheduling: Scheduling | None = None
        if takes_scheduling(setup.model, behavior):
            failed = ToolOutcome(done.response).failed
            scheduling = command.timing.scheduling
            if failed and scheduling is Scheduling.SILENT:
                scheduling = Scheduling.WHEN_IDLE  # the person hears that it did not work
        return Answer(done.response, scheduling, call_blocks(setup.model, behavior))

    def cancel(self, ids: Iterable[str]) -> int:
        """Cancel the runs of these calls (toolCallCancellation); how many were running."""
        count = 0
        for call_id in ids:
            task = self.running.pop(call_id, None)
            self._blocking.pop(call_id, None)
            if task is not None:
                task.cancel()
                count += 1
        self.cancelled += count
        return count

    def interrupt_blocking(self) -> list[tuple[str, str]]:
        """Cancel the running commands whose calls block; (call id, name) of each."""
        interrupted = list(self._blocking.items())
        for _, name in interrupted:
            log.info("tool %s: cancelled, the person started a new turn", name)
        self.cancel([call_id for call_id, _ in interrupted])
        return interrupted

    def cancel_all(self) -> None:
        self.cancel(list(self.running))

    async def _run(self, link: Link, call: FunctionCall, tool: OperatorTool) -> None:
        try:
            response = await self._run_command(tool, call.args)
        finally:
            self.running.pop(call.id, None)
            self._blocking.pop(call.id, None)
        self._post(ToolDone(link, call.id, call.name, response))
