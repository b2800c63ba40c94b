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
    releases.add_argument(
        "--check",
        action="store_true",
        help="the manifest is consistent, and the running images carry its version labels",
    )
    releases.set_defaults(handler=cmd_releases)


# ---- releases -----------------------------------------------------------------------------


def cmd_releases(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.releases import load_manifest, render_markdown

    manifest = load_manifest()
    if args.check:
        return check_releases(manifest, settings)
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


def check_releases(manifest: Any, settings: Settings) -> int:
    """``--check``: exit 1 naming each inconsistency or mismatched running image."""
    from kgop_tui.releases import ROLES, check_manifest
    from kgop_tui.services.database.baseline import BASELINE_FILE
    from kgop_tui.services.docker.docker_engine import DockerService

    # The installed release's schema, when the install holds the platform's (its baseline
    # beside the migrations): the manifest's range must be what its files record.
    folder = settings.migrations_dir()
    schemas = {}
    if settings.kg_version and (folder.parent / BASELINE_FILE).is_file():
        schemas[settings.kg_version] = folder
    problems = check_manifest(manifest, schemas)
    print(
        f"{'✖' if problems else '✔'} manifest: {len(manifest.releases)} releases, newest "
        f"{manifest.latest.version}" + (f"; {len(problems)} problem(s)" if problems else "")
    )
    for problem in problems:
        print(f"  ✖ {problem}")
    installed = settings.kg_version
    release = manifest.get(installed) if installed else None
    if release is None:
        problems.append(f"KG_VERSION {installed or '(unset)'} is not in the manifest")
        print(f"✖ installed version {installed or '(unset)'}: not a release")
    else:
        docker = DockerService(settings)
        try:
            running = {s.service: s for s in docker.project_status().services}
        finally:
            docker.close()
        for role, tag in sorted((r, t) for r, t in release.images.items() if r in ROLES):
            status = running.get(role)
            if status is None or status.state.value != "running":
                print(f"– {role}: not running")
                continue
            if status.version != tag:
                problems.append(f"{role}: {status.image} is labelled {status.version}, not {tag}")
                print(
                    f"✖ {role}: {status.image} is labelled {status.version or '(no label)'}; "
                    f"{release.version} expects {tag}"
                )
            else:
                print(f"✔ {role}: {status.image} labelled {tag}")
    return ExitCode.FAILED if problems else ExitCode.OK
