"""The simulator's WebSocket server: routing, credentials, and one Session per connection.

Paths (protocol doc sections 1.1 and 10.1), with repeated slashes tolerated (the SDK requests
`//ws/...`): `/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent`,
`.../GenerativeService.BidiGenerateContentConstrained` (ephemeral tokens), each on v1beta and
v1alpha. Any other path gets HTTP 404 at the handshake.

More than `SimOptions.max_connections` open connections: the next is upgraded and closed at once
1011 with the quota text (the service's concurrent-session limit, section 6.1).

Credentials (section 1.2): on BidiGenerateContent an API key from the `x-goog-api-key` header or
`?key=`; on BidiGenerateContentConstrained an ephemeral token from `Authorization: Token ...` or
`?access_token=`. A bad or missing credential is not refused at the handshake: the service
upgrades, reads the setup frame, then closes 1007 "API key not valid. Please pass a valid API
key." (section 6.4). What the real service does with a key on the Constrained path or a token on
the plain path is not known; the simulator refuses both the same way.

Use `run_simulator` in tests:

    async with run_simulator(SimOptions(pace=0)) as sim:
        async with connect(sim.endpoint(), additional_headers={"x-goog-api-key": "k"}) as ws:
            ...
        event = await sim.wait_for(lambda e: e.kind == "close")
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from edgevoice.redact import printable, redacted_logger
from edgevoice.redact import register as register_secret
from edgevoice.sim import reasons
from edgevoice.sim.connection import Connection, Shared
from edgevoice.sim.faults import Fault, Firing
from edgevoice.sim.options import RefuseMode, SimOptions
from edgevoice.sim.reasons import CloseSpec
from edgevoice.sim.recorder import (
    SECRET_HEADERS,
    ConnectionRecord,
    ReceivedFrame,
    Recorder,
    SentFrame,
    SimEvent,
)

log = logging.getLogger("edgevoice.sim")

_PATH = re.compile(
    r"^/ws/google\.ai\.generativelanguage\.(v1beta|v1alpha)\.GenerativeService\."
    r"(BidiGenerateContent|BidiGenerateContentConstrained)$"
)
ROUTES = frozenset(
    {
        ("v1beta", "BidiGenerateContent"),
        ("v1alpha", "BidiGenerateContent"),
        ("v1beta", "BidiGenerateContentConstrained"),
        ("v1alpha", "BidiGenerateContentConstrained"),
    }
)
_SECRET_QUERY = re.compile(r"((?:^|[?&])(?:key|access_token)=)[^&]*")
TOKEN_PREFIX = "auth_tokens/"


@dataclass(frozen=True)
class Route:
    api_version: str
    method: str

    @property
    def constrained(self) -> bool:
        return self.method == "BidiGenerateContentConstrained"


def route_for(path: str) -> Route | None:
    """The endpoint a request path names, or None (HTTP 404). Repeated slashes are folded."""
    # Not urlsplit: it would read "//ws/..." as a network location.
    plain = re.sub(r"/{2,}", "/", path.partition("?")[0])
    match = _PATH.match(plain)
    if match is None or (match.group(1), match.group(2)) not in ROUTES:
        return None
    return Route(match.group(1), match.group(2))


def redact_path(path: str) -> str:
    return _SECRET_QUERY.sub(r"\1REDACTED", path)


@dataclass(frozen=True)
class Credential:
    ok: bool
    source: str | None  # "header" | "query" | None


def check_credential(route: Route, request: Request, options: SimOptions) -> Credential:
    query = parse_qs(request.path.partition("?")[2])
    headers = request.headers
    if route.constrained:
        value, source = "", None
        authorization = headers.get("Authorization", "")
        if authorization.startswith("Token "):
            value, source = authorization[len("Token ") :].strip(), "header"
        elif query.get("access_token"):
            value, source = query["access_token"][0], "query"
        if options.tokens:
            return Credential(value in options.tokens, source)
        return Credential(value.startswith(TOKEN_PREFIX) and len(value) > len(TOKEN_PREFIX), source)
    value, source = headers.get("x-goog-api-key", ""), "header"
    if not value and query.get("key"):
        value, source = query["key"][0], "query"
    if not value:
        return Credential(False, None)
    return Credential(value in options.api_keys if options.api_keys else True, source)


def _safe_headers(headers: Headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.raw_items() if k.lower() not in SECRET_HEADERS]


class Simulator:
    """A running Live API simulator. Start with `start()` (or `run_simulator`), stop with `stop()`.

    `url` is the base URL (`ws://127.0.0.1:PORT`, or `wss://` with TLS); `endpoint()` the full
    URL of a Live method. `connections`, `events` and `internal_errors` are what it saw.
    """

    def __init__(
        self,
        options: SimOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.options = options or SimOptions()
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.recorder = Recorder(
            self.options.record_bytes_per_connection, self.options.record_bytes_total
        )
        self._shared = Shared(self.options, self.recorder)
        self._open = 0
        self._server: Server | None = None
        self._attempts = 0
        self._refusals: dict[ServerConnection, CloseSpec] = {}
        self._refuse_left = 0  # attempts still to refuse (`refuse`), after refuse_first
        self._refuse_mode: RefuseMode = "http"
        self._live: list[Connection] = []  # connections being served, oldest first
        for secret in (*self.options.api_keys, *self.options.tokens):
            register_secret(secret)

    # --- what tests read ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl_context else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    def endpoint(self, api_version: str = "v1beta", method: str = "BidiGenerateContent") -> str:
        """The full URL of a Live method, as the official SDK builds it (without `//`)."""
        return (
            f"{self.url}/ws/google.ai.generativelanguage.{api_version}.GenerativeService.{method}"
        )

    @property
    def connections(self) -> list[ConnectionRecord]:
        return self.recorder.connections

    @property
    def received(self) -> list[ReceivedFrame]:
        """Every frame received, all connections, in connection order."""
        return [frame for record in self.recorder.connections for frame in record.received]

    @property
    def sent(self) -> list[SentFrame]:
        """Every frame sent, all connections, in connection order."""
        return [frame for record in self.recorder.connections for frame in record.sent]

    @property
    def events(self) -> list[SimEvent]:
        return list(self.recorder.events)

    @property
    def open_connections(self) -> int:
        return self._open

    @property
    def firings(self) -> list[Firing]:
        """Every fault carried out so far (from the options, `inject` or `strike`), in order."""
        return self._shared.faults.firings

    @property
    def internal_errors(self) -> list[str]:
        return self.recorder.internal_errors

    async def wait_for(
        self, predicate: Callable[[SimEvent], bool], timeout_s: float = 30.0
    ) -> SimEvent:
        """The first event, seen or to come, that matches; raises TimeoutError after `timeout_s`."""
        return await self.recorder.wait_for(predicate, timeout_s)

    async def wait_closed(self, connection: int | None = None, timeout_s: float = 30.0) -> SimEvent:
        """The close event of connection `connection` (1-based id), or of the first connection."""
        wanted = connection if connection is not None else 1
        return await self.wait_for(
            lambda e: e.kind == "close" and e.connection == wanted, timeout_s
        )

    # --- faults while it runs (a soak injects them at moments of its choosing) --------------
    def inject(self, fault: Fault) -> None:
        """Arm `fault` now, as if it had been in `SimOptions.faults`: it fires at its moment on
        the connections that reach it (`When(Moment.FRAME)` with no count: the next client
        frame any connection handles). Raises ValueError for a fault it cannot carry out."""
        self._shared.faults.arm(fault)

    def strike(self, fault: Fault) -> int:
        """Carry `fault`'s action out now (its moment is ignored) on every connection that is
        set up and not stalled; how many that was (0: none is open; nothing happens)."""
        fault.check()
        targets = [connection for connection in self._live if connection.set_up]
        for connection in targets:
            connection.strike(fault)
        return len(targets)

    def refuse(self, count: int, mode: RefuseMode = "http") -> None:
        """Refuse the next `count` connection attempts like `SimOptions.refuse_first` does
        (HTTP 503, or upgrade and close 1011 "unavailable" / quota after the setup frame)."""
        if count < 0 or mode not in ("http", "unavailable", "quota"):
            raise ValueError(f"refuse takes a count >= 0 and http/unavailable/quota, not {mode!r}")
        self._refuse_left, self._refuse_mode = count, mode

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            ssl=self.ssl_context,
            max_size=self.options.max_client_frame_bytes,
            ping_interval=None,  # whether the service pings is not known; the client's job
            logger=redacted_logger("websockets.server"),  # it logs received keys at DEBUG
        )
        sockname = next(iter(self._server.sockets)).getsockname()
        self.port = int(sockname[1])
        log.info("Live API simulator listening on %s", self.url)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        assert self._server is not None, "call start() first"
        await self._server.serve_forever()

    # --- handshake and connections ------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        route = route_for(request.path)
        if route is None:
            log.info("HTTP 404 for %s", printable(redact_path(request.path), 300))
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        self._attempts += 1
        mode: RefuseMode | None = None
        if self._attempts <= self.options.refuse_first:
            mode = self.options.refuse_mode
        elif self._refuse_left > 0:
            self._refuse_left -= 1
            mode = self._refuse_mode
        if mode is not None:
            self.recorder.add(SimEvent("refused", 0, detail=f"attempt {self._attempts}: {mode}"))
            if mode == "http":
                log.info("refusing connection attempt %d with HTTP 503", self._attempts)
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "Service Unavailable\n")
            text = reasons.QUOTA if mode == "quota" else reasons.UNAVAILABLE
            self._refusals[connection] = CloseSpec(
                reasons.INTERNAL, text, f"refusing attempt {self._attempts} ({mode})"
            )
        return None

    async def _handle(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        route = route_for(request.path)
        assert route is not None  # _process_request answered 404 otherwise
        credential = check_credential(route, request, self.options)
        record = self.recorder.new_record(
            path=redact_path(request.path),
            api_version=route.api_version,
            method=route.method,
            headers=_safe_headers(request.headers),
            auth_source=credential.source,
        )
        self.recorder.add(SimEvent("open", record.id, detail=record.path))
        log.info("connection %d: %s", record.id, printable(record.path, 300))
        over_limit = None
        if self._open >= self.options.max_connections:
            # Unverified: the service's concurrent-session refusal is 1011 with the quota text
            # (section 6.1); sent at once, without waiting for a setup frame, so a flood of
            # idle connections holds nothing.
            over_limit = CloseSpec(
                reasons.INTERNAL,
                reasons.QUOTA,
                f"over max_connections ({self.options.max_connections} open)",
            )
        self._open += 1
        served = Connection(
            connection,
            record,
            self._shared,
            credential_ok=credential.ok,
            refusal=self._refusals.pop(connection, None),
            refuse_at_once=over_limit,
        )
        self._live.append(served)
        try:
            await served.run()
        finally:
            self._open -= 1
            self._live.remove(served)


@asynccontextmanager
async def run_simulator(
    options: SimOptions | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Simulator]:
    """Start a simulator (port 0 = any free port) for the duration of the block, then stop it."""
    simulator = Simulator(options, host=host, port=port, ssl_context=ssl_context)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()
