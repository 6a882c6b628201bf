"""`edgevoice simulator`: run the local Gemini Live API simulator until SIGINT or SIGTERM.

The first line on stdout is the base URL (`ws://127.0.0.1:8765`, or `wss://...` with
`--tls-cert`/`--tls-key`); point the daemon (or the official SDK, which needs TLS) at it. Every
knob of `edgevoice.sim.SimOptions` has an option here. Also runnable as
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

from edgevoice.sim import DEFAULT_MODELS, Fault, SimOptions, Simulator

NAME = "simulator"


def _fault(text: str) -> Fault:
    try:
        return Fault.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    net = parser.add_argument_group("network")
    net.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    net.add_argument(
        "--port", type=int, default=8765, help="port; 0 = any free (default: %(default)s)"
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
        help=f"serve this model id (repeatable; default: {', '.join(DEFAULT_MODELS)})",
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
    life = parser.add_argument_group("lifecycle and faults")
    life.add_argument("--text-frames", action="store_true", help="send text frames, not binary")
    life.add_argument("--session-id", action="store_true", help="put a sessionId in setupComplete")
    life.add_argument("--handle-ttl", type=float, default=7200.0, help="resumption handle TTL (s)")
    life.add_argument(
        "--lifetime", type=float, help="close each connection after this many seconds (1011)"
    )
    life.add_argument(
        "--go-away-notice", type=float, default=5.0, help="goAway this long before --lifetime (s)"
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


def options_from_args(args: argparse.Namespace) -> SimOptions:
    """SimOptions from parsed arguments; raises ValueError naming a bad option."""
    keys = set(args.api_key)
    if args.api_key_file:
        lines = Path(args.api_key_file).read_text(encoding="utf-8").splitlines()
        keys.update(line.strip() for line in lines if line.strip())
    if args.pace < 0 or args.chunk_ms <= 0 or args.speed <= 0:
        raise ValueError("--pace must be >= 0, --chunk-ms and --speed > 0")
    return SimOptions(
        api_keys=frozenset(keys),
        tokens=frozenset(args.token),
        models=tuple(args.model) or DEFAULT_MODELS,
        pace=args.pace,
        chunk_ms=args.chunk_ms,
        speed=args.speed,
        vad_threshold_dbfs=args.vad_threshold_dbfs,
        vad_silence_ms=args.silence_ms,
        tool_call_every=args.tool_call_every,
        tool_name=args.tool_name,
        text_frames=args.text_frames,
        session_id=args.session_id,
        handle_ttl_s=args.handle_ttl,
        lifetime_s=args.lifetime,
        go_away_notice_s=args.go_away_notice,
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
    """Start the simulator, print its URL as the first stdout line, serve until a signal."""
    simulator = Simulator(options, host=host, port=port, ssl_context=tls)
    await simulator.start()
    print(simulator.url, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await simulator.stop()


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
        print(f"edgevoice simulator: {error}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(options, args.host, args.port, tls))
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
