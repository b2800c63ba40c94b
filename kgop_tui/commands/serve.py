"""``kgop serve``: the TUI in a browser, behind a token, read-only unless told otherwise.

Textual's own web server (``textual-serve``) runs ``kgop tui`` for each browser tab and
relays the terminal over a websocket. ``serve_guard.Guard`` stands in front of it: a token
printed once in the URL, traded for a cookie; one origin; known hosts; a session cap. It
listens on loopback by default and is meant to be reached through an SSH tunnel
(``ssh -L 8422:127.0.0.1:8422 HOST``). Every action that changes something is disabled
unless ``--allow-actions`` is given.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import sys
from typing import TYPE_CHECKING, Any

from kgop_tui.errors import ExitCode, OperationFailed, UsageError
from kgop_tui.settings import Settings

if TYPE_CHECKING:
    from kgop_tui.project import ProjectStatus

DEFAULT_PORT = 8422
DEFAULT_SESSIONS = 4


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
        "a published port); the only origin and host accepted besides BIND:PORT",
    )
    serve.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_SESSIONS,
        metavar="N",
        help=f"browser sessions open at once (default {DEFAULT_SESSIONS}); one more is refused",
    )
    serve.add_argument(
        "--allow-actions",
        action="store_true",
        help="allow restarts, migrations, configuration and upgrades from the browser",
    )
    serve.add_argument(
        "--host-network",
        action="store_true",
        help="kgop runs on the host's network (./operator.sh serve): reach Postgres and "
        "Garage through the ports the project publishes on the host",
    )
    serve.set_defaults(handler=cmd_serve)


def tui_command(settings: Settings, allow_actions: bool) -> str:
    """The shell command the web server runs for each browser session."""
    argv = [sys.executable, "-m", "kgop_tui.cli", "--home", str(settings.kg_home), "tui"]
    if not allow_actions:
        argv.append("--read-only")
    return shlex.join(argv)


def public_url_of(args: argparse.Namespace) -> tuple[str, str]:
    """The bind address and the public URL, checked."""
    try:
        address = ipaddress.ip_address(args.bind)
    except ValueError:
        raise UsageError(
            f"--bind {args.bind!r} is not an IP address",
            hint="use 127.0.0.1 (the default) and an SSH tunnel, or the address to listen on",
        ) from None
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is out of range", hint="use 1 to 65535")
    if args.max_sessions < 1:
        raise UsageError(f"--max-sessions {args.max_sessions} is too small", hint="use 1 or more")
    host = f"[{address}]" if address.version == 6 else str(address)
    public_url = (args.public_url or f"http://{host}:{args.port}").rstrip("/")
    from kgop_tui.commands.serve_guard import Origin

    if Origin.parse(public_url) is None:
        raise UsageError(
            f"--public-url {args.public_url!r} is not an http(s) URL",
            hint="for example http://127.0.0.1:8422",
        )
    return str(address), public_url


def published_addresses(status: ProjectStatus) -> tuple[dict[str, str], list[str]]:
    """Where Postgres and Garage's admin API are on the host (the ports compose publishes):
    the settings that point kgop there, and a line per service for the operator."""
    services = {s.service: s for s in status.services}
    env: dict[str, str] = {}
    said = []
    for service, inner in (("postgres", 5432), ("garage", 3903)):
        found = services.get(service)
        ports = [p for p in found.ports if p.container_port == inner] if found else []
        if not ports:
            said.append(f"{service} publishes no port {inner} here (shown unreachable)")
            continue
        host = "127.0.0.1" if ports[0].host_ip in ("", "0.0.0.0", "::") else ports[0].host_ip
        host = f"[{host}]" if ":" in host else host
        said.append(f"{service} at {host}:{ports[0].host_port}")
        if service == "postgres":
            env.update(POSTGRES_HOST=host, POSTGRES_PORT=str(ports[0].host_port))
        else:
            env["KG_GARAGE_ADMIN_URL"] = f"http://{host}:{ports[0].host_port}"
    return env, said


def use_published_ports(settings: Settings) -> None:
    """On the host's network, Postgres and Garage are where compose publishes them; the
    sessions (child processes) inherit the addresses through the environment."""
    from kgop_tui.services.docker.docker_engine import DockerService

    docker = DockerService(settings)
    try:
        env, said = published_addresses(docker.project_status())
    finally:
        docker.close()
    os.environ.update(env)
    print(f"kgop serve: on the host's network: {', '.join(said)}.", file=sys.stderr)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    address, public_url = public_url_of(args)
    from kgop_tui.commands.serve_guard import Guard, GuardedServer

    if args.host_network:
        use_published_ports(settings)
    guard = Guard(public_url, address, args.port, args.max_sessions)
    mode = "actions allowed" if args.allow_actions else "read-only"
    print(
        f"kgop serve: {guard.login_url(public_url)} ({mode}, at most {args.max_sessions} "
        "sessions); Ctrl+C stops.",
        file=sys.stderr,
        flush=True,
    )
    if not ipaddress.ip_address(address).is_loopback:
        print(
            f"kgop serve: listening on {address}, not loopback: anyone who reaches it and "
            "gets the token gets the operator UI.",
            file=sys.stderr,
        )
    server = GuardedServer(
        tui_command(settings, args.allow_actions),
        guard,
        host=address,
        port=args.port,
        title=f"kgop · {settings.compose_project_name}",
        public_url=public_url,
    )
    try:
        server.serve()
    except OSError as exc:
        raise OperationFailed(
            f"cannot listen on {address}:{args.port}: {exc.strerror or exc}",
            hint="pick another --port, or stop what listens there",
        ) from None
    return ExitCode.OK
