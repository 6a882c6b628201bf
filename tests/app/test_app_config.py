"""The #9 config keys: bounds, cross-checks, operator tools ([[tools.command]]) and what they put
in the setup frame of each model family."""

from __future__ import annotations

import pytest

from edgevoice.app.session_config import live_plan
from edgevoice.config import Config, parse_config, to_toml
from edgevoice.errors import ConfigError
from edgevoice.live.models import Behavior

TOOL = """
[[tools.command]]
name = "lights_on"
description = "Switches the lights on in one room."
argv = ["/usr/local/bin/lights", "on"]
parameters = { type = "object", properties = { room = { type = "string", enum = ["kitchen", "hall"] } }, required = ["room"] }
timeout_s = 5
"""  # noqa: E501


def problems(text: str, *overrides: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "test.toml", overrides)
    return {p.key: p.message for p in caught.value.problems}


def test_the_defaults_of_the_new_keys() -> None:
    config = Config()
    assert config.button.long_press_s == 2.0
    assert (config.led.kind, config.led.pin) == ("single", 27)
    assert config.vad.min_utterance_ms == 400
    assert (config.limits.max_turn_s, config.limits.daily_audio_s) == (60.0, 3600.0)
    assert config.earcons.listen_start and config.earcons.limit
    assert config.tools.command == ()
    assert config.control.enabled and config.control.group == ""
    assert config.live.tools == ("get_time", "get_volume", "set_volume", "end_conversation")


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ("button.long_press_s=0.1", "button.long_press_s", "below the minimum 0.5 s"),
        ("led.kind=blinky", "led.kind", "is not one of"),
        ("vad.min_utterance_ms=10", "vad.min_utterance_ms", "below the minimum"),
        ("limits.max_turn_s=1", "limits.max_turn_s", "below the minimum 5 s"),
        ("limits.daily_audio_s=-1", "limits.daily_audio_s", "below the minimum"),
        ("limits.daily_audio_s=nan", "limits.daily_audio_s", "not a finite number"),
        ("earcons.error=1", "earcons.error", "not true or false"),
        ('control.group="Wheel Group"', "control.group", "is not a group name"),
        ("tools.command=3", "tools.command", "must be a list of tables"),
    ],
)
def test_bad_values_are_refused_with_their_key(override: str, key: str, fragment: str) -> None:
    found = problems("", override)
    assert key in found and fragment in found[key], found


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("[vad]\nonset_ms = 500\nmin_utterance_ms = 300\n", "vad.min_utterance_ms", "onset"),
        (
            "[limits]\nmax_turn_s = 5\n[vad]\nmin_utterance_ms = 3000\nend_ms = 3000\n",
            "limits.max_turn_s",
            "min_utterance_ms + vad.end_ms",
        ),
        ("[limits]\ndaily_audio_s = 30\n", "limits.daily_audio_s", "less than one turn"),
        ("[led]\nenabled = true\npin = 17\n", "led.pin", "already button.pin"),
        (
            '[led]\nenabled = true\nkind = "rgb"\nred_pin = 5\ngreen_pin = 5\n',
            "led.green_pin",
            "already led.red_pin",
        ),
    ],
)
def test_cross_checks(text: str, key: str, fragment: str) -> None:
    found = problems(text)
    assert key in found and fragment in found[key], found


def test_pins_may_repeat_what_is_not_in_use() -> None:
    # The button is not used with the voice trigger; the LED pins only when the LED is on.
    parse_config('[trigger]\nmode = "voice"\n[led]\nenabled = true\npin = 17\n', "t")
    parse_config("[led]\nenabled = false\npin = 17\n", "t")
    parse_config("[limits]\ndaily_audio_s = 0\n", "t")  # 0 = no cap


def test_an_operator_tool_is_declared_in_every_setup() -> None:
    config = parse_config(
        TOOL + '[live]\nfallback_models = ["gemini-3.1-flash-live-preview"]\n', "t"
    )
    (tool,) = config.tools.command
    assert tool.argv == ("/usr/local/bin/lights", "on") and tool.timeout_s == 5.0
    plan = live_plan(config)
    declared = {s.bare_model: s.function_declarations[-1] for s in plan.setups}
    on_38 = declared["gemini-3.8-live"]
    assert on_38.name == "lights_on" and on_38.behavior is Behavior.BLOCKING
    assert on_38.parameters == {
        "type": "OBJECT",
        "properties": {"room": {"type": "STRING", "enum": ["kitchen", "hall"]}},
        "required": ["room"],
    }
    assert declared["gemini-3.1-flash-live-preview"].behavior is Behavior.BLOCKING


def test_a_non_blocking_tool_becomes_blocking_where_the_family_runs_only_that() -> None:
    text = TOOL.replace("timeout_s = 5", 'behavior = "non_blocking"\nscheduling = "silent"')
    config = parse_config(text + '[live]\nmodel = "gemini-3.1-flash-live-preview"\n', "t")
    (setup,) = live_plan(config).setups
    assert setup.function_declarations[-1].behavior is Behavior.BLOCKING  # 3.1 runs only that
    config = parse_config(text, "t")
    assert live_plan(config).setups[0].function_declarations[-1].behavior is (Behavior.NON_BLOCKING)


@pytest.mark.parametrize(
    ("change", "key", "fragment"),
    [
        (('argv = ["/usr/local/bin/lights", "on"]', 'argv = ["lights", "on"]'), ".argv",
         "absolute path"),
        (('argv = ["/usr/local/bin/lights", "on"]', "argv = []"), ".argv", "non-empty list"),
        (('name = "lights_on"', 'name = "get_time"'), ".name", "built-in tool"),
        (('name = "lights_on"', 'name = "lights on"'), ".name", "is not a tool name"),
        (('description = "Switches the lights on in one room."', 'description = ""'),
         ".description", "is missing"),
        (("timeout_s = 5", "timeout_s = 0"), ".timeout_s", "not a number of seconds"),
        (("timeout_s = 5", 'behavior = "sometimes"'), ".behavior", "is not one of"),
        (("timeout_s = 5", 'scheduling = "later"'), ".scheduling", "is not one of"),
        (("timeout_s = 5", 'shell = "/bin/sh"'), ".shell", "unknown key"),
        (('enum = ["kitchen", "hall"]', "maxLength = -3"), ".parameters", "maxLength"),
        (('enum = ["kitchen", "hall"]', "default = 2026-01-01"), ".parameters",
         "no type for"),
    ],
)  # fmt: skip
def test_bad_operator_tools_are_refused_naming_the_field(
    change: tuple[str, str], key: str, fragment: str
) -> None:
    old, new = change
    assert old in TOOL
    found = problems(TOOL.replace(old, new))
    full = f"tools.command[1]{key}"
    assert full in found and fragment in found[full], found


def test_a_tool_declared_twice_is_refused() -> None:
    found = problems(TOOL + TOOL)
    assert "twice" in found["tools.command[2].name"]


def test_the_effective_config_prints_the_tools_and_reads_back_equal() -> None:
    config = parse_config(TOOL, "t")
    printed = to_toml(config)
    assert "[[tools.command]]" not in printed  # an inline array of tables
    assert parse_config(printed, "printed") == config


def test_tools_can_be_given_with_set() -> None:
    config = parse_config(
        None,
        "t",
        ['tools.command=[{name = "x", description = "d", argv = ["/bin/true"]}]'],
    )
    assert config.tools.command[0].argv == ("/bin/true",)
    assert config.sources["tools.command"] == "--set"
