"""`check-config` refuses a setting the configured model's family cannot take, naming the key
and the model, so a device never learns it from a 1007 at the first press (issue 8, items 1 and
6). Each rule cites its source: docs/live-protocol.md (revised 2026-11) sections 1.1, 2.2, 3.4
and 9, which are what `edgevoice.live.models` encodes.

The expectations are written out here, from the doc, not read from the code under test.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edgevoice.app.session_config import live_plan
from edgevoice.config import AuthConfig, Config, LiveConfig
from edgevoice.errors import ConfigError

G25 = "gemini-2.5-flash-native-audio-preview-12-2025"
G31 = "gemini-3.1-flash-live-preview"
G38 = "gemini-3.8-live"
G38T = "gemini-3.8-live-extended-thinking"

# (id, model, settings, the key refused, a fragment of the message, source)
REFUSED: list[tuple[str, str, dict[str, str], str, str, str]] = [
    # Section 9: "gemini-3.8-live ... no thinkingConfig (omit it)".
    (
        "3.8 no budget",
        G38,
        {"thinking_budget": "0"},
        "live.thinking_budget",
        "no thinking budget",
        "§9",
    ),
    (
        "3.8 no level",
        G38,
        {"thinking_level": '"low"'},
        "live.thinking_level",
        "no thinking level",
        "§9",
    ),
    # Section 9: 3.8 "proactive audio always on (proactiveAudio:false is an error)".
    (
        "3.8 proactive off",
        G38,
        {"proactive_audio": '"off"'},
        "live.proactive_audio",
        "always has proactive audio",
        "§9",
    ),
    # Section 9: 3.8 "affective dialog removed (enableAffectiveDialog must be dropped)".
    (
        "3.8 affective",
        G38,
        {"affective_dialog": "true", "api_version": '"v1alpha"'},
        "live.affective_dialog",
        "no affective dialog",
        "§9",
    ),
    # Section 9: extended thinking "requires a thinking level (low / medium / high) or it
    # refuses to start".
    (
        "3.8T level missing",
        G38T,
        {},
        "live.thinking_level",
        "refuses to start without a thinking level",
        "§9",
    ),
    (
        "3.8T minimal",
        G38T,
        {"thinking_level": '"minimal"'},
        "live.thinking_level",
        "is not a level",
        "§9",
    ),
    (
        "3.8T budget",
        G38T,
        {"thinking_level": '"low"', "thinking_budget": "100"},
        "live.thinking_budget",
        "use live.thinking_level",
        "§9",
    ),
    # Section 2.2: 2.5 takes thinkingBudget; a thinking setting the model does not support
    # gives "1007 Thinking level is not supported for this model".
    (
        "2.5 level",
        G25,
        {"thinking_level": '"high"'},
        "live.thinking_level",
        "use live.thinking_budget",
        "§2.2",
    ),
    # Sections 1.1 and 2.2: proactivity and enableAffectiveDialog are v1alpha only; v1beta
    # answers 1007 Unknown name "proactivity".
    (
        "2.5 proactive v1beta",
        G25,
        {"proactive_audio": '"on"'},
        "live.proactive_audio",
        "needs live.api_version = 'v1alpha'",
        "§1.1, §2.2",
    ),
    (
        "2.5 affective v1beta",
        G25,
        {"affective_dialog": "true"},
        "live.affective_dialog",
        "needs live.api_version = 'v1alpha'",
        "§1.1, §9",
    ),
    # Section 2.2: proactivity "on the Constrained endpoint gives 1007 Unknown name".
    (
        "2.5 proactive token",
        G25,
        {
            "proactive_audio": '"on"',
            "api_version": '"v1alpha"',
            "auth.token_command": '"/bin/true"',
        },
        "live.proactive_audio",
        "ephemeral-token endpoint",
        "§2.2",
    ),
    # Section 9: 3.1 "no proactive audio or affective dialog"; section 2.2: proactivity on 3.1
    # gives 1007, enableAffectiveDialog 1011 or Unknown name.
    (
        "3.1 proactive",
        G31,
        {"proactive_audio": '"on"', "api_version": '"v1alpha"'},
        "live.proactive_audio",
        "has no proactive audio",
        "§2.2, §9",
    ),
    (
        "3.1 affective",
        G31,
        {"affective_dialog": "true", "api_version": '"v1alpha"'},
        "live.affective_dialog",
        "no affective dialog",
        "§2.2, §9",
    ),
    (
        "3.1 budget",
        G31,
        {"thinking_budget": "512"},
        "live.thinking_budget",
        "use live.thinking_level",
        "§2.2",
    ),
]

# (id, model, settings, source): accepted, and what the doc says makes them right.
ACCEPTED: list[tuple[str, str, dict[str, str], str]] = [
    ("3.8 defaults", G38, {}, "§9: the stable default"),
    ("3.8 proactive on", G38, {"proactive_audio": '"on"'}, "§9: always on; nothing to send"),
    ("3.8T level", G38T, {"thinking_level": '"high"', "tools": "[]"}, "§9"),
    ("2.5 budget 0", G25, {"thinking_budget": "0"}, "§2.2: 0 = off"),
    ("2.5 budget", G25, {"thinking_budget": "1024"}, "§2.2"),
    (
        "2.5 v1alpha extras",
        G25,
        {"proactive_audio": '"on"', "affective_dialog": "true", "api_version": '"v1alpha"'},
        "§1.1, §2.2",
    ),
    ("3.1 level", G31, {"thinking_level": '"minimal"'}, "§2.2: 3.1 level, default minimal"),
    ("3.1 proactive off", G31, {"proactive_audio": '"off"'}, "§9: it has none, so off is true"),
]


def config_text(model: str, settings: dict[str, str]) -> str:
    """A config file setting `model` and `settings` (TOML values; "auth.x" keys go to [auth])."""
    live = [f'model = "{model}"']
    auth = []
    for key, value in settings.items():
        if key.startswith("auth."):
            auth.append(f"{key.removeprefix('auth.')} = {value}")
        else:
            live.append(f"{key} = {value}")
    text = "[live]\n" + "\n".join(live) + "\n"
    return text + ("[auth]\n" + "\n".join(auth) + "\n" if auth else "")


@pytest.mark.parametrize(
    ("model", "settings", "key", "fragment", "source"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_check_config_refuses_what_the_family_cannot_take(
    cli: Any,
    write: Callable[..., Path],
    model: str,
    settings: dict[str, str],
    key: str,
    fragment: str,
    source: str,
) -> None:
    path = write(config_text(model, settings))
    result = cli("check-config", "--config", str(path))
    assert result.status == 78, f"{source}: {result.err}"
    line = next(x for x in result.err.splitlines() if f"config error: {key}:" in x)
    assert fragment in line and model in line and str(path) in line
    assert "Traceback" not in result.err and result.out == ""


@pytest.mark.parametrize(
    ("model", "settings", "source"),
    [case[1:] for case in ACCEPTED],
    ids=[case[0] for case in ACCEPTED],
)
def test_check_config_accepts_what_the_family_takes(
    cli: Any, write: Callable[..., Path], model: str, settings: dict[str, str], source: str
) -> None:
    path = write(config_text(model, settings))
    result = cli("check-config", "--config", str(path))
    assert result.status == 0, f"{source}: {result.err}"
    assert f"# model: {model} (gemini-" in result.out


def test_a_fallback_is_held_to_its_own_family(cli: Any, write: Callable[..., Path]) -> None:
    # 2.5 takes a budget (section 2.2); the 3.8 fallback takes none (section 9): a device that
    # falls back must not then be refused with 1007, so check-config refuses it now.
    text = config_text(G25, {"thinking_budget": "0", "fallback_models": f'["{G38}"]'})
    result = cli("check-config", "--config", str(write(text)))
    assert result.status == 78
    assert "live.thinking_budget: fallback model gemini-3.8-live takes no thinking budget" in (
        result.err
    )


def test_fallbacks_that_suit_are_listed_in_order(cli: Any, write: Callable[..., Path]) -> None:
    text = config_text(G38, {"fallback_models": f'["{G25}", "models/{G31}"]'})
    result = cli("check-config", "--config", str(write(text)))
    assert result.status == 0, result.err
    lines = [x for x in result.out.splitlines() if x.startswith("# ")]
    assert lines[2:5] == [
        f"# model: {G38} (gemini-3.8 live)",
        f"# fallback 1: {G25} (gemini-2.5 native audio)",
        f"# fallback 2: models/{G31} (gemini-3.1 live (legacy preview))",
    ]


def test_an_unknown_model_is_accepted_with_one_warning(cli: Any) -> None:
    # Ids churn (section 9, section 11): an unknown id is used as is; nothing family-specific
    # is checked, so a level that 3.8 would refuse passes for it.
    result = cli(
        "check-config",
        "--set",
        "live.model=gemini-9.9-live",
        "--set",
        "live.thinking_level=high",
    )
    assert result.status == 0, result.err
    warnings = [x for x in result.err.splitlines() if "gemini-9.9-live" in x]
    assert warnings == [
        "edgevoice: warning: live.model: 'gemini-9.9-live' is a model edgevoice does not know: "
        "it is used as is, without family checks (--set)"
    ]
    assert "# model: gemini-9.9-live (unknown family)" in result.out


def test_a_near_miss_model_id_suggests_the_known_one(cli: Any) -> None:
    result = cli("check-config", "--set", "live.model=gemini-3.8-lve")
    assert "did you mean 'gemini-3.8-live'?" in result.err


def test_the_problem_comes_from_where_the_setting_was_made(
    cli: Any, write: Callable[..., Path]
) -> None:
    # The level is in the file, the model that refuses it comes from --set: both are named.
    path = write('[live]\nthinking_level = "low"\n')
    result = cli("check-config", "--config", str(path), "--set", f"live.model={G38}")
    assert result.status == 78
    assert f"live.thinking_level: {G38} takes no thinking level; remove it ({path} and --set)" in (
        result.err
    )


@pytest.mark.parametrize(
    ("model", "settings", "key", "fragment", "source"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_the_setup_refuses_the_same_key_when_the_config_checks_are_bypassed(
    model: str, settings: dict[str, str], key: str, fragment: str, source: str
) -> None:
    """One path, two guards: the live layer's Setup (edgevoice.live.setup_rules) refuses the
    same settings, and `live_plan` reports its refusal as a config problem with the same key,
    even for a Config built without `parse_config`'s checks."""
    values = tomllib.loads(config_text(model, settings))
    live = dataclasses.replace(LiveConfig(), **_typed(LiveConfig, values["live"]))
    auth = dataclasses.replace(AuthConfig(), **_typed(AuthConfig, values.get("auth", {})))
    with pytest.raises(ConfigError) as caught:
        live_plan(dataclasses.replace(Config(), live=live, auth=auth))
    keys = [p.key for p in caught.value.problems]
    assert keys == [key], f"{source}: {caught.value}"
    assert model in str(caught.value)


def _typed(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
