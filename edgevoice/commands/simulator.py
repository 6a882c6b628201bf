"""`edgevoice simulator`: run the local Gemini Live API simulator until SIGINT or SIGTERM.

The first line on stdout is the base URL (`ws://127.0.0.1:8765`, or `wss://...` with
`--tls-cert`/`--tls-key`); point the daemon (or the official SDK, which needs TLS) at it. Every
knob of `edgevoice.sim.SimOptions` has an option here, checked at start: a value the simulator
cannot honour is a one-line error and exit status 2. SIGINT and SIGTERM stop it with exit status
0; their handlers are in place before the URL line is printed, so a supervisor that signals as
soon as it reads the line never kills it half-way. Also runnable as
`python -m edgevoice.commands.simulator`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edgevoice.redact import printable
from edgevoice.sim import DEFAULT_MODELS, Fault, SimOptions, Simulator
from edgevoice.sim.models import KNOWN_MODELS, Family, parse_family

NAME = "simulator"


def _fault(text: str) -> Fault:
    try:
        return Fault.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0 = any free)")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("network")
    net.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    net.add_argument(
        "--port", type=_port, default=8765, help="port; 0 = any free (default: %(default)s)"
    )
    net.add_argument("--tls-cert", metavar="FILE", help="serve wss:// with this PEM certificate")
    net.add_argument("--tls-key", metavar="FILE", help="the certificate's PEM private key")
    auth = parser.add_argument_group("credentials (default: any non-empty key is accepted)")
    auth.add_argument(
        "--api-key",
        metavar="KEY",
        action="append",
        default=[],
        help="accept only this API key (repeatable; test keys only: it shows in `ps`)",
    )
    auth.add_argument(
        "--api-key-file", metavar="FILE", help="accept only the keys in FILE, one per line"
    )
    auth.add_argument(
        "--token",
        metavar="TOKEN",
        action="append",
        default=[],
        help="accept only this ephemeral token on the Constrained path (repeatable)",
    )
    model = parser.add_argument_group("the parrot model")
    model.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="ID[=FAMILY]",
        help="serve this model id (repeatable); an id the simulator does not know needs its "
        f"family: 2.5, 3.1, 3.8 or 3.8-thinking (default: {', '.join(DEFAULT_MODELS)})",
    )
    model.add_argument(
        "--pace",
        type=float,
        default=1.0,
        help="seconds slept per second of reply audio; 0 = no pacing",
    )
    model.add_argument("--chunk-ms", type=int, default=40, help="reply audio per message (ms)")
    model.add_argument("--speed", type=float, default=1.15, help="parrot speed-up (default 1.15)")
    model.add_argument(
        "--vad-threshold-dbfs", type=float, default=-40.0, help="energy VAD speech level"
    )
    model.add_argument(
        "--silence-ms", type=int, default=800, help="energy VAD end-of-speech silence"
    )
    model.add_argument(
        "--tool-call-every",
        type=int,
        default=0,
        metavar="N",
        help="call --tool-name before every Nth answer, if declared (0 = never)",
    )
    model.add_argument(
        "--tool-name", default="get_time", help="function to call (default: %(default)s)"
    )
    model.add_argument(
        "--silent-turn-every",
        type=int,
        default=0,
        metavar="N",
        help="with proactive audio (3.8), answer every Nth turn with silence (0 = never)",
    )
    model.add_argument(
        "--late-transcription",
        action="store_true",
        help="send each answer's last output transcription piece after its turnComplete",
    )
    life = parser.add_argument_group("lifecycle and faults")
    life.add_argument("--text-frames", action="store_true", help="send text frames, not binary")
    life.add_argument("--session-id", action="store_true", help="put a sessionId in setupComplete")
    life.add_argument("--handle-ttl", type=float, default=7200.0, help="resumption handle TTL (s)")
    life.add_argument(
        "--lifetime",
        type=float,
        default=600.0,
        help="close each connection this long after setup (s; 0 = never; default: %(default)s)",
    )
    life.add_argument(
        "--go-away-notice", type=float, default=50.0, help="goAway this long before --lifetime (s)"
    )
    life.add_argument(
        "--lifetime-close",
        choices=("deadline", "aborted"),
        default="deadline",
        help='how a life ends: deadline = 1011 "Deadline expired ...", aborted = 1008 '
        '"The operation was aborted."',
    )
    life.add_argument(
        "--setup-timeout",
        type=float,
        default=30.0,
        help="close a connection with no setup frame after this long (s; 0 = never)",
    )
    life.add_argument(
        "--max-connections",
        type=int,
        default=64,
        help="open connections at once; more are closed 1011 with the quota text",
    )
    life.add_argument(
        "--refuse-first", type=int, default=0, metavar="N", help="refuse the first N connections"
    )
    life.add_argument(
        "--refuse-mode",
        choices=("http", "unavailable", "quota"),
        default="http",
        help="http = HTTP 503; unavailable/quota = close 1011 after the setup",
    )
    life.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="ACTION[=ARG]@WHEN[*TIMES]",
        help="e.g. abort@turn:1, close=1011:Internal error encountered.@frame:3, "
        "goaway=2.5@ready, stall@setup (repeatable)",
    )


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="run a local Gemini Live API simulator",
        description="Run a protocol-faithful local Gemini Live API simulator. The first line "
        "printed is its base URL; it serves until SIGINT or SIGTERM.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def _models(specs: list[str]) -> dict[str, Family]:
    """`--model ID[=FAMILY]` values -> id -> family; ValueError naming a bad one."""
    models: dict[str, Family] = {}
    for spec in specs or DEFAULT_MODELS:
        ident, eq, family = spec.partition("=")
        if eq:
            models[ident] = parse_family(family)
        elif ident in KNOWN_MODELS:
            models[ident] = KNOWN_MODELS[ident]
        else:
            raise ValueError(
                f"--model {ident}: not a model the simulator knows; name its family, "
                f"e.g. --model {ident}=3.8"
            )
    return models


def _key_file(path: str) -> list[str]:
    """The keys in a file, one per line; a FIFO or a device is refused, never opened."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--api-key-file {path}: not a regular file")
    with file.open("rb") as stream:
        data = stream.read(1 << 20)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"--api-key-file {path}: not UTF-8 text") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _seconds_or_none(value: float) -> float | None:
    return None if value == 0 else value


