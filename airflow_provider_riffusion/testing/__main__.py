"""Command line: ``python -m airflow_provider_riffusion.testing --port 8765`` serves the emulator until stopped.

Both services are served; ``--service`` picks whose base URL is printed and written to ``--ready-file``
(once listening, so scripts can wait for it). Never prints the token; exits 0 on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from airflow_provider_riffusion.testing.emulator import RiffusionEmulator
from airflow_provider_riffusion.testing.flowmusic_state import DEFAULT_EMAILS
from airflow_provider_riffusion.testing.paths import RIFFUSION, SERVICES
from airflow_provider_riffusion.testing.state import COMPOSE_SHAPES, REVISIONS

TOKEN_ENV = "RIFFUSION_EMULATOR_TOKEN"
DEFAULT_TOKEN = "emulator-token"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_riffusion.testing",
        description="Serve a local emulator of the useapi.net Riffusion and Flow Music APIs on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (0 picks a free one; default 8765)")
    parser.add_argument("--revision", choices=REVISIONS, default="2025-02-25", help="API revision to emulate")
    parser.add_argument(
        "--token",
        default=None,
        help=f"bearer token to accept (default: ${TOKEN_ENV}, else {DEFAULT_TOKEN!r}); prefer the env var",
    )
    parser.add_argument(
        "--user-id", dest="user_ids", action="append", default=None, help="an account id (repeat for several)"
    )
    parser.add_argument(
        "--service", choices=SERVICES, default=RIFFUSION, help="the service whose base URL is printed (both are served)"
    )
    parser.add_argument(
        "--email", dest="emails", action="append", default=None, help="a Flow Music account email (repeat for several)"
    )
    parser.add_argument("--pending-polls", type=int, default=1, help="status GETs answered 'pending' per upload")
    parser.add_argument("--pending-seconds", type=float, default=0.0, help="seconds an upload stays 'pending'")
    parser.add_argument("--song-polls", type=int, default=1, help="GETs a song answers before 'completed'")
    parser.add_argument("--compose-shape", choices=COMPOSE_SHAPES, default="jobs", help="create-compose answer shape")
    parser.add_argument("--ready-file", type=Path, default=None, help="write the base URL here once listening")
    return parser.parse_args(argv)


def resolve_token(given: str | None) -> tuple[str, str]:
    """The token and where it came from (the message names the source, never the value)."""
    if given:
        return given, "from --token"
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV], f"from ${TOKEN_ENV}"
    return DEFAULT_TOKEN, "the default, see --help"


def write_ready_file(path: Path, base_url: str) -> None:
    """Write atomically, so a script polling for the file never reads half a URL."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(base_url + "\n", encoding="utf-8")
    os.replace(partial, path)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    token, token_source = resolve_token(args.token)
    try:
        emulator = RiffusionEmulator(
            revision=args.revision,
            token=token,
            user_ids=tuple(args.user_ids) if args.user_ids else ("user-1",),
            pending_polls=args.pending_polls,
            pending_seconds=args.pending_seconds,
            song_polls=args.song_polls,
            compose_shape=args.compose_shape,
            port=args.port,
            service=args.service,
            emails=tuple(args.emails) if args.emails else DEFAULT_EMAILS,
        )
        emulator.start()
    except (ValueError, OSError) as error:
        print(f"Riffusion emulator: {error}", file=sys.stderr)
        return 2

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        served = f"revision {args.revision}" if args.service == RIFFUSION else f"service {args.service}"
        print(f"Riffusion emulator listening on {emulator.base_url} ({served}, token {token_source})", flush=True)
        if args.ready_file is not None:
            write_ready_file(args.ready_file, emulator.base_url)
        while not stopping.wait(0.5):
            pass
    finally:
        emulator.stop()
    print("Riffusion emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
