"""The Gemini Live protocol, without I/O.

- `edgevoice.live.messages`: client frames and server events as frozen dataclasses; the only
  place that touches JSON and base64 (`encode_client_frame`, `decode_server_message`).
- `edgevoice.live.session`: `LiveSession`, the sans-I/O session state machine fed by a transport
  shell (`start`/`send_*` in, `data_to_send()` out; `receive(frame, now)` in, `events()` out).
- `edgevoice.live.tools`: the allow-listed local tools the model may call.

Wire facts come from docs/live-protocol.md; nothing here opens sockets or reads the clock.
"""
