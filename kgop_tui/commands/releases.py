"""``kgop releases``: the release manifest."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kgop_tui.errors import ExitCode
from kgop_tui.settings import Settings


def register(verbs: Any) -> None:
    releases = verbs.add_parser("releases", help="the release manifest: versions and upgrade stops")
    releases.add_argument("--markdown", action="store_true", help="docs/RELEASES.md")
    releases.add_argument("--json", action="store_true")
    releases.set_defaults(handler=cmd_releases)


# ---- releases -----------------------------------------------------------------------------


def cmd_releases(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.releases import load_manifest, render_markdown

    manifest = load_manifest()
    if args.markdown:
        sys.stdout.write(render_markdown(manifest))
    elif args.json:
        print(manifest.model_dump_json(indent=2, by_alias=True))
    else:
        for release in reversed(manifest.releases):
            mark = "  (required stop)" if release.required else ""
            here = "  ← installed" if release.version == settings.kg_version else ""
            print(
                f"{release.version:<8} {release.date}  migrations to "
                f"{release.migrations[1]:04d}{mark}{here}"
            )
    return ExitCode.OK
