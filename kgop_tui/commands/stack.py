"""``kgop stack render``: the Swarm stack file of this install, for ``docker stack deploy``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from kgop_tui.errors import ExitCode
from kgop_tui.settings import Settings


def register(verbs: Any) -> None:
    stack = verbs.add_parser("stack", help="the platform as a Docker Swarm stack")
    sub = stack.add_subparsers(dest="stack_verb", metavar="ACTION", required=True)
    render = sub.add_parser(
        "render",
        help="print the stack file (compose files + compose/stack.yml) for "
        "`docker stack deploy -c - NAME`; it holds .env's secrets: pipe it, do not keep it",
    )
    render.set_defaults(handler=cmd_render)


def cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.stack_file import render

    print(json.dumps(render(settings), indent=2))
    return ExitCode.OK
