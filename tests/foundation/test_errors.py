"""The error tree and the one error policy: how close codes map to retry classes (protocol doc
section 6.4, 6.2 and the 3.8 field report) and what each error means for the process (issue #7
section 2, #8 item 3). Expectations are written out from those sources, not read from the code.
"""

from __future__ import annotations

import pytest

from edgevoice.errors import (
    ATTENTION_RETRY_S,
    MAX_CONSECUTIVE_FAILURES,
    Action,
    AudioDeviceError,
    ConfigError,
    ConfigProblem,
    ConnectError,
    CredentialError,
    DeviceBusyError,
    DeviceNotFoundError,
    DeviceStalledError,
    Disposition,
    EdgevoiceError,
    ErrorClass,
    LocalProtocolError,
    RemoteProtocolError,
    SessionClosedError,
    disposition,
    error_class_of,
)

F, TH, T = ErrorClass.FATAL, ErrorClass.THROTTLED, ErrorClass.TRANSIENT
NOT_FOUND = (
    "models/gemini-x is not found for API version v1beta, or is not supported for "
    "bidiGenerateContent. Call ListMo"
)
KEY_1007 = "API key not valid. Please pass a valid API key."
ABORTED = "The operation was aborted."


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (ConfigError, ValueError),
        (CredentialError, OSError),
        (AudioDeviceError, OSError),
        (DeviceBusyError, OSError),
        (DeviceStalledError, OSError),
        (DeviceNotFoundError, OSError),
        (LocalProtocolError, RuntimeError),
        (RemoteProtocolError, ValueError),
        (ConnectError, ConnectionError),
        (SessionClosedError, ConnectionError),
    ],
)
def test_each_error_inherits_the_matching_builtin(cls: type, builtin: type) -> None:
    assert issubclass(cls, EdgevoiceError)
    assert issubclass(cls, builtin)


# (code, reason, resumed, class, drop the handle) from docs/live-protocol.md 6.4 and 6.2.
CLOSES = [
    (1000, "", False, T, False),
    (1006, "", False, T, False),
    (1007, KEY_1007, False, F, False),
    (1007, KEY_1007, True, F, False),  # a bad key stays a bad key on a resume attempt
    (1007, "Request contains an invalid argument.", False, F, False),
    # 3.8 field report: a non-key 1007 on a resume attempt means the handle is unusable.
    (1007, "Request contains an invalid argument.", True, T, True),
    (1007, "Invalid JSON payload received. Unknown name \"x\" at 'setup'", True, T, True),
    (1008, NOT_FOUND, False, F, False),
    (1008, NOT_FOUND, True, F, False),
    (1008, "Publisher Model `projects/x/models/y` was not found", False, F, False),
    (1008, "Permission denied on resource project x.", False, F, False),
    (1008, "BidiGenerateContent session not found", False, T, True),
    (1008, "BidiGenerateContent session not found", True, T, True),
    (1008, ABORTED, False, T, False),
    (1008, ABORTED, True, T, False),
    (1008, "Requested entity was not found.", False, T, False),
    (1008, "Operation is not implemented, or supported, or enabled.", False, T, False),
    (1008, "", False, T, False),
    (1009, "message too big", False, T, False),
    (1011, "You exceeded your current quota, please check your plan and billing details.",
     False, TH, False),
    (1011, "Resource has been exhausted (e.g. check quota).", False, TH, False),
    (1011, "Internal error encountered.", False, T, False),
    (1011, "The service is currently unavailable.", False, T, False),
    (1011, "Deadline expired before operation could complete.", False, T, False),
]  # fmt: skip


@pytest.mark.parametrize(("code", "reason", "resumed", "expected", "drop_handle"), CLOSES)
def test_close_classification(
    code: int, reason: str, resumed: bool, expected: ErrorClass, drop_handle: bool
) -> None:
    error = SessionClosedError(code, reason, resumed=resumed)
    assert error.error_class is expected
    assert error.resumption_rejected is drop_handle
    assert str(code) in str(error)
    assert error_class_of(error) is expected


@pytest.mark.parametrize("code", [1002, 1007, 1008, 1009, 1011])
def test_a_close_websockets_sent_itself_is_never_the_servers_verdict(code: int) -> None:
    # websockets answers a close reason that is not UTF-8 with its own 1007; that must not read
    # as the server's FATAL 1007 (issue #7 section 2), and the message says it was our side.
    error = SessionClosedError(code, "invalid start byte at position 2", local=True)
    assert error.error_class is T
    assert not error.resumption_rejected
    assert "our side" in str(error)
    assert disposition(error).action is Action.RETRY


def test_close_reason_from_the_server_is_escaped_and_cut() -> None:
    error = SessionClosedError(1011, "line one\nFAKE: line two\x1b[31m" + "x" * 500)
    text = str(error)
    assert "\n" not in text and "\x1b" not in text
    assert "\\x0a" in text and "\\x1b" in text
    assert len(text) < 300
    assert error.reason.startswith("line one\n")  # the raw reason stays available


def test_connect_error_classes() -> None:
    assert ConnectError("x").error_class is T
    assert ConnectError("x", http_status=404).error_class is F
    assert ConnectError("x", http_status=403).error_class is F
    assert ConnectError("x", http_status=429).error_class is TH
    assert ConnectError("x", http_status=503).error_class is T
    assert ConnectError("x", error_class=F).error_class is F


def test_classifier_on_foreign_exceptions() -> None:
    assert error_class_of(TimeoutError()) is T
    assert error_class_of(ConnectionResetError()) is T
    # A bug of ours is logged and retried, never fatal (issue #7 section 2).
    assert error_class_of(KeyError("bug")) is T
    assert error_class_of(LocalProtocolError("bug")) is T
    assert error_class_of(DeviceBusyError("busy")) is T
    assert error_class_of(CredentialError("auth.token_command", "exited with status 3")) is T


