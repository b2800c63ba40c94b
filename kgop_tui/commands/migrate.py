"""``kgop migrate status|plan|up|accept``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from kgop_tui.errors import ExitCode, MigrationFailed
from kgop_tui.render import emit, render_migration_status
from kgop_tui.settings import Settings

if TYPE_CHECKING:
    from kgop_tui.models import (
        MigrationFailure,
        MigrationFile,
        MigrationRun,
    )
    from kgop_tui.services.database.migrations import MigrationService


def register(verbs: Any) -> None:
    """Add ``migrate`` and its sub-verbs to the parser."""
    migrate = verbs.add_parser("migrate", help="database migrations: status, plan, up, accept")
    sub = migrate.add_subparsers(dest="migrate_verb", metavar="ACTION", required=True)

    status = sub.add_parser(
        "status", help="applied, adopted, baseline, pending, drifted and missing migrations"
    )
    status.add_argument("--json", action="store_true", help="stable JSON output")
    status.set_defaults(handler=cmd_status)

    plan = sub.add_parser("plan", help="pending files with an SQL preview")
    plan.add_argument("--to", type=int, metavar="N", help="stop after version N")
    plan.add_argument("--warm", action="store_true", help="the warm folder's files")
    plan.add_argument("--json", action="store_true", help="stable JSON output")
    plan.set_defaults(handler=cmd_plan)

    up = sub.add_parser("up", help="apply pending migrations, each in its own transaction")
    up.add_argument("--to", type=int, metavar="N", help="stop after version N")
    up.add_argument(
        "--dry-run", action="store_true", help="run them in a transaction that is rolled back"
    )
    up.add_argument(
        "--lock-timeout", type=float, default=60.0, metavar="S",
        help="seconds to wait for another run's lock (default 60; then exit 4)",
    )  # fmt: skip
    up.add_argument(
        "--warm", action="store_true",
        help="apply the warm folder's files (they need the running application)",
    )  # fmt: skip
    up.add_argument("--json", action="store_true", help="stable JSON output")
    up.set_defaults(handler=cmd_up)

    accept = sub.add_parser(
        "accept", help="accept a deliberate change to applied files (records the new checksum)"
    )
    accept.add_argument("versions", type=int, nargs="+", metavar="VERSION")
    accept.set_defaults(handler=cmd_accept)


def service(settings: Settings, lock_timeout: float = 60.0) -> MigrationService:
    """The migration service for this install (asyncpg is imported only here)."""
    from kgop_tui.services.database.migrations import MigrationService

    return MigrationService.of_install(settings, lock_timeout)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    status = asyncio.run(service(settings).status())
    emit(status, args.json, lambda: render_migration_status(status))
    return ExitCode.OK


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    plan = asyncio.run(service(settings).plan(to=args.to, warm=args.warm))
    if args.json:
        print(json.dumps([p.model_dump(mode="json") for p in plan], indent=2))
        return ExitCode.OK
    if not plan:
        print("Nothing to apply: the database is up to date.")
        return ExitCode.OK
    print(f"{len(plan)} migration(s) to apply, in this order:")
    for item in plan:
        mode = ""
        if item.self_managed:
            mode = "  [runs in its own transaction, as psql would]"
        elif not item.transactional:
            mode = "  [runs outside a transaction]"
        print(f"\n== {item.filename}{mode}")
        print("\n".join("   " + line for line in item.preview.splitlines()))
    return ExitCode.OK


def _progress(event: str, file: MigrationFile, ms: int | None) -> None:
    if event == "start":
        print(f"Applying {file.path or file.filename} ...", end="", flush=True)
    else:
        print(f" ok ({ms} ms)", flush=True)


def _waiting(holder: str) -> None:
    print(f"kgop: waiting for the migration lock held by {holder}", file=sys.stderr)


def failure_error(failure: MigrationFailure, dry_run: bool) -> MigrationFailed:
    where = f" at line {failure.line}, column {failure.column}" if failure.line else ""
    state = f" (sqlstate {failure.sqlstate})" if failure.sqlstate else ""
    detail = f"; {failure.detail}" if failure.detail else ""
    verb = "would fail" if dry_run else "failed and was rolled back"
    hint = failure.hint or (
        "fix the file and run `kgop migrate up` again; the migrations before it stay applied"
        if not dry_run
        else "fix the file before applying it"
    )
    return MigrationFailed(
        f"Migration {failure.filename} {verb}{where}: {failure.message}{state}{detail}", hint
    )


def render_run(run: MigrationRun) -> str:
    lines: list[str] = []
    if run.baseline is not None:
        b = run.baseline
        verb = "Would apply" if run.dry_run else "Applied"
        lines.append(f"{verb} the platform's baseline {b.filename} ({b.duration_ms} ms).")
        if b.dropped_settings:
            lines.append(
                "Left out settings this server does not have: " + ", ".join(b.dropped_settings)
            )
    if run.edited_by_release:
        versions = ", ".join(str(v) for v in run.edited_by_release)
        lines.append(f"Recorded the release's new content of applied files: {versions}.")
    if run.adopted:
        lines.append(f"Adopted {run.adopted} migration(s) applied by the previous runner.")
    if run.dry_run:
        for step in run.applied:
            lines.append(f"would apply {step.version:04d}_{step.name} ok ({step.duration_ms} ms)")
        for name in run.skipped:
            lines.append(f"not tried   {name} (runs outside a transaction)")
        if not run.failure:
            lines.append(
                f"Dry run: {len(run.applied)} migration(s) would apply; nothing was changed."
            )
    elif not run.failure:
        if run.applied:
            lines.append(f"Applied {len(run.applied)} migration(s); database at version "
                         f"{run.current_version}.")  # fmt: skip
        else:
            lines.append(f"Nothing to apply: the database is at version {run.current_version}.")
    return "\n".join(lines)


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    svc = service(settings, lock_timeout=args.lock_timeout)
    quiet = args.json or args.dry_run
    run = asyncio.run(
        svc.up(
            to=args.to,
            dry_run=args.dry_run,
            progress=None if quiet else _progress,
            on_wait=_waiting,
            warm=args.warm,
        )
    )
    if args.json:
        print(json.dumps(run.model_dump(mode="json"), indent=2))
    else:
        if run.failure and not quiet:
            print(" failed", flush=True)
        text = render_run(run)
        if text:
            print(text)
    if run.failure:
        raise failure_error(run.failure, run.dry_run)
    return ExitCode.OK


def cmd_accept(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    accepted = asyncio.run(service(settings).accept(args.versions))
    print("Accepted the current content of: " + ", ".join(f"{v:04d}" for v in accepted))
    return ExitCode.OK
