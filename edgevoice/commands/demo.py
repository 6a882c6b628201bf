"""`edgevoice demo`: the real daemon on virtual real-time audio devices, spoken to with
espeak-ng, against the built-in Live simulator (or, with `--endpoint` and a key, the service).

What it does, line by line, is in `edgevoice.rig.demo`. It needs no sound card, no GPIO and no
key; it needs pulseaudio, pulseaudio-utils, libasound2-plugins and espeak-ng (`make deps`; one
line says so when they are missing, exit 69).

    edgevoice demo                              # against the local simulator, ~30 s
    edgevoice demo --endpoint wss://generativelanguage.googleapis.com --key-file ~/gemini.key
    edgevoice demo --ci                         # what the test runs: terse, strict

`--set SECTION.KEY=VALUE` goes to the daemon (`edgevoice run --set ...`) on top of the demo's
config; `--config` is refused (the demo writes its own). Exit status: 0 done, 1 something did
not happen (one line each), 2 bad option, 69 tools missing, 78 no key for a real endpoint,
130/143 interrupted by SIGINT/SIGTERM (everything it started is stopped first).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from edgevoice.adapters.credential_lookup import NO_CREDENTIAL, CredentialSource
from edgevoice.commands._common import until_signal
from edgevoice.config import AuthConfig
from edgevoice.errors import ConfigError
from edgevoice.live.endpoint import is_loopback
from edgevoice.redact import Secret, printable
from edgevoice.rig.demo import DemoOptions, run_demo

NAME = "demo"
EX_USAGE = 2


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="talk to the real daemon on virtual audio devices (start here)",
        description=(
            "Start the built-in Live simulator and virtual real-time audio devices, run the "
            "real daemon (edgevoice run) on them, speak three turns into it with espeak-ng (a "
            "button turn through the control socket, a voice turn, a barge-in), show what "
            "happens, and save what the speaker played to a WAV file. About 30 seconds; "
            "everything it starts is stopped at the end."
        ),
    )
    parser.add_argument(
        "--endpoint",
        metavar="URL",
        help="talk to this Live endpoint (wss://...) instead of the built-in simulator; needs "
        "a key: $GEMINI_API_KEY or --key-file",
    )
    parser.add_argument("--key-file", metavar="FILE", help="the API key for --endpoint (mode 0600)")
    parser.add_argument(
        "--wav",
        metavar="FILE",
        default="demo-speaker.wav",
        help="where to write what the speaker played (default: %(default)s)",
    )
    parser.add_argument(
        "--save-replies",
        metavar="DIR",
        help="also write each reply the simulator sent to DIR/reply-N.wav (24 kHz)",
    )
    parser.add_argument(
        "--ci",
        action="store_true",
        help="terse and strict: any warning in the daemon's log, or a reply missing from the "
        "WAV, fails the run (what the test suite runs)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (the daemon's config and log, the sound server's log)",
    )
    parser.set_defaults(func=run)


def options_from_args(args: argparse.Namespace) -> DemoOptions:
    """DemoOptions from parsed arguments; ConfigError (78) when a real endpoint has no key,
    ValueError (2) for a bad option."""
    endpoint = args.endpoint
    key: Secret | None = None
    if endpoint is not None:
        if not endpoint.startswith(("ws://", "wss://")):
            raise ValueError(f"--endpoint {printable(endpoint, 120)}: give a ws:// or wss:// URL")
        if args.key_file:
            source = CredentialSource(AuthConfig(api_key_file=args.key_file), environ={})
        else:
            source = CredentialSource(AuthConfig())
        # A local `edgevoice simulator` takes any key: it needs none from the person.
        if args.key_file or not _is_local(endpoint) or source.describe() != NO_CREDENTIAL:
            key = source.resolve().secret  # ConfigError naming the fix when there is none
    elif args.key_file:
        raise ValueError("--key-file goes with --endpoint (the simulator needs no key)")
    if endpoint is not None and args.save_replies:
        raise ValueError("--save-replies needs the built-in simulator (drop --endpoint)")
    wav = Path(args.wav)
    if not wav.absolute().parent.is_dir():
        raise ValueError(f"--wav {printable(args.wav, 200)}: no such directory")
    return DemoOptions(
        endpoint=endpoint,
        key=key,
        wav_path=wav,
        replies_dir=Path(args.save_replies) if args.save_replies else None,
        ci=args.ci,
        keep=args.keep,
        overrides=tuple(getattr(args, "overrides", None) or ()),
    )


def _is_local(endpoint: str) -> bool:
    host = endpoint.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    return is_loopback(host)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "config", None):
        print(
            "edgevoice demo: --config has no effect here (the demo writes its own config); "
            "use --set SECTION.KEY=VALUE for the daemon",
            file=sys.stderr,
        )
        return EX_USAGE
    try:
        options = options_from_args(args)
    except ConfigError as error:
        for problem in error.problems:
            print(f"edgevoice demo: {problem}", file=sys.stderr)
        return error.exit_status
    except ValueError as error:
        print(f"edgevoice demo: {error}", file=sys.stderr)
        return EX_USAGE
    return asyncio.run(_main(options))


async def _main(options: DemoOptions) -> int:
    """The demo, stopped cleanly (its teardown runs) by SIGINT or SIGTERM."""
    return await until_signal(
        run_demo(options),
        lambda signum: (
            f"edgevoice demo: stopped by {signum.name}; everything it started is stopped"
        ),
    )
