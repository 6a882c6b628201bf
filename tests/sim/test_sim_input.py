"""Input audio as the service reads it (protocol doc sections 3.1, 3.2, 10.10), base64 at least
as strict as the daemon's, and the v1beta Constrained path (section 1.1, issue 8 item 5)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simkit import ask, client, output_text, session, setup, silence, tone

from edgevoice.live.decode import _decode_base64 as daemon_decode  # the oracle for strictness
from edgevoice.sim import SimOptions
from edgevoice.sim.proto import FrameRejected, ParseContext, decode_base64, parse_client_frame

START = {"realtimeInput": {"activityStart": {}}}
END = {"realtimeInput": {"activityEnd": {}}}


def audio(pcm: bytes, mime: str) -> dict[str, object]:
    data = base64.b64encode(pcm).decode("ascii")
    return {"realtimeInput": {"audio": {"data": data, "mimeType": mime}}}


async def test_audio_pcm_without_a_rate_is_16_khz(sim_factory: Any) -> None:
    # Section 3.2: the SDK's cookbook and many clients send "audio/pcm" alone.
    async with sim_factory() as sim, session(sim) as c:
        await c.send(START)
        pcm = tone(0.5)
        for i in range(0, len(pcm), 640):
            await c.send(audio(pcm[i : i + 640], "audio/pcm"))
        await c.send(audio(silence(0.02), "audio/pcm;rate=16000"))  # the same rate, spelled out
        await c.send(END)
        answer = await c.turn()
    assert "I heard 0.5 s of audio." in output_text(answer)


@pytest.mark.parametrize(("first", "then"), [(24_000, 16_000), (16_000, 48_000)])
async def test_a_changed_input_rate_closes_1007_with_the_verbatim_reason(
    sim_factory: Any, first: int, then: int
) -> None:
    # Section 3.2 / 6.4: field report 2026-01, verbatim.
    async with sim_factory() as sim, session(sim) as c:
        await c.send(START)
        await c.send(audio(silence(0.02, first), f"audio/pcm;rate={first}"))
        await c.send(audio(silence(0.02, then), f"audio/pcm;rate={then}"))
        assert await c.closed() == (
            1007,
            f"Sample rate changed from previously {first} to {then}, which is not supported.",
        )


async def test_the_rate_is_per_connection(sim_factory: Any) -> None:
    async with sim_factory() as sim:
        for rate in (24_000, 16_000):
            async with session(sim) as c:
                await c.send(START)
                await c.send(audio(silence(0.1, rate), f"audio/pcm;rate={rate}"))
                await c.send(END)
                await c.turn()


@pytest.mark.parametrize("rate", [1, 100, 7_999, 48_001, 96_000, 10**8])
async def test_absurd_rates_are_refused_before_any_work(sim_factory: Any, rate: int) -> None:
    # Attack run: rate=1 cost a 16,000-fold resampling (+4.6 GB) on the event loop.
    async with sim_factory() as sim, session(sim) as c:
        await c.send(START)
        await c.send(audio(bytes(40_000), f"audio/pcm;rate={rate}"))
        assert await c.closed() == (1007, "Request contains an invalid argument.")
    assert f"rate {rate} Hz is outside 8000-48000" in sim.connections[0].close_detail


async def test_a_one_mib_frame_at_the_lowest_rate_is_handled(sim_factory: Any) -> None:
    pcm = (tone(20.0, rate=8_000) * 4)[: (1 << 20) * 3 // 4 - 200]
    async with sim_factory() as sim, session(sim, setup(manual=False)) as c:
        await c.send(audio(pcm[: len(pcm) // 2 * 2], "audio/pcm;rate=8000"))
        await c.send({"realtimeInput": {"audioStreamEnd": True}})
        answer = await c.turn()
    assert "Parrot turn 1" in output_text(answer)


# --- base64 (section 3.1): both alphabets, padding only where it completes a quantum ---------


@pytest.mark.parametrize("text", ["QUJD=", "QQ=", "QUJD====", "QUJD==", "Q===", "=QUJ", "QQ==QQ=="])
def test_over_or_under_padding_is_refused(text: str) -> None:
    with pytest.raises((ValueError, binascii.Error)):
        decode_base64(text)


@pytest.mark.parametrize(
    ("text", "data"),
    [("QUJD", b"ABC"), ("QUI=", b"AB"), ("QUI", b"AB"), ("QQ==", b"A"), ("QQ", b"A"), ("", b"")],
)
def test_padded_and_unpadded_forms_are_accepted(text: str, data: bytes) -> None:
    assert decode_base64(text) == data
    assert decode_base64(text.replace("+", "-").replace("/", "_")) == data


def test_url_safe_and_standard_alphabets() -> None:
    raw = bytes([251, 255, 191])  # "+/+/" in standard, "-_-_" URL-safe
    assert decode_base64(base64.b64encode(raw).decode()) == raw
    assert decode_base64(base64.urlsafe_b64encode(raw).decode()) == raw


def test_bad_padding_on_the_wire_closes_1007() -> None:
    frame = {"realtimeInput": {"audio": {"data": "AAA=====", "mimeType": "audio/pcm"}}}
    with pytest.raises(FrameRejected) as caught:
        parse_client_frame(json.dumps(frame), ParseContext())
    assert caught.value.close.code == 1007
    assert "Base64 decoding failed" in caught.value.close.reason


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ABCQUJD0+/-_=", max_size=12))
def test_at_least_as_strict_as_the_daemon(text: str) -> None:
    # Anything the daemon's decoder (edgevoice/live/decode.py) refuses, the simulator refuses.
    try:
        daemon_decode(text)
    except (ValueError, binascii.Error):
        with pytest.raises((ValueError, binascii.Error)):
            decode_base64(text)


# --- the v1beta Constrained path (ephemeral tokens) -------------------------------------------


@pytest.mark.parametrize("version", ["v1beta", "v1alpha"])
async def test_constrained_path_on_both_versions(sim_factory: Any, version: str) -> None:
    token = "auth_tokens/edge-token"
    options = SimOptions(pace=0, tokens=frozenset({token}))
    async with sim_factory(options) as sim:
        path = sim.endpoint(version, "BidiGenerateContentConstrained")
        headers = {"Authorization": f"Token {token}"}
        async with session(sim, key=None, path=path, headers=headers) as c:
            await ask(c)
            await c.turn()
        async with client(sim, key=None, path=path + "?access_token=wrong") as c:
            await c.send(setup())
            assert (await c.closed())[0] == 1007
    record = sim.connections[0]
    assert (record.api_version, record.method) == (version, "BidiGenerateContentConstrained")
    assert "edge-token" not in sim.connections[1].path
