"""``kgop logs``, ``kgop restart``, ``kgop stop``, ``kgop wait``: verbs on the Docker engine
service."""

from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING, Any, TextIO

from kgop_tui.errors import ExitCode, UsageError
from kgop_tui.settings import Settings
from kgop_tui.text import clean, clean_line

if TYPE_CHECKING:
    from kgop_tui.services.docker.logs import LogChunk, LogFilter

# Compose's palette: readable on dark and light terminals, 16-colour safe.
_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
# What stderr says of a StreamEvent, by kind.
STREAM_NOTES = {
    "ended": "stream ended",
    "reattached": "stream reattached",
    "failed": "stream failed",
}


def register(verbs: Any) -> None:
    logs = verbs.add_parser("logs", help="logs of one, several or all services, merged")
    logs.add_argument("services", nargs="*", metavar="SERVICE", help="default: all services")
    logs.add_argument("-f", "--follow", action="store_true", help="keep following new lines")
    logs.add_argument("--tail", default="all", metavar="N", help="last N lines of each (or all)")
    logs.add_argument("--since", metavar="D", help="lines newer than D: 10m, 2h, 1d or a date")
    logs.add_argument("--grep", metavar="RE", help="only lines matching this regular expression")
    logs.add_argument("-v", "--invert", action="store_true", help="only lines NOT matching --grep")
    logs.add_argument("-t", "--timestamps", action="store_true", help="show timestamps")
    logs.add_argument("--no-color", action="store_true", help="no colour in service prefixes")
    logs.add_argument(
        "--raw",
        action="store_true",
        help="the lines as the containers wrote them, escape sequences included (for a file; "
        "by default they are removed, as they could act on the terminal that shows them)",
    )
    logs.set_defaults(handler=cmd_logs)

    for verb, text in (("restart", "restart services"), ("stop", "stop services")):
        parser = verbs.add_parser(verb, help=f"{text} (through compose)")
        parser.add_argument("services", nargs="+", metavar="SERVICE")
        parser.add_argument(
            "--timeout", type=int, default=10, metavar="S",
            help="seconds to allow a clean stop before killing (default 10)",
        )  # fmt: skip
        parser.set_defaults(handler=cmd_lifecycle)

    wait = verbs.add_parser(
        "wait", help="wait until services are healthy (or running, without a healthcheck)"
    )
    wait.add_argument("services", nargs="+", metavar="SERVICE")
    wait.add_argument(
        "--timeout", type=float, default=180, metavar="S", help="give up after S seconds (180)"
    )
    wait.set_defaults(handler=cmd_wait)


def _tail(value: str) -> int | None:
    if value == "all":
        return None
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise UsageError(f"--tail {value!r} is not a number of lines", hint="use e.g. 100 or all")
    return number


class _Printer:
    """Writes chunks of lines: ``service | `` prefixes when several, colour on a TTY.

    Formatting is one regular-expression substitution per chunk, not a loop per line.
    """

    _STAMP = re.compile(r"^[^ \n]* ", re.M)
    _START = re.compile(r"^", re.M)

    def __init__(
        self, services: list[str], out: TextIO, timestamps: bool, colour: bool, raw: bool = False
    ):
        width = max((len(s) for s in services), default=0)
        self.prefix: dict[str, str] = {}
        for i, service in enumerate(services):
            if len(services) == 1:
                self.prefix[service] = ""
            elif colour:
                code = _COLOURS[i % len(_COLOURS)]
                self.prefix[service] = f"\x1b[{code}m{service:<{width}} |\x1b[0m "
            else:
                self.prefix[service] = f"{service:<{width}} | "
        self.out = out
        self.timestamps = timestamps
        self.raw = raw

    def format(self, chunk: LogChunk) -> str:
        prefix = self.prefix[chunk.service].replace("\\", "\\\\")
        # What a container could use to rewrite a terminal (escape sequences, controls) goes,
        # unless --raw: a file written now is read on a terminal later.
        text = chunk.text if self.raw else clean(chunk.text)
        if self.timestamps:
            if not prefix:
                return text
            return self._START.sub(prefix, text[:-1]) + "\n"
        return self._STAMP.sub(prefix, text)

    def write(self, chunks: list[LogChunk]) -> None:
        self.out.write("".join(self.format(chunk) for chunk in chunks))
        self.out.flush()


def _kept(chunks: list[LogChunk], keep: LogFilter) -> list[LogChunk]:
    if not keep.active:
        return chunks
    return [c for c in (keep.apply(chunk) for chunk in chunks) if c is not None]


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.docker.docker_engine import DockerService
    from kgop_tui.services.docker.logs import LogFilter, LogFollower, history, parse_since

    tail = _tail(args.tail)
    since = parse_since(args.since) if args.since else None
    if args.invert and not args.grep:
        raise UsageError("--invert needs --grep", hint="e.g. --grep 'GET /health' --invert")
    keep = LogFilter(args.grep, invert=args.invert)
    docker = DockerService(settings)
    targets = docker.service_containers(args.services or None)
    if not targets:
        print("No containers to show logs for: is the stack running? (`kgop status`)")
        return ExitCode.OK
    colour = sys.stdout.isatty() and not args.no_color
    printer = _Printer([s for s, _ in targets], sys.stdout, args.timestamps, colour, args.raw)
    if not args.follow:
        for chunks in history(docker, targets, tail=tail, since=since):
            printer.write(_kept(chunks, keep))
        return ExitCode.OK
    follower = LogFollower(docker, targets, tail=tail, since=since)
    try:
        for batch in follower.batches():
            printer.write(_kept(batch.chunks, keep))
            for event in batch.events:
                note = STREAM_NOTES.get(event.kind, event.kind)
                detail = f" ({clean_line(event.detail)})" if event.detail else ""
                print(f"kgop: {event.service}: {note}{detail}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        return ExitCode.OK
    finally:
        follower.close()
    return ExitCode.OK


def cmd_lifecycle(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.docker.compose import ComposeService
    from kgop_tui.services.docker.docker_engine import DockerService

    swarm = DockerService(settings).swarm()
    if swarm.services():  # a Swarm stack: tasks are replaced, rolling, by Swarm itself
        for service in args.services:
            if args.verb != "restart":
                raise swarm.refuse_lifecycle(args.verb, service)
            swarm.force_update(service)
        print(
            f"Restarting {', '.join(args.services)} "
            "(rolling, as each service's update_config says)."
        )
        return ExitCode.OK
    compose = ComposeService(settings)
    if args.verb == "restart":
        compose.restart(args.services, grace_seconds=args.timeout)
        print(f"Restarted {', '.join(args.services)}.")
    else:
        compose.stop(args.services, grace_seconds=args.timeout)
        print(f"Stopped {', '.join(args.services)}.")
    return ExitCode.OK


def cmd_wait(args: argparse.Namespace, settings: Settings) -> int:
    """What `operator.sh start-infra` waits with: "postgres healthy, garage healthy"."""
    from kgop_tui.services.docker.compose import ComposeService
    from kgop_tui.services.docker.docker_engine import DockerService
    from kgop_tui.services.docker.health import wait_healthy

    if args.timeout <= 0:
        raise UsageError("--timeout must be more than 0 seconds", hint="e.g. --timeout 180")
    ComposeService(settings).check_services(args.services)
    docker = DockerService(settings)
    try:
        states = wait_healthy(docker, args.services, args.timeout)
    finally:
        docker.close()
    print(states)
    return ExitCode.OK
