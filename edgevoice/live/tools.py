"""The built-in tools the model may call: an allow-list of declarations and their pure handlers.

Built-ins: `get_time`, `get_volume`, `set_volume`, `mute` (the microphone) and
`end_conversation`. The app uses them in three steps:

1. Setup: `declarations_for(config.live.tools, model)` gives the declarations for
   `Setup.function_declarations`, each with the behaviour that model runs it with.
2. A `ToolCall` arrives: for each call, `outcome = run_local_tool(call, context, enabled)` with a
   `ToolContext` the app measured right before (the local time, the speaker's volume). Answer
   with `session.send_tool_response(call.id, call.name, outcome.response,
   scheduling_for(session.setup, call.name, outcome))`.
3. Then carry out `outcome.action`, if any: `SetVolume(percent)` (set the speaker),
   `Mute()` (mute the microphone, as `ctl mute`), `EndConversation()` (once the model's reply
   has played: stop listening, close the connection with 1000, drop the resumption handle).

Behaviour per tool and per model family (docs/live-protocol.md sections 3.4 and 9). Each tool
says in its `Timing` whether the answer needs its result (`waits`) and, for when the model runs
the call in the background anyway, when the result is to be used (`scheduling`):

- `get_time`, `get_volume`: the answer *is* the result. BLOCKING wherever the family runs
  blocking calls; on a family that runs non-blocking calls only (gemini-3.8 extended thinking)
  NON_BLOCKING, answered with INTERRUPT: whatever the model said meanwhile is filler or a
  guess, the real answer should come at once.
- `set_volume`: the confirmation depends on the result (the volume actually set). BLOCKING where
  possible; otherwise NON_BLOCKING with SILENT (the model has confirmed already).
- `mute`, `end_conversation`: nothing in the answer depends on the result, so the model need
  not wait: NON_BLOCKING with SILENT where the family runs it (2.5, 3.8, 3.8 extended
  thinking), BLOCKING on gemini-3.1, which runs blocking calls only.
- A failed call (`{"error": ...}`) is never SILENT: it is answered WHEN_IDLE, so the person
  hears that it did not work.

So every family gets a declaration set it accepts, and `scheduling_for` agrees with what
`LiveSession` allows: a scheduling only on answers to non-blocking calls. A model id edgevoice
does not know gets each tool's preferred behaviour, written out.

Core module: handlers never read the clock or touch the system. What a tool needs from the
outside the caller measures and passes in a `ToolContext`; what it changes it returns as a
`ToolAction` for the caller to carry out.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from edgevoice.live.events import FunctionCall
from edgevoice.live.frames import FunctionDeclaration, Scheduling, Setup
from edgevoice.live.json_schema import check_arguments, live_parameters, schema_problems
from edgevoice.live.json_view import JsonValue, snippet
from edgevoice.live.models import Behavior, rules_for, takes_scheduling

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What the caller measured for the tools, right before running one.

    - `now`: the device's local date and time, timezone-aware (`datetime.now().astimezone()`);
      a naive datetime is refused (ValueError): the answer must say which time zone it is in.
    - `time_zone`: the zone's name, e.g. "Europe/Berlin" ("" : the datetime's own name, such
      as "CET").
    - `volume_percent`: the speaker's volume now, 0-100; None when the device cannot tell.
    """

    now: dt.datetime
    time_zone: str = ""
    volume_percent: int | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("ToolContext.now must be timezone-aware; use .astimezone()")
        volume = self.volume_percent
        if volume is not None and not 0 <= volume <= 100:
            raise ValueError(f"volume_percent must be 0-100 or None, got {volume}")


@dataclass(frozen=True, slots=True)
class SetVolume:
    """Set the speaker's volume to `percent` (0-100)."""

    percent: int


@dataclass(frozen=True, slots=True)
class Mute:
    """Mute the microphone, as `edgevoice ctl mute` does (nothing leaves the device)."""


@dataclass(frozen=True, slots=True)
class EndConversation:
    """End the conversation once the model's reply has played: stop listening, close the
    connection (1000) and drop the resumption handle."""


ToolAction: TypeAlias = SetVolume | Mute | EndConversation


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """A call's answer (`response`, the toolResponse's object) and what the app does next."""

    response: dict[str, JsonValue]
    action: ToolAction | None = None

    @property
    def failed(self) -> bool:
        return "error" in self.response


def failure(message: str) -> ToolOutcome:
    """An `{"error": message}` answer: it tells the model the call failed, so it can say so."""
    return ToolOutcome({"error": message})


