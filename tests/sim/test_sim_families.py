"""Model families, not name prefixes: what each family's setup and session accept.

Each rule cites its source: protocol doc section 9 (the model table), 2.2 (setup fields and the
field reports on gated fields), 3.3 (clientContent), 3.4 (function calls); "unverified" marks the
simulator's own choice where the doc gives the rule but not the service's exact answer
(edgevoice/sim/models.py lists them).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from simkit import (
    MODEL_25,
    MODEL_31,
    MODEL_38,
    MODEL_38T,
    ask,
    client,
    output_text,
    session,
    setup,
)

from edgevoice.sim import DEFAULT_MODELS, KNOWN_MODELS, Family, SimOptions
from edgevoice.sim.models import RULES, family_of_resource, served_models
from edgevoice.sim.proto import FrameRejected, ParseContext, parse_client_frame
from edgevoice.sim.rules import check_setup

GENERIC = "Request contains an invalid argument."
LEVEL_UNSUPPORTED = "Thinking level is not supported for this model"


def unknown(name: str, at: str) -> str:
    return f"Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field."


def setup_close(frame: dict[str, Any], api_version: str = "v1beta") -> tuple[int, str] | None:
    """Parse and check a setup frame as the simulator does; the close it gets, or None."""
    ctx = ParseContext(api_version, False, None, KNOWN_MODELS)
    try:
        body = parse_client_frame(json.dumps(frame), ctx).body
        check_setup(body, ctx, KNOWN_MODELS)
    except FrameRejected as rejected:
        return rejected.close.code, rejected.close.wire_reason
    return None


def test_both_38_models_are_served_by_default() -> None:
    # Issue 8 / section 9: gemini-3.8-live is the stable default; extended thinking beside it.
    assert {"gemini-3.8-live", "gemini-3.8-live-extended-thinking"} <= set(DEFAULT_MODELS)
    assert SimOptions().served["gemini-3.8-live"] is Family.LIVE_38
    assert SimOptions().served["gemini-3.8-live-extended-thinking"] is Family.LIVE_38_THINKING


def test_families_come_from_the_table_not_from_a_name_prefix() -> None:
    assert family_of_resource("models/gemini-3.1-flash-live-preview", KNOWN_MODELS) is (
        Family.LIVE_31
    )
    assert family_of_resource("models/gemini-3.8-live", KNOWN_MODELS) is Family.LIVE_38
    # A 3.x-looking id the table does not know has no family (it is "not found")...
    assert family_of_resource("models/gemini-3.9-live", KNOWN_MODELS) is None
    # ...and a served id gets exactly the family it is given, whatever its name says.
    served = served_models({"gemini-3-lookalike": Family.NATIVE_AUDIO_25})
    assert family_of_resource("models/gemini-3-lookalike", served) is Family.NATIVE_AUDIO_25
    with pytest.raises(ValueError, match="no known family"):
        served_models(("my-model",))


# --- thinking (sections 2.2 and 9) ------------------------------------------------------------

BUDGET = {"thinkingConfig": {"thinkingBudget": 0}}
LEVEL = {"thinkingConfig": {"thinkingLevel": "LOW"}}
MINIMAL = {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}
BOTH = {"thinkingConfig": {"thinkingLevel": "LOW", "thinkingBudget": 0}}
EMPTY = {"thinkingConfig": {}}


@pytest.mark.parametrize(
    ("model", "generation", "close"),
    [
        (MODEL_25, BUDGET, None),  # 2.5: budget, 0 = off (section 2.2)
        (MODEL_25, LEVEL, (1007, LEVEL_UNSUPPORTED)),  # section 2.2, verbatim
        (MODEL_31, LEVEL, None),  # 3.1: level (section 9)
        (MODEL_31, BUDGET, None),  # a budget alone is tolerated (unverified)
        (MODEL_31, BOTH, (1007, GENERIC)),  # never both (Gemini 3 docs; unverified on Live)
        (MODEL_38, {}, None),  # 3.8: omit thinkingConfig (section 9)
        (MODEL_38, BUDGET, (1007, GENERIC)),  # 3.8 takes none (text unverified)
        (MODEL_38, EMPTY, (1007, GENERIC)),
        (MODEL_38, LEVEL, (1007, LEVEL_UNSUPPORTED)),
        (MODEL_38T, LEVEL, None),  # extended thinking: a level is required (section 9)
        (MODEL_38T, {"thinkingConfig": {"thinkingLevel": "HIGH"}}, None),
        (MODEL_38T, {}, (1007, GENERIC)),  # "refuses to start" without one (text unverified)
        (MODEL_38T, MINIMAL, (1007, LEVEL_UNSUPPORTED)),  # low / medium / high only
        (MODEL_38T, BOTH, (1007, GENERIC)),
    ],
)
def test_thinking_config_per_family(
    model: str, generation: dict[str, Any], close: tuple[int, str] | None
) -> None:
    assert setup_close(setup(model, generation=generation)) == close


# --- proactivity and affective dialog (sections 2.2 and 9) -------------------------------------

PROACTIVE = {"proactivity": {"proactiveAudio": True}}
NOT_PROACTIVE = {"proactivity": {"proactiveAudio": False}}
REFUSED_PROACTIVITY = (1007, unknown("proactivity", "setup"))


@pytest.mark.parametrize(
    ("model", "extra", "api", "close"),
    [
        (MODEL_25, PROACTIVE, "v1alpha", None),  # 2.5 on v1alpha (field reports, 2.2)
        (MODEL_25, PROACTIVE, "v1beta", REFUSED_PROACTIVITY),
        (MODEL_31, PROACTIVE, "v1alpha", REFUSED_PROACTIVITY),  # 3.1: never
        (MODEL_38, PROACTIVE, "v1beta", None),  # 3.8: always on, the field exists (unverified)
        (MODEL_38, NOT_PROACTIVE, "v1beta", (1007, GENERIC)),  # "false is an error" (section 9)
        (MODEL_38T, NOT_PROACTIVE, "v1alpha", (1007, GENERIC)),
        (MODEL_38, {}, "v1beta", None),
    ],
)
def test_proactivity_per_family(
    model: str, extra: dict[str, Any], api: str, close: tuple[int, str] | None
) -> None:
    assert setup_close(setup(model, **extra), api) == close


@pytest.mark.parametrize(
    ("model", "api", "accepted"),
    [
        (MODEL_25, "v1alpha", True),  # 2.5, v1alpha only (section 2.2)
        (MODEL_25, "v1beta", False),
        (MODEL_31, "v1alpha", False),  # refused on 3.1 (section 2.2)
        (MODEL_38, "v1alpha", False),  # removed on 3.8 (section 9)
        (MODEL_38T, "v1alpha", False),
    ],
)
def test_affective_dialog_per_family(model: str, api: str, accepted: bool) -> None:
    close = setup_close(setup(model, generation={"enableAffectiveDialog": True}), api)
    refused = (1007, unknown("enableAffectiveDialog", "setup.generation_config"))
    assert close == (None if accepted else refused)


def test_the_extended_thinking_model_needs_its_level_even_for_gated_fields() -> None:
    frame = setup(MODEL_38T, generation={"enableAffectiveDialog": True, **LEVEL})
    assert setup_close(frame, "v1alpha") == (
        1007,
        unknown("enableAffectiveDialog", "setup.generation_config"),
    )


# --- function-call behaviour per family (sections 3.4 and 9) -----------------------------------


@pytest.mark.parametrize(
    ("family", "default_blocks", "allowed"),
    [
        (Family.NATIVE_AUDIO_25, True, {"BLOCKING", "NON_BLOCKING"}),
        (Family.LIVE_31, True, {"BLOCKING"}),
        (Family.LIVE_38, False, {"BLOCKING", "NON_BLOCKING"}),
        (Family.LIVE_38_THINKING, False, {"NON_BLOCKING"}),
    ],
)
def test_function_call_behaviour_table(
    family: Family, default_blocks: bool, allowed: set[str]
) -> None:
    rules = RULES[family]
    assert rules.blocks("") is default_blocks and rules.blocks("UNSPECIFIED") is default_blocks
    assert {b.value for b in rules.behaviors} == allowed
    assert rules.blocks("BLOCKING") and not rules.blocks("NON_BLOCKING")
    assert rules.cancels_blocking_call is (family in (Family.LIVE_38, Family.LIVE_38_THINKING))


# --- mid-session clientContent (sections 3.3 and 9) ----------------------------------------------

USER_TURN = {"clientContent": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}]}}
NO_ROLE = {"clientContent": {"turns": [{"parts": [{"text": "hi"}]}], "turnComplete": True}}


def complete(frame: dict[str, Any]) -> dict[str, Any]:
    return {"clientContent": {**frame["clientContent"], "turnComplete": True}}


async def test_38_takes_client_content_all_session_with_explicit_roles(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim, setup(MODEL_38)) as c:
        await ask(c)
        await c.turn()
        await c.send(complete(USER_TURN))  # mid-session: allowed on 3.8
        answer = await c.turn()
        assert output_text(answer).startswith("Parrot turn 2: you said 'hi'")
        await c.send(NO_ROLE)  # 3.8 wants an explicit role (text unverified)
        assert await c.closed() == (1007, GENERIC)
    assert "no role" in sim.connections[0].close_detail


async def test_25_takes_client_content_any_time_a_missing_role_is_the_user(
    sim_factory: Any,
) -> None:
    async with sim_factory() as sim, session(sim, setup(MODEL_25)) as c:
        await ask(c)
        await c.turn()
        await c.send(NO_ROLE)
        answer = await c.turn()
    assert output_text(answer).startswith("Parrot turn 2: you said 'hi'")


async def test_31_refuses_client_content_after_seeding(sim_factory: Any) -> None:
    frame = setup(MODEL_31, historyConfig={"initialHistoryInClientContent": True})
    async with sim_factory() as sim, session(sim, frame) as c:
        await c.send(USER_TURN)  # seeding the history: fine
        await ask(c)
        await c.turn()
        await c.send(complete(USER_TURN))
        assert await c.closed() == (1007, GENERIC)


async def test_a_served_id_outside_the_table_runs_by_the_family_it_is_given(
    sim_factory: Any,
) -> None:
    options = SimOptions(pace=0, models={"edge-test-model": Family.LIVE_38})
    async with sim_factory(options) as sim, session(sim, setup("models/edge-test-model")) as c:
        await ask(c)
        answer = await c.turn()
        async with client(sim) as other:
            await other.send(setup(MODEL_38))  # not served by this simulator
            assert (await other.closed())[0] == 1008
    assert answer[-1]["serverContent"]["interactionStatus"] == "IDLE"  # a 3.8 session
