"""The Gemini Live protocol, without I/O.

- `edgevoice.live.frames`: client frames (`Setup`, `AudioInput`, `ToolResponse`, ...) as frozen,
  self-validating dataclasses, and `encode_client_frame`.
- `edgevoice.live.setup_rules`: what a Setup means for its model family (`SetupError`, the setup
  frame's body).
- `edgevoice.live.events`: server events (`AudioChunk`, `TurnComplete`, `ToolCall`, ...).
- `edgevoice.live.decode`: `decode_server_message`, one server frame -> its events.
- `edgevoice.live.bounded_json`: the frame's JSON parsed with bounded work (depth, numbers,
  duplicate keys, lone surrogates).
- `edgevoice.live.json_view`: the checked JSON view the decoder reads through.
- `edgevoice.live.models`: model families and their rules (thinking, proactivity, tool calls).
- `edgevoice.live.states`: the connection, user-turn and model-turn tables, and the device state.
- `edgevoice.live.session`: `LiveSession`, the sans-I/O session state machine fed by a transport
  shell (`start`/`send_*` in, `data_to_send()` out; `receive(frame, now)` in, `events()` out).
- `edgevoice.live.tools`: the allow-listed built-in tools the model may call, declared per model
  family, with pure handlers that return the answer and the action for the app.
- `edgevoice.live.json_schema`: the JSON-schema subset operator tools declare their arguments
  in (schema problems, argument checks, the translation to the Live API's parameters).

Wire facts come from docs/live-protocol.md; nothing here opens sockets or reads the clock.
"""
