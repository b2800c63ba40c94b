"""``kgop serve``: the TUI in a browser, read-only unless told otherwise.

Textual's own web server (``textual-serve``) runs ``kgop tui`` for each browser tab and
relays the terminal over a websocket. It has no login of its own: it listens on loopback by
default and is meant to be reached through an SSH tunnel
(``ssh -L 8422:127.0.0.1:8422 HOST``). Every action that changes something is disabled
unless ``--allow-actions`` is given.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys
from typing import Any

from kgop_tui.errors import ExitCode, UsageError
from kgop_tui.settings import Settings

DEFAULT_PORT = 8422


def register(verbs: Any) -> None:
    serve = verbs.add_parser(
        "serve", help="the TUI in a browser (read-only; loopback unless --bind says otherwise)"
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    serve.add_argument(
        "--bind",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="the address to listen on (default 127.0.0.1: reach it through an SSH tunnel)",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers use, when not http://BIND:PORT (a tunnel on another port, "
        "a published port)",
    )
    serve.add_argument(
        "--allow-actions",
        action="store_true",
        help="allow restarts, migrations, configuration and upgrades from the browser",
    )
    serve.set_defaults(handler=cmd_serve)


def tui_command(settings: Settings, allow_actions: bool) -> str:
    """The shell command the web server runs for each browser session."""
    argv = [sys.executable, "-m", "kgop_tui.cli", "--home", str(settings.kg_home), "tui"]
    if not allow_actions:
        argv.append("--read-only")
    return shlex.join(argv)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    try:
        address = ipaddress.ip_address(args.bind)
    except ValueError:
        raise UsageError(
            f"--bind {args.bind!r} is not an IP address",
            hint="use 127.0.0.1 (the default) and an SSH tunnel, or the address to listen on",
        ) from None
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is out of range", hint="use 1 to 65535")
    host = f"[{address}]" if address.version == 6 else str(address)
    public_url = (args.public_url or f"http://{host}:{args.port}").rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise UsageError(
            f"--public-url {args.public_url!r} is not an http(s) URL",
            hint="for example http://127.0.0.1:8422",
        )
    from textual_serve.server import Server

    mode = "actions allowed" if args.allow_actions else "read-only"
    print(f"kgop serve: {public_url} ({mode}); Ctrl+C stops.", file=sys.stderr)
    if not address.is_loopback:
        print(
            f"kgop serve: listening on {address}, not loopback: anyone who reaches it gets "
            "the operator UI, without a login.",
            file=sys.stderr,
        )
    server = Server(
        tui_command(settings, args.allow_actions),
        host=str(address),
        port=args.port,
        title=f"kgop · {settings.compose_project_name}",
        public_url=public_url,
    )
    server.serve()
    return ExitCode.OK
