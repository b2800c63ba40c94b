"""The ``kgop`` command: parse arguments, build services once, dispatch.

Plain verbs never import Textual: startup time is a feature. Every expected failure is a
:class:`~kgop_tui.errors.KgopError`, turned here, and only here, into one stderr line and
its exit code.
"""

from __future__ import annotations

import os
import sys

from kgop_tui import __version__

# Not `typing.TYPE_CHECKING`: `kgop --version` answers before anything else is imported
# (scripts and healthchecks call it in loops), and this module's imports are all it costs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from kgop_tui.settings import Settings

    Handler = Callable[[argparse.Namespace, Settings], int]


def _parser_class() -> type[argparse.ArgumentParser]:
    import argparse

    from kgop_tui.errors import UsageError

    class _Parser(argparse.ArgumentParser):
        """argparse that reports usage errors as UsageError (exit 2, one line)."""

        def error(self, message: str) -> None:  # type: ignore[override]
            raise UsageError(message, hint=f"run `{self.prog} --help`")

    return _Parser


VERB_MODULES = {
    "logs": "engine", "restart": "engine", "stop": "engine", "wait": "engine",
    "migrate": "migrate",
    "configure": "configure",
    "start": "platform", "garage": "platform",
    "certs": "certs", "recert": "certs",
    "upgrade": "upgrade",
    "backup": "backup", "restore": "backup",
    "releases": "releases",
    "env": "envfile",
    "doctor": "doctor", "check-mounts": "doctor", "bundle": "doctor",
    "serve": "serve",
    "stack": "stack",
}  # fmt: skip
"""The module of :mod:`kgop_tui.commands` that defines each verb (``status`` and ``tui`` are
here). A verb's run builds only its own part of the parser: argparse and the other commands'
imports would cost more than ``kgop logs`` itself."""
COMMAND_MODULES = tuple(dict.fromkeys(VERB_MODULES.values()))


def verb_of(argv: Sequence[str]) -> str | None:
    """The verb a command line names (None for none, ``--help`` or ``--version`` first)."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--home":
            next(tokens, None)
        elif token.startswith("--home="):
            continue
        elif token.startswith("-"):
            return None
        else:
            return token
    return None


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The argument parser (also the source of ``--help``): the whole of it, or only
    ``verb``'s part when that verb is known."""
    parser_class = _parser_class()
    parser = parser_class(
        prog="kgop",
        description="Operate the self-hosted Knowledge Graph platform.",
        epilog="Exit codes: 0 ok, 1 failed, 2 bad input, 3 Docker or Postgres unreachable, "
        "4 refused for safety.",
    )
    parser.add_argument("--version", action="version", version=f"kgop {__version__}")
    parser.add_argument(
        "--home", metavar="DIR", help="install directory (KG_HOME; default: current directory)"
    )
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=parser_class)

    status = verbs.add_parser("status", help="services of the platform: state, health, uptime")
    status.add_argument("--json", action="store_true", help="stable JSON output (see README)")
    status.add_argument(
        "--stats", action="store_true", help="add CPU, memory, network, disk I/O (one sample)"
    )
    status.set_defaults(handler=cmd_status)

    tui = verbs.add_parser("tui", help="the full-screen operator UI (needs a terminal)")
    tui.add_argument(
        "--read-only", action="store_true", help="look, change nothing (keys that would are off)"
    )
    tui.set_defaults(handler=cmd_tui)

    if verb in ("status", "tui"):
        return parser
    import importlib

    modules = [VERB_MODULES[verb]] if verb in VERB_MODULES else COMMAND_MODULES
    for name in modules:
        importlib.import_module(f"kgop_tui.commands.{name}").register(verbs)
    return parser


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """``kgop status [--json]``."""
    import json

    from kgop_tui.errors import ExitCode
    from kgop_tui.render import emit, render_project_status
    from kgop_tui.services.docker.docker_engine import DockerService

    service = DockerService(settings)
    try:
        status = service.project_status()
        if getattr(args, "stats", False):
            status = service.sample_stats(status)
    finally:
        service.close()
    if args.json and not getattr(args, "stats", False):
        # The documented document: `stats` appears only when asked for.
        print(json.dumps(status.to_json(with_stats=False), indent=2))
        return ExitCode.OK
    emit(status, args.json, lambda: render_project_status(status))
    return ExitCode.OK


def cmd_tui(args: argparse.Namespace, settings: Settings) -> int:
    """``kgop tui``: the Textual app (imported only here: plain verbs start without it)."""
    from kgop_tui.errors import ExitCode, UsageError
    from kgop_tui.terminal import has_terminal

    # Under `kgop serve` the web server's driver (TEXTUAL_DRIVER) stands for the terminal.
    if not has_terminal() and not os.environ.get("TEXTUAL_DRIVER"):
        raise UsageError(
            "The TUI needs a terminal on stdin and stdout",
            hint="use the plain verbs (`kgop status`, `kgop logs`, ...) in scripts",
        )
    from kgop_tui.app import KgopApp
    from kgop_tui.services.wiring import build_services

    KgopApp(build_services(settings), read_only=getattr(args, "read_only", False)).run()
    return ExitCode.OK


def cmd_overview(parser: argparse.ArgumentParser, settings: Settings) -> int:
    """No verb: plain status then help (the TUI takes this place on a terminal)."""
    import argparse

    from kgop_tui.errors import ExitCode, KgopError

    args = argparse.Namespace(json=False)
    try:
        cmd_status(args, settings)
    except KgopError as exc:
        print(f"kgop: {exc.one_line()}", file=sys.stderr)
    print()
    parser.print_help()
    return ExitCode.OK


def run(argv: Sequence[str] | None = None) -> int:
    """Parse and dispatch; raises KgopError for expected failures."""
    from kgop_tui.settings import load_settings
    from kgop_tui.terminal import has_terminal

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(verb_of(argv))
    args = parser.parse_args(argv)
    settings = load_settings(kg_home=args.home)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        if has_terminal():
            return cmd_tui(args, settings)
        return cmd_overview(parser, settings)
    return handler(args, settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kgop`` console script."""
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        # Scripts and healthchecks call this in loops: answer before building the parser,
        # which imports every command (and pydantic with them).
        print(f"kgop {__version__}")
        return 0
    from kgop_tui.errors import ExitCode, KgopError

    # kgop uses no pydantic plugins; looking for them scans every installed distribution's
    # entry points when the first model is built (tens of milliseconds of each verb).
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        return run(argv)
    except KgopError as exc:
        print(f"kgop: {exc.one_line()}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("kgop: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`kgop status | head`): not an error worth a traceback.
        sys.stderr.close()
        return ExitCode.OK
    except Exception as exc:  # a bug: one line, and the traceback only on request
        if os.environ.get("KGOP_DEBUG"):
            raise
        print(
            f"kgop: unexpected error: {type(exc).__name__}: {str(exc)[:200]}. Hint: this is a "
            "bug; run again with KGOP_DEBUG=1 for the traceback and report it.",
            file=sys.stderr,
        )
        return ExitCode.FAILED


if __name__ == "__main__":
    sys.exit(main())
