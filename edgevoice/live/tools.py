"""The local tools the model may call: an allow-list of declarations and their pure handlers.

The app picks tools by name from the configuration (`declarations_for(config.live.tools)`), puts
the declarations in `Setup.function_declarations`, and answers every `ToolCall` with
`run_local_tool(call, context)` followed by `LiveSession.send_tool_response(...)`.

Each tool declares the behaviour it needs (`FunctionDeclaration.behavior`): a tool whose result
the answer depends on (the clock) is BLOCKING, so the model waits for it on every family that
runs blocking calls (gemini-3.8 would otherwise run it in the background, protocol doc 3.4). A
family that cannot run that behaviour (3.8 extended thinking runs asynchronous calls only)
refuses the setup that offers the tool, naming it.

Core module: handlers never read the clock or touch the system. Whatever a tool needs from the
outside (the local time) the caller measures and passes in a `ToolContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from edgevoice.live.events import FunctionCall
from edgevoice.live.frames import FunctionDeclaration
from edgevoice.live.json_view import JsonValue
from edgevoice.live.models import Behavior


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What the caller measured for the tools, right before running one.

    `local_time`: the device's local date and time as a human-readable string, for example
    "Tuesday 2025-03-04 14:05 CET" (the app formats it from its own clock).
    """

    local_time: str


Handler = Callable[[Mapping[str, JsonValue], ToolContext], dict[str, JsonValue]]


@dataclass(frozen=True, slots=True)
class LocalTool:
    """An allow-listed tool: what the model is told (`declaration`) and what runs (`handler`)."""

    declaration: FunctionDeclaration
    handler: Handler


def _get_time(args: Mapping[str, JsonValue], context: ToolContext) -> dict[str, JsonValue]:
    return {"local_time": context.local_time}


GET_TIME = LocalTool(
    FunctionDeclaration(
        name="get_time",
        description=(
            "Returns the current local date and time of the device. Call it whenever the user "
            "asks for the time, the date or the day of the week."
        ),
        behavior=Behavior.BLOCKING,  # the answer is the result: the model must wait for it
    ),
    _get_time,
)

LOCAL_TOOLS: Mapping[str, LocalTool] = MappingProxyType({GET_TIME.declaration.name: GET_TIME})


def declarations_for(names: Iterable[str]) -> tuple[FunctionDeclaration, ...]:
    """The declarations of the named tools, in the given order, each once.

    Raises ValueError naming the unknown tools and the allowed ones (the config validates the
    same list, so this only fires on a programming error).
    """
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in LOCAL_TOOLS]
    if unknown:
        raise ValueError(f"unknown tool(s) {unknown}; allowed: {sorted(LOCAL_TOOLS)}")
    return tuple(LOCAL_TOOLS[n].declaration for n in wanted)


def run_local_tool(
    call: FunctionCall,
    context: ToolContext,
    enabled: Iterable[str] | None = None,
) -> dict[str, JsonValue]:
    """The response object for `call`; never raises.

    A call for a tool that is unknown or not in `enabled` (None = every allow-listed tool) gets
    `{"error": "..."}`, which tells the model the call failed instead of leaving it waiting.
    """
    allowed = (
        LOCAL_TOOLS if enabled is None else {n: LOCAL_TOOLS[n] for n in enabled if n in LOCAL_TOOLS}
    )
    tool = allowed.get(call.name)
    if tool is None:
        return {"error": f"no tool named {call.name[:64]!r} is available on this device"}
    return tool.handler(call.args, context)
