"""``kgop stack render``: the Swarm stack file of this install, for ``docker stack deploy``;
``kgop stack image``: the image the compose files give a service.

``operator.sh deploy-swarm`` passes its options through ``render`` (checked there, in
Python) to ``docker stack deploy``, which it runs on the host with the rendered file.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from kgop_tui.errors import ConfigInvalid, ExitCode
from kgop_tui.settings import Settings


def register(verbs: Any) -> None:
    stack = verbs.add_parser("stack", help="the platform as a Docker Swarm stack")
    sub = stack.add_subparsers(dest="stack_verb", metavar="ACTION", required=True)
    render = sub.add_parser(
        "render",
        help="print the stack file (compose files + compose/stack.yml) for "
        "`docker stack deploy -c - NAME`; it holds .env's secrets: pipe it, do not keep it",
    )
    render.add_argument(
        "--resolve-image",
        choices=("always", "changed", "never"),
        help="for `docker stack deploy` (operator.sh deploy-swarm passes it on): whether the "
        "engine asks the registry for each image's digest; never for images only on this host",
    )
    render.add_argument(
        "--check", action="store_true", help="only check the options, render nothing"
    )
    render.set_defaults(handler=cmd_render)
    image = sub.add_parser(
        "image", help="the image the compose files (with .env) give SERVICE (operator.sh reads it)"
    )
    image.add_argument("service", metavar="SERVICE")
    image.set_defaults(handler=cmd_image)


def cmd_render(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.docker.stack_file import render

    if not args.check:
        print(json.dumps(render(settings), indent=2))
    return ExitCode.OK


def cmd_image(args: argparse.Namespace, settings: Settings) -> int:
    """Read from compose's JSON with a JSON parser (operator.sh has none on the host)."""
    from kgop_tui.services.docker.compose import ComposeService

    compose = ComposeService(settings)
    compose.check_services([args.service])
    config = json.loads(compose.run("config", "--format", "json", args.service, timeout=60))
    image = (config.get("services") or {}).get(args.service, {}).get("image")
    if not image:
        raise ConfigInvalid(
            f"The compose files give {args.service} no image",
            hint="set its image (or KG_*_IMAGE in .env) and run `docker compose config`",
        )
    print(image)
    return ExitCode.OK