@dataclass(frozen=True, slots=True)
class Timing:
    """When the model uses a tool's result.

    `waits`: the answer needs the result, so the call is BLOCKING wherever the model's family
    runs blocking calls; otherwise NON_BLOCKING wherever it runs those. `scheduling`: how the
    answer to a call that runs non-blocking is scheduled (a failed call is never SILENT).
    """

    waits: bool
    scheduling: Scheduling


def behavior_for(timing: Timing, model: str) -> Behavior:
    """The behaviour a tool with `timing` is declared with on `model`. A family that cannot run
    the preferred behaviour gets the other one; an unknown model gets the preferred one."""
    preferred = Behavior.BLOCKING if timing.waits else Behavior.NON_BLOCKING
    rules = rules_for(model)
    if rules is None or preferred in rules.behaviors:
        return preferred
    (other,) = rules.behaviors  # a family runs at least one behaviour
    return other


def response_scheduling(timing: Timing, model: str, failed: bool) -> Scheduling | None:
    """The scheduling of an answer to a call of a tool with `timing` on `model`: None when the
    call blocks there (LiveSession refuses a scheduling then)."""
    if not takes_scheduling(model, behavior_for(timing, model)):
        return None
    if failed and timing.scheduling is Scheduling.SILENT:
        return Scheduling.WHEN_IDLE
    return timing.scheduling


Handler = Callable[[Mapping[str, JsonValue], ToolContext], ToolOutcome]


@dataclass(frozen=True, slots=True)
class LocalTool:
    """An allow-listed tool: what the model is told and what runs.

    `arguments` is the JSON schema (the `edgevoice.live.json_schema` subset) the model is
    shown; `accepts` a looser one the call's arguments are checked against when the handler
    takes more than it advertises (set_volume clamps 120 to 100 rather than failing).
    """

    name: str
    description: str
    timing: Timing
    handler: Handler
    arguments: Mapping[str, JsonValue] = field(
        default_factory=lambda: MappingProxyType({"type": "object"})
    )
    accepts: Mapping[str, JsonValue] | None = None

    def __post_init__(self) -> None:
        for schema in (self.arguments, self.accepts):
            if schema is not None and schema_problems(schema):
                raise ValueError(f"{self.name}: {schema_problems(schema)}")

    def declaration(self, model: str) -> FunctionDeclaration:
        """The declaration for `model`, with the behaviour that model runs the tool with."""
        return FunctionDeclaration(
            name=self.name,
            description=self.description,
            parameters=live_parameters(self.arguments),
            behavior=behavior_for(self.timing, model),
        )


# --------------------------------------------------------------------------------------------
# The handlers


def _get_time(args: Mapping[str, JsonValue], context: ToolContext) -> ToolOutcome:
    now = context.now
    offset = now.utcoffset() or dt.timedelta()
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return ToolOutcome(
        {
            "date": now.date().isoformat(),
            "time": f"{now.hour:02d}:{now.minute:02d}",
            "weekday": WEEKDAYS[now.weekday()],  # not strftime("%A"): that follows the locale
            "time_zone": context.time_zone or now.tzname() or f"UTC{sign}{hours:02d}:{rest:02d}",
            "utc_offset": f"{sign}{hours:02d}:{rest:02d}",
        }
    )


def _get_volume(args: Mapping[str, JsonValue], context: ToolContext) -> ToolOutcome:
    if context.volume_percent is None:
        return failure("this device cannot tell its speaker volume")
    return ToolOutcome({"volume_percent": context.volume_percent})


def _set_volume(args: Mapping[str, JsonValue], context: ToolContext) -> ToolOutcome:
    asked = args.get("percent")
    if not isinstance(asked, (int, float)) or isinstance(asked, bool):  # `accepts` checked it
        return failure("set_volume needs percent, a number 0-100")
    percent = min(100, max(0, math.floor(asked + 0.5)))
    response: dict[str, JsonValue] = {"volume_percent": percent}
    if percent != asked:
        response["note"] = f"asked for {snippet(repr(asked), 24)}; the range is 0-100 in steps of 1"
    return ToolOutcome(response, SetVolume(percent))


def _mute(args: Mapping[str, JsonValue], context: ToolContext) -> ToolOutcome:
    return ToolOutcome(
        {"muted": True, "note": "the microphone is off until a person turns it on at the device"},
        Mute(),
    )


def _end_conversation(args: Mapping[str, JsonValue], context: ToolContext) -> ToolOutcome:
    return ToolOutcome({"ended": True}, EndConversation())


_ANSWER_NOW = Timing(waits=True, scheduling=Scheduling.INTERRUPT)