def test_device_not_found_lists_candidates() -> None:
    error = DeviceNotFoundError("input", "usb", ["hw:0,0 bcm2835", "default"])
    assert "'hw:0,0 bcm2835'" in str(error) and "audio.input_device" in str(error)
    assert "\n" not in str(error)


def test_config_error_needs_a_problem_and_renders_each() -> None:
    with pytest.raises(ValueError):
        ConfigError([])
    error = ConfigError([ConfigProblem("a.b", "bad", "f.toml"), ConfigProblem("c.d", "worse")])
    assert "a.b: bad (f.toml)" in str(error) and "c.d: worse" in str(error)
    assert error.exit_status == 78


def test_credential_error_is_one_line_naming_its_key() -> None:
    error = CredentialError("auth.token_command", "exited with status 3: token server down")
    assert str(error) == "auth.token_command: exited with status 3: token server down"
    assert error.key == "auth.token_command"


# --------------------------------------------------------------------------------------------
# The policy: what each error means for the process


def test_config_error_exits_78_only_at_startup() -> None:
    error = ConfigError.single("live.model", "bad")
    at_start = disposition(error, at_startup=True)
    assert (at_start.action, at_start.exit_status) == (Action.EXIT, 78)
    later = disposition(error)
    assert later.action is Action.ATTENTION and later.exit_status is None
    assert "reload" in later.fix


def test_a_failing_token_command_is_retried_never_exit_78() -> None:
    error = CredentialError("auth.token_command", "did not finish within 15 s")
    for at_startup in (True, False):
        result = disposition(error, at_startup=at_startup)
        assert result.action is Action.RETRY and result.error_class is T
        assert result.backoff and not result.bounded and result.exit_status is None


@pytest.mark.parametrize(
    ("error", "headline_word", "fix_word", "fallback"),
    [
        (SessionClosedError(1007, KEY_1007), "key", "key", False),
        (SessionClosedError(1008, NOT_FOUND), "model", "live.model", True),
        (
            SessionClosedError(1007, "Request contains an invalid argument."),
            "setup",
            "live.",
            False,
        ),
        (ConnectError("refused", http_status=403), "key", "key", False),
        (ConnectError("no Live API here", http_status=404), "endpoint", "live.endpoint", False),
    ],
)
def test_fatal_remote_errors_stay_up_and_say_what_to_fix(
    error: EdgevoiceError, headline_word: str, fix_word: str, fallback: bool
) -> None:
    result = disposition(error)
    # Not EXIT: the process stays up; no retry until reload or restart.
    assert result.action is Action.ATTENTION
    assert result.retry_after is None and result.exit_status is None
    assert headline_word in result.headline.lower()
    assert fix_word in result.fix and "systemctl reload edgevoice" in result.fix
    assert "\n" not in result.fix
    assert result.try_fallback is fallback


def test_our_own_bug_is_logged_with_traceback_and_retried() -> None:
    for error in (LocalProtocolError("end_activity() without an open activity"), KeyError("x")):
        result = disposition(error)
        assert result.action is Action.RETRY and result.traceback and result.backoff
        assert not result.bounded  # never stops the device, however often it happens
        assert disposition(error, consecutive=1000).action is Action.RETRY


def test_network_failures_are_retried_for_ever() -> None:
    for error in (
        ConnectError("cannot reach the Live API: connection refused"),
        SessionClosedError(1006, "connection dropped without a close frame"),
        SessionClosedError(1011, "keepalive ping timeout", local=True),
        TimeoutError(),
    ):
        result = disposition(error, consecutive=1000)
        assert result.action is Action.RETRY and result.keep_handle and not result.traceback


def test_aborted_1008_keeps_the_handle_and_is_bounded() -> None:
    error = SessionClosedError(1008, ABORTED, resumed=True)
    first = disposition(error)
    assert first == Disposition(Action.RETRY, T, keep_handle=True, backoff=True, bounded=True)
    at_bound = disposition(error, consecutive=MAX_CONSECUTIVE_FAILURES)
    assert at_bound.action is Action.RETRY
    past = disposition(error, consecutive=MAX_CONSECUTIVE_FAILURES + 1)
    assert past.action is Action.ATTENTION
    assert past.retry_after == ATTENTION_RETRY_S  # heals by itself when the service recovers
    assert past.try_fallback and not past.keep_handle
    assert str(MAX_CONSECUTIVE_FAILURES + 1) in past.fix


def test_an_unusable_handle_asks_for_a_fresh_session_at_once() -> None:
    for error in (
        SessionClosedError(1008, "BidiGenerateContent session not found"),
        SessionClosedError(1007, "Request contains an invalid argument.", resumed=True),
    ):
        result = disposition(error)
        assert result.action is Action.RETRY
        assert not result.keep_handle and not result.backoff


def test_quota_backs_off_long_and_deadline_is_routine() -> None:
    quota = disposition(SessionClosedError(1011, "Resource has been exhausted (e.g. check quota)."))
    assert quota.action is Action.RETRY and quota.error_class is TH
    deadline = SessionClosedError(1011, "Deadline expired before operation could complete.")
    assert disposition(deadline, consecutive=100).action is Action.RETRY
    internal = SessionClosedError(1011, "Internal error encountered.")
    assert disposition(internal).bounded


def test_malformed_server_frames_are_retried_but_bounded() -> None:
    error = RemoteProtocolError("server message: not JSON")
    assert disposition(error).action is Action.RETRY
    assert disposition(error, consecutive=MAX_CONSECUTIVE_FAILURES + 1).action is Action.ATTENTION