# Option names as SimOptions calls them -> as the command line does, for error messages.
_FLAGS = {
    "pace": "--pace",
    "chunk_ms": "--chunk-ms",
    "speed": "--speed",
    "vad_threshold_dbfs": "--vad-threshold-dbfs",
    "vad_silence_ms": "--silence-ms",
    "tool_call_every": "--tool-call-every",
    "tool_name": "--tool-name",
    "silent_turn_every": "--silent-turn-every",
    "handle_ttl_s": "--handle-ttl",
    "lifetime_s": "--lifetime",
    "go_away_notice_s": "--go-away-notice",
    "setup_timeout_s": "--setup-timeout",
    "refuse_first": "--refuse-first",
    "max_connections": "--max-connections",
}


def options_from_args(args: argparse.Namespace) -> SimOptions:
    """SimOptions from parsed arguments; raises ValueError (one line) naming a bad option."""
    keys = set(args.api_key)
    if args.api_key_file:
        keys.update(_key_file(args.api_key_file))
    try:
        return _options(args, keys)
    except ValueError as error:
        message = str(error)
        name = message.split(" ", 1)[0]
        if name in _FLAGS:
            message = _FLAGS[name] + message[len(name) :]
        raise ValueError(message) from None


def _options(args: argparse.Namespace, keys: set[str]) -> SimOptions:
    return SimOptions(
        api_keys=frozenset(keys),
        tokens=frozenset(args.token),
        models=_models(args.model),
        pace=args.pace,
        chunk_ms=args.chunk_ms,
        speed=args.speed,
        vad_threshold_dbfs=args.vad_threshold_dbfs,
        vad_silence_ms=args.silence_ms,
        tool_call_every=args.tool_call_every,
        tool_name=args.tool_name,
        silent_turn_every=args.silent_turn_every,
        late_transcription=args.late_transcription,
        text_frames=args.text_frames,
        session_id=args.session_id,
        handle_ttl_s=args.handle_ttl,
        lifetime_s=_seconds_or_none(args.lifetime),
        go_away_notice_s=args.go_away_notice,
        lifetime_close=args.lifetime_close,
        setup_timeout_s=_seconds_or_none(args.setup_timeout),
        max_connections=args.max_connections,
        refuse_first=args.refuse_first,
        refuse_mode=args.refuse_mode,
        faults=tuple(args.fault),
    )


def _tls(args: argparse.Namespace) -> ssl.SSLContext | None:
    if not args.tls_cert and not args.tls_key:
        return None
    if not (args.tls_cert and args.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    return context


async def serve(options: SimOptions, host: str, port: int, tls: ssl.SSLContext | None) -> None:
    """Start the simulator, print its URL as the first stdout line, serve until a signal.

    The signal handlers go in before anything else, so a SIGTERM sent the moment the URL line
    is read stops the simulator cleanly instead of killing it.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    simulator = Simulator(options, host=host, port=port, ssl_context=tls)
    try:
        await simulator.start()
        print(simulator.url, flush=True)
        await stop.wait()
    finally:
        await simulator.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def run(args: argparse.Namespace) -> int:
    from edgevoice.commands._common import refuse_config_options

    if (refused := refuse_config_options(args, NAME)) is not None:
        return refused
    from edgevoice.app.log_setup import setup_logging

    setup_logging("debug" if args.verbose else (args.log_level or "info"), "stderr")
    try:
        options = options_from_args(args)
        tls = _tls(args)
    except (ValueError, OSError, ssl.SSLError) as error:
        print(f"edgevoice simulator: {printable(str(error), 300)}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(options, args.host, args.port, tls))
    except KeyboardInterrupt:  # a SIGINT before the loop's handler was in place
        return 0
    except OSError as error:  # e.g. the port is taken
        print(
            f"edgevoice simulator: cannot listen on {args.host}:{args.port}: {error}",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m edgevoice.commands.simulator`: the same command without the cli module."""
    from edgevoice.commands._common import common_options

    parser = argparse.ArgumentParser(
        prog="edgevoice simulator", parents=[common_options()], description=__doc__
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    for name, default in (("log_level", None), ("verbose", False)):
        if not hasattr(args, name):
            setattr(args, name, default)
    return run(args)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
