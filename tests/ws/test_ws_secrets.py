"""The API key never reaches a log record, printed output, the request path or an error text."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from wskit import KEY, TIMEOUT, Reader, api_key, manual_turn, open_connection, tone

from edgevoice.errors import SessionClosedError
from edgevoice.sim import Fault, SimOptions

SimFactory = Callable[..., Any]


def _texts(record: logging.LogRecord) -> list[str]:
    """Everything a handler could print for a record, before any scrubbing filter runs."""
    texts = [str(record.msg), record.getMessage(), repr(record.args)]
    if record.exc_info and record.exc_info[1] is not None:
        texts.append(repr(record.exc_info[1]))
    texts += [repr(value) for value in vars(record).values()]
    return texts


async def test_key_is_in_no_log_record_output_or_path(
    sim_factory: SimFactory,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # DEBUG everywhere: websockets logs every handshake header line at DEBUG.
    caplog.set_level(logging.DEBUG)
    faults = (Fault.parse("abort@turn:1"),)
    async with sim_factory(SimOptions(pace=0, api_keys=frozenset({KEY}), faults=faults)) as sim:
        conn = await open_connection(sim, api_key())
        reader = Reader(conn)
        await manual_turn(conn, tone(0.3))
        await reader.turn()
        dropped = await reader.end(SessionClosedError)  # a failure path too
        # A refused key: its error and log lines must not carry it either.
        with pytest.raises(SessionClosedError) as refused:
            await open_connection(sim, api_key(KEY + "-wrong"))
        await sim.wait_closed(2, timeout_s=TIMEOUT)

    assert dropped.code == 1006 and refused.value.code == 1007
    handshake_lines = [r for r in caplog.records if r.name == "websockets.client"]
    assert any("> GET" in r.getMessage() for r in handshake_lines)  # DEBUG was really on
    for record in caplog.records:
        for text in _texts(record):
            assert KEY not in text, f"key leaked in a {record.name} record"
    captured = capsys.readouterr()
    assert KEY not in captured.out and KEY not in captured.err
    for error in (dropped, refused.value):
        assert KEY not in str(error) and KEY not in repr(error)
    for record in sim.connections:
        assert KEY not in record.path and "key=" not in record.path
        assert all(KEY not in value for _, value in record.headers)