GET_TIME = LocalTool(
    name="get_time",
    description=(
        "Returns the device's current local date, time (24-hour), weekday and time zone. Call "
        "it whenever the user asks for the time, the date or the day of the week; never guess."
    ),
    timing=_ANSWER_NOW,
    handler=_get_time,
)
GET_VOLUME = LocalTool(
    name="get_volume",
    description="Returns the speaker's current volume in percent (0 silent, 100 loudest).",
    timing=_ANSWER_NOW,
    handler=_get_volume,
)
SET_VOLUME = LocalTool(
    name="set_volume",
    description=(
        "Sets the speaker's volume in percent (0 silent, 100 loudest) and returns the volume "
        "set. For 'louder' or 'quieter', call get_volume first and change it by about 15."
    ),
    timing=Timing(waits=True, scheduling=Scheduling.SILENT),
    handler=_set_volume,
    arguments=MappingProxyType(
        {
            "type": "object",
            "properties": {
                "percent": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 100,
                    "description": "The new volume, 0-100.",
                }
            },
            "required": ["percent"],
        }
    ),
    accepts=MappingProxyType(
        {"type": "object", "properties": {"percent": {"type": "number"}}, "required": ["percent"]}
    ),
)
MUTE = LocalTool(
    name="mute",
    description=(
        "Turns the device's microphone off: it stops listening until a person turns it back on "
        "at the device. Call it only when the user asks you to stop listening or to mute the "
        "microphone; it cannot be undone by voice."
    ),
    timing=Timing(waits=False, scheduling=Scheduling.SILENT),
    handler=_mute,
)
END_CONVERSATION = LocalTool(
    name="end_conversation",
    description=(
        "Ends the conversation: after your reply the device stops listening and hangs up. "
        "Call it when the user says goodbye or asks you to stop; say a short goodbye as well."
    ),
    timing=Timing(waits=False, scheduling=Scheduling.SILENT),
    handler=_end_conversation,
)

LOCAL_TOOLS: Mapping[str, LocalTool] = MappingProxyType(
    {tool.name: tool for tool in (GET_TIME, GET_VOLUME, SET_VOLUME, MUTE, END_CONVERSATION)}
)


# --------------------------------------------------------------------------------------------
# The app's entry points


def declarations_for(names: Iterable[str], model: str) -> tuple[FunctionDeclaration, ...]:
    """The declarations of the named tools for `model`, in the given order, each once. Every
    model family takes the result (see the module docstring).

    Raises ValueError naming the unknown tools and the allowed ones (the config validates the
    same list, so this only fires on a programming error).
    """
    wanted = list(dict.fromkeys(names))
    unknown = [n for n in wanted if n not in LOCAL_TOOLS]
    if unknown:
        raise ValueError(f"unknown tool(s) {unknown}; allowed: {sorted(LOCAL_TOOLS)}")
    return tuple(LOCAL_TOOLS[n].declaration(model) for n in wanted)


def scheduling_for(setup: Setup, name: str, outcome: ToolOutcome) -> Scheduling | None:
    """The scheduling to answer a call of `name` with, under the `setup` the session runs
    (`session.setup`); None when the call blocks there (LiveSession refuses a scheduling then).

    Whether a scheduling is allowed is decided exactly as LiveSession decides it: by the
    behaviour `name` was declared with in `setup` (a name declared nowhere follows the family's
    default). Its value: the built-in's `Timing` when `setup` declares the built-in, WHEN_IDLE
    otherwise; a failed call is never SILENT.
    """
    if not takes_scheduling(setup.model, setup.declared_behavior(name)):
        return None
    tool = LOCAL_TOOLS.get(name)
    declared = any(d.name == name for d in setup.function_declarations)
    scheduling = tool.timing.scheduling if tool is not None and declared else Scheduling.WHEN_IDLE
    if outcome.failed and scheduling is Scheduling.SILENT:
        return Scheduling.WHEN_IDLE
    return scheduling


def run_local_tool(
    call: FunctionCall,
    context: ToolContext,
    enabled: Iterable[str] | None = None,
) -> ToolOutcome:
    """The outcome of `call`; never raises.

    A call for a tool that is unknown or not in `enabled` (None = every built-in), or with
    arguments its schema refuses, gets `{"error": "..."}` (naming the argument), which tells the
    model the call failed instead of leaving it waiting; it has no action.
    """
    allowed = (
        LOCAL_TOOLS if enabled is None else {n: LOCAL_TOOLS[n] for n in enabled if n in LOCAL_TOOLS}
    )
    tool = allowed.get(call.name)
    if tool is None:
        return failure(f"no tool named {snippet(call.name, 64)} is available on this device")
    problems = check_arguments(tool.accepts or tool.arguments, call.args)
    if problems:
        return failure(f"{tool.name}: " + "; ".join(problems))
    return tool.handler(call.args, context)
