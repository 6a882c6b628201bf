"""Over real sockets: paths, credentials, the first frame, models, framing and what is recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest
from simkit import KEY, MODEL_25, OBSERVED_SDK_SETUP, client, session, setup, tone
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from edgevoice.sim import SimOptions

BASE = "/ws/google.ai.generativelanguage.{}.GenerativeService.{}"


async def test_setup_gets_setup_complete_as_a_binary_frame(sim_factory: Any) -> None:
    async with sim_factory() as sim, client(sim) as c:
        await c.send(setup())
        raw = await c.ws.recv()
        assert isinstance(raw, bytes) and json.loads(raw) == {"setupComplete": {}}
    record = sim.connections[0]
    assert record.api_version == "v1beta" and record.method == "BidiGenerateContent"
    assert record.received[0].is_text and record.received[0].kind == "setup"
    assert record.setup is not None and record.setup["model"] == MODEL_25


async def test_text_frames_knob(sim_factory: Any) -> None:
    async with sim_factory(SimOptions(pace=0, text_frames=True)) as sim, client(sim) as c:
        await c.send(setup())
        assert isinstance(await c.ws.recv(), str)


@pytest.mark.parametrize(
    ("version", "method"),
    [
        ("v1beta", "BidiGenerateContent"),
        ("v1alpha", "BidiGenerateContent"),
    ],
)
async def test_paths_with_repeated_slashes_are_tolerated(
    sim_factory: Any, version: str, method: str
) -> None:
    async with sim_factory() as sim:
        url = sim.url + "/" + BASE.format(version, method)  # "//ws/...", as the SDK requests
        async with session(sim, path=url):
            pass
    assert sim.connections[0].api_version == version


@pytest.mark.parametrize(
    "path",
    [
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContentX",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContentConstrained",
        "/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
        "/",
    ],
)
async def test_other_paths_get_http_404(sim_factory: Any, path: str) -> None:
    async with sim_factory() as sim:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(sim.url + path):
                pass
        assert caught.value.response.status_code == 404
    assert sim.connections == []


async def test_key_in_query_is_accepted_and_redacted_in_the_record(sim_factory: Any) -> None:
    async with sim_factory(SimOptions(pace=0, api_keys=frozenset({KEY}))) as sim:
        async with session(sim, key=None, path=f"{sim.endpoint()}?key={KEY}"):
            pass
    record = sim.connections[0]
    assert record.auth_source == "query"
    assert KEY not in record.path and "key=REDACTED" in record.path


async def test_secret_headers_are_not_recorded(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim, headers={"user-agent-extra": "x"}):
        pass
    record = sim.connections[0]
    assert record.auth_source == "header"
    assert record.header("x-goog-api-key") is None
    assert record.header("user-agent-extra") == "x"
    assert all(KEY not in value for _, value in record.headers)


@pytest.mark.parametrize(
    ("key", "allowed"),
    [("wrong-key", frozenset({KEY})), (None, frozenset()), ("", frozenset())],
)
async def test_bad_or_missing_key_upgrades_reads_setup_then_closes_1007(
    sim_factory: Any, key: str | None, allowed: frozenset[str]
) -> None:
    async with sim_factory(SimOptions(pace=0, api_keys=allowed)) as sim, client(sim, key=key) as c:
        await c.send(setup())
        assert await c.closed() == (1007, "API key not valid. Please pass a valid API key.")
    assert len(sim.connections[0].received) == 1  # it read the setup before refusing


async def test_ephemeral_token_on_the_constrained_path(sim_factory: Any) -> None:
    token = "auth_tokens/abc123"
    options = SimOptions(pace=0, tokens=frozenset({token}))
    async with sim_factory(options) as sim:
        path = sim.endpoint("v1alpha", "BidiGenerateContentConstrained")
        # The SDK sends both headers (section 1.3); the Authorization one is what counts.
        headers = {"Authorization": f"Token {token}"}
        async with session(sim, key=token, path=path, headers=headers):
            pass
        async with session(sim, key=None, path=f"{path}?access_token={token}"):
            pass
        async with client(sim, key=None, path=f"{path}?access_token=auth_tokens/other") as c:
            await c.send(setup())
            assert (await c.closed())[0] == 1007
        async with client(sim, key=KEY, path=path) as c:  # a plain key is not a token
            await c.send(setup())
            assert (await c.closed())[0] == 1007
    assert [r.auth_source for r in sim.connections] == ["header", "query", "query", None]
    assert token not in sim.connections[1].path


async def test_unknown_model_closes_1008_with_the_cut_reason(sim_factory: Any) -> None:
    async with sim_factory() as sim, client(sim) as c:
        await c.send(setup("models/gemini-live-2.5-flash-preview"))
        code, reason = await c.closed()
    assert code == 1008
    assert reason.startswith(
        "models/gemini-live-2.5-flash-preview is not found for API version v1beta, or is not "
        "supported for bidiGenerateContent."
    )
    assert len(reason.encode()) == 123


async def test_model_without_the_models_prefix_is_not_found(sim_factory: Any) -> None:
    async with sim_factory() as sim, client(sim) as c:
        await c.send(setup("gemini-2.5-flash-native-audio-preview-12-2025"))
        assert (await c.closed())[0] == 1008


@pytest.mark.parametrize(
    "first",
    [
        {"realtimeInput": {"audio": {"data": "AAA=", "mimeType": "audio/pcm;rate=16000"}}},
        {"clientContent": {"turnComplete": True}},
        {"config": {"model": MODEL_25, "responseModalities": ["AUDIO"]}},
    ],
)
async def test_first_frame_must_be_setup(sim_factory: Any, first: dict[str, Any]) -> None:
    async with sim_factory() as sim, client(sim) as c:
        await c.send(first)
        code, _ = await c.closed()
    assert code == 1007
    assert sim.connections[0].close_detail


async def test_setup_twice_is_refused(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim) as c:
        await c.send(setup())
        assert await c.closed() == (1007, "Request contains an invalid argument.")


async def test_two_top_level_keys_close_1007(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim) as c:
        await c.send({"realtimeInput": {"text": "a"}, "toolResponse": {}})
        assert await c.closed() == (1007, "Request contains an invalid argument.")


async def test_unknown_field_mid_session_closes_with_the_dotted_path(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim) as c:
        await c.send({"realtimeInput": {"audio": {"data": "AAA=", "mime": "audio/pcm"}}})
        assert await c.closed() == (
            1007,
            "Invalid JSON payload received. Unknown name \"mime\" at 'realtime_input.audio': "
            "Cannot find field.",
        )
    frame = sim.connections[0].received[1]
    assert frame.error is not None and frame.kind is None


async def test_bad_base64_mid_session_closes_1007(sim_factory: Any) -> None:
    async with sim_factory() as sim, session(sim) as c:
        await c.send(
            {"realtimeInput": {"audio": {"data": "***", "mimeType": "audio/pcm;rate=16000"}}}
        )
        code, reason = await c.closed()
    assert code == 1007 and "Base64 decoding failed" in reason


async def test_snake_case_top_level_and_url_safe_audio_are_recorded_canonically(
    sim_factory: Any,
) -> None:
    async with sim_factory() as sim, session(sim) as c:
        await c.send(
            {"realtime_input": {"audio": {"data": "-_8=", "mime_type": "audio/pcm;rate=16000"}}}
        )
        await c.send({"realtimeInput": {"activityStart": {}}})
    frame = sim.connections[0].received[1]
    assert sim.received[1] is frame
    assert frame.kind == "realtimeInput"
    assert frame.body == {"audio": {"data": b"\xfb\xff", "mimeType": "audio/pcm;rate=16000"}}
    assert frame.json == {
        "realtime_input": {"audio": {"data": "-_8=", "mime_type": "audio/pcm;rate=16000"}}
    }


async def test_every_sent_frame_is_binary_and_under_1_mib(sim_factory: Any) -> None:
    options = SimOptions(pace=0, chunk_ms=100, max_reply_s=20)
    async with sim_factory(options) as sim, session(sim) as c:
        await c.send({"realtimeInput": {"activityStart": {}}})
        await c.send_audio(bytes(0))
        await c.send({"realtimeInput": {"activityEnd": {}}})
        await c.turn()
    sent = sim.connections[0].sent
    assert len(sent) > 5
    assert all(isinstance(f.raw, bytes) and len(f.raw) < 1 << 20 for f in sent)


def test_a_frame_of_1_mib_is_never_sent() -> None:
    from edgevoice.sim.wire import FrameTooLarge, encode

    encode({"x": "a" * ((1 << 20) - 20)})
    with pytest.raises(FrameTooLarge):
        encode({"x": "a" * (1 << 20)})


async def test_the_observed_sdk_setup_frame_is_accepted_on_the_wire(sim_factory: Any) -> None:
    v1alpha = {"api_version": "v1alpha"}
    async with sim_factory() as sim:
        # As observed, it asks to resume "prev-handle", which this simulator never issued: the
        # frame passes every parsing and setup rule and is refused only for the handle.
        async with client(sim, path=sim.endpoint(**v1alpha)) as c:
            await c.send(OBSERVED_SDK_SETUP)
            assert await c.closed() == (1008, "BidiGenerateContent session not found")
        async with session(sim, setup(resumption={}), path=sim.endpoint(**v1alpha)) as c:
            await c.send({"realtimeInput": {"activityStart": {}}})
            await c.send({"realtimeInput": {"activityEnd": {}}})
            await c.recv_until(
                lambda m: bool(m.get("sessionResumptionUpdate", {}).get("resumable"))
            )
            handle = c.received[-1]["sessionResumptionUpdate"]["newHandle"]
        await sim.wait_closed(2)
        frame = OBSERVED_SDK_SETUP.replace("prev-handle", handle)
        async with session(sim, json.loads(frame), path=sim.endpoint(**v1alpha)) as c:
            # Its realtimeInputConfig disables automatic VAD: activity markers are expected.
            await c.send({"realtimeInput": {"activityStart": {}}})
            await c.send_audio(tone(0.3))
            await c.send({"realtimeInput": {"activityEnd": {}}})
            await c.turn()
    assert sim.connections[2].resumed
