"""The error tree: built-in bases, and how close codes map to retry classes (section 6.4)."""

from __future__ import annotations

import pytest

from edgevoice.errors import (
    AudioDeviceError,
    ConfigError,
    ConfigProblem,
    ConnectError,
    DeviceBusyError,
    DeviceNotFoundError,
    DeviceStalledError,
    EdgevoiceError,
    ErrorClass,
    LocalProtocolError,
    RemoteProtocolError,
    SessionClosedError,
    error_class_of,
)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (ConfigError, ValueError),
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


@pytest.mark.parametrize(
    ("code", "reason", "expected", "drop_handle"),
    [
        (1000, "", ErrorClass.TRANSIENT, False),
        (1006, "", ErrorClass.TRANSIENT, False),
        (1007, "API key not valid. Please pass a valid API key.", ErrorClass.FATAL, False),
        (1007, "Request contains an invalid argument.", ErrorClass.FATAL, False),
        (
            1008,
            "models/x is not found for API version v1beta, or is not supported for bidiGen",
            ErrorClass.FATAL,
            False,
        ),
        (1008, "BidiGenerateContent session not found", ErrorClass.TRANSIENT, True),
        (1009, "message too big", ErrorClass.TRANSIENT, False),
        (
            1011,
            "You exceeded your current quota, please check your plan and billing details.",
            ErrorClass.THROTTLED,
            False,
        ),
        (1011, "Resource has been exhausted (e.g. check quota).", ErrorClass.THROTTLED, False),
        (1011, "Internal error encountered.", ErrorClass.TRANSIENT, False),
        (1011, "The service is currently unavailable.", ErrorClass.TRANSIENT, False),
        (
            1011,
            "Deadline expired before operation could complete.",
            ErrorClass.TRANSIENT,
            False,
        ),
        (1011, "keepalive ping timeout", ErrorClass.TRANSIENT, False),
    ],
)
def test_close_classification(
    code: int, reason: str, expected: ErrorClass, drop_handle: bool
) -> None:
    error = SessionClosedError(code, reason)
    assert error.error_class is expected
    assert error.resumption_rejected is drop_handle
    assert str(code) in str(error)
    assert error_class_of(error) is expected


def test_connect_error_classes() -> None:
    assert ConnectError("x").error_class is ErrorClass.TRANSIENT
    assert ConnectError("x", http_status=404).error_class is ErrorClass.FATAL
    assert ConnectError("x", http_status=403).error_class is ErrorClass.FATAL
    assert ConnectError("x", http_status=429).error_class is ErrorClass.THROTTLED
    assert ConnectError("x", http_status=503).error_class is ErrorClass.TRANSIENT
    assert ConnectError("x", error_class=ErrorClass.FATAL).error_class is ErrorClass.FATAL


def test_classifier_on_foreign_exceptions() -> None:
    assert error_class_of(TimeoutError()) is ErrorClass.TRANSIENT
    assert error_class_of(ConnectionResetError()) is ErrorClass.TRANSIENT
    assert error_class_of(KeyError("bug")) is ErrorClass.FATAL
    assert error_class_of(LocalProtocolError("bug")) is ErrorClass.FATAL
    assert error_class_of(DeviceBusyError("busy")) is ErrorClass.TRANSIENT


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
