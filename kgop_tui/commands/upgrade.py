"""``kgop upgrade``, ``kgop backup``, ``kgop restore`` and ``kgop releases``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from kgop_tui.errors import ExitCode, LockHeld, OperationFailed, RefusedForSafety
from kgop_tui.models import RunState, StepState, UpgradeStatus
from kgop_tui.settings import Settings

MARKS = {
    StepState.PENDING: "·",
    StepState.RUNNING: "…",
    StepState.DONE: "✓",
    StepState.FAILED: "✗",
    StepState.SKIPPED: "-",
    StepState.ROLLED_BACK: "↺",
}


def register(verbs: Any) -> None:
    upgrade = verbs.add_parser(
        "upgrade",
        help="upgrade the platform: preflight, backup, pull, migrate, health gate, rollback",
        description="Upgrade the platform to another release. Nothing is stopped before every "
        "image is here and a backup is taken; a failure after that rolls back by itself. The "
        "upgrade runs in the background: a dropped session does not stop it.",
    )
    upgrade.add_argument("--to", metavar="VERSION", help="target release (default: the newest)")
    upgrade.add_argument(
        "--dry-run", action="store_true", help="preflight, plan and a migration dry run only"
    )
    upgrade.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    upgrade.add_argument(
        "--no-backup", action="store_true", help="skip the backup (a failure cannot restore data)"
    )
    upgrade.add_argument(
        "--health-timeout",
        type=float,
        default=180.0,
        metavar="S",
        help="seconds api and web have to become healthy (default 180)",
    )
    mode = upgrade.add_mutually_exclusive_group()
    mode.add_argument("--status", action="store_true", help="the last upgrade's progress")
    mode.add_argument("--attach", action="store_true", help="follow a running upgrade")
    mode.add_argument(
        "--abort", action="store_true", help="abort a running upgrade before anything stopped"
    )
    mode.add_argument(
        "--recover",
        action="store_true",
        help="roll back an upgrade whose process was interrupted (asks, or --yes)",
    )
    mode.add_argument(
        "--idle", action="store_true", help="exit 0 when no upgrade is running, else 1"
    )
    mode.add_argument("--run", metavar="ID", help=argparse.SUPPRESS)
    upgrade.add_argument("--json", action="store_true", help="JSON (--status, --dry-run)")
    upgrade.set_defaults(handler=cmd_upgrade)

    backup = verbs.add_parser(
        "backup", help="back up the database (pg_dump) and .env into KG_HOME/backups"
    )
    backup.add_argument("--list", action="store_true", help="list the backups instead")
    backup.add_argument(
        "--prune", type=int, metavar="KEEP", help="delete all but the newest KEEP backups"
    )
    backup.add_argument("--json", action="store_true")
    backup.set_defaults(handler=cmd_backup)

    restore = verbs.add_parser(
        "restore", help="restore the database from a backup (takes a backup first)"
    )
    restore.add_argument("path", type=Path, metavar="BACKUP", help="a folder in KG_HOME/backups")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.add_argument("--json", action="store_true")
    restore.set_defaults(handler=cmd_restore)

    releases = verbs.add_parser("releases", help="the release manifest: versions and upgrade stops")
    releases.add_argument("--markdown", action="store_true", help="docs/RELEASES.md")
    releases.add_argument("--json", action="store_true")
    releases.set_defaults(handler=cmd_releases)


# ---- confirmation -------------------------------------------------------------------------


def confirm(question: str, yes: bool, refusal: str) -> None:
    """Ask on a terminal; without one, refuse unless ``--yes``."""
    if yes:
        return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise RefusedForSafety(refusal, hint="pass --yes to confirm without a terminal")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise RefusedForSafety("Cancelled; nothing was changed")


# ---- upgrade ------------------------------------------------------------------------------


def render_status(status: UpgradeStatus) -> str:
    took = ""
    if status.finished_at is not None:
        took = f", {(status.finished_at - status.started_at).total_seconds():.1f} s"
    lines = [
        f"Upgrade {status.from_version} → {status.to_version}: {status.state.value} "
        f"(started {status.started_at:%Y-%m-%d %H:%M:%S}Z{took})"
    ]
    for step in status.steps:
        if step.key == status.point_of_no_return:
            lines.append("  ── point of no return ──")
        detail = f"  {step.detail}" if step.detail else ""
        lines.append(f"  {MARKS[step.state]} {step.key:<9} {step.state.value:<11}{detail}")
    if status.error and status.state is not RunState.SUCCEEDED:
        lines.append(f"Error: {status.error}")
    lines += status.report
    if status.hint and status.state is not RunState.SUCCEEDED:
        lines.append(f"Hint: {status.hint}")
    lines.append(f"Log: {status.log_file}")
    return "\n".join(lines)


def exit_code(status: UpgradeStatus) -> int:
    return ExitCode.OK if status.state is RunState.SUCCEEDED else ExitCode.FAILED


def follow(settings: Settings) -> int:
    """Print the run's log as it grows; return its exit code when it ends."""
    from kgop_tui.services.upgrade import UpgradeFiles, read_log, read_status

    files = UpgradeFiles.of(settings)
    offset = 0
    try:
        while True:
            status = read_status(files)
            if status is None:
                raise OperationFailed("No upgrade has run here", hint="start one: `kgop upgrade`")
            lines, offset = read_log(files, status, offset)
            for line in lines:
                print(line, flush=True)
            if status.state.final:
                lines, offset = read_log(files, status, offset)
                for line in lines:
                    print(line, flush=True)
                print()
                print(render_status(status), flush=True)
                return exit_code(status)
            time.sleep(0.2)
    except KeyboardInterrupt:
        print(
            "\nkgop: stopped following; the upgrade goes on. Hint: `kgop upgrade --status`",
            file=sys.stderr,
        )
        return 130


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services import upgrade as svc

    files = svc.UpgradeFiles.of(settings)
    if args.run:
        status = svc.run_upgrade(
            settings, args.run, args.to, args.no_backup, health_timeout=args.health_timeout
        )
        return exit_code(status)
    if args.idle:
        return ExitCode.OK if svc.lock_is_free(files) else ExitCode.FAILED
    if args.status:
        current = svc.read_status(files)
        if current is None:
            print("{}" if args.json else "No upgrade has run here.")
            return ExitCode.OK
        print(current.model_dump_json(indent=2) if args.json else render_status(current))
        return ExitCode.OK
    if args.attach:
        return follow(settings)
    if args.recover:
        current = svc.read_status(files)
        if current is None or current.state is not RunState.INTERRUPTED:
            state = current.state.value if current else "none"
            raise OperationFailed(
                f"No interrupted upgrade to recover (last upgrade: {state})",
                hint="`kgop upgrade --status` shows it",
            )
        if current.passed_point_of_no_return:
            confirm(
                f"Roll back the interrupted upgrade to {current.from_version}? api and web "
                "stop; the database is restored from the upgrade's backup.",
                args.yes,
                "Recovering stops api and web and restores the database; refused without "
                "confirmation",
            )
        recovered = svc.recover(settings, health_timeout=args.health_timeout)
        print(render_status(recovered))
        return ExitCode.OK if recovered.state is not RunState.FAILED else ExitCode.FAILED
    if args.abort:
        svc.request_abort(files)
        print("Abort requested; the upgrade stops before anything is changed.", flush=True)
        return follow(settings)
    if not svc.lock_is_free(files):
        raise LockHeld("An upgrade is already running", hint="follow it: `kgop upgrade --attach`")

    steps = svc.UpgradeSteps(settings, log=lambda line: None)
    print("Preflight ...", flush=True)
    ctx = asyncio.run(svc.preflight(steps, args.to, no_backup=args.no_backup))
    plan = ctx.plan
    if args.dry_run:
        run = asyncio.run(steps.dry_run_migrations(ctx))
        if args.json:
            import json

            print(
                json.dumps(
                    {
                        "plan": plan.model_dump(mode="json"),
                        "migration_dry_run": run.model_dump(mode="json"),
                    },
                    indent=2,
                )
            )
        else:
            print("\n".join(plan.lines()))
            from kgop_tui.commands.migrate import render_run

            print(render_run(run))
            print("Dry run: nothing was changed.")
        if run.failure:
            from kgop_tui.commands.migrate import failure_error

            raise failure_error(run.failure, dry_run=True)
        return ExitCode.OK
    print("\n".join(plan.lines()), flush=True)
    if plan.up_to_date:
        print(f"The platform is already at {plan.to_version}.")
        return ExitCode.OK
    confirm(
        f"Upgrade {plan.from_version} → {plan.to_version}? api and web stop for the migrations.",
        args.yes,
        "The upgrade stops api and web; refused without confirmation",
    )
    run_id, process = svc.spawn_runner(
        settings, plan.to_version, args.no_backup, args.health_timeout
    )
    svc.wait_started(files, run_id, process)
    print(f"Upgrade {run_id} runs in the background; Ctrl-C stops following, not the upgrade.")
    return follow(settings)


# ---- backup and restore ---------------------------------------------------------------


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.render import emit
    from kgop_tui.services.backup import BackupService, describe

    service = BackupService(settings)
    if args.prune is not None:
        removed = service.prune(args.prune)
        for path in removed:
            print(f"removed {path}")
        print(f"{len(removed)} removed; {len(service.backups())} kept.")
        return ExitCode.OK
    if args.list:
        found = service.backups()
        emit(found, args.json, lambda: "\n".join(describe(b) for b in found) or "No backups yet.")
        return ExitCode.OK
    info = asyncio.run(service.create(reason="manual"))
    emit(info, args.json, lambda: f"Backup written: {describe(info)}")
    return ExitCode.OK


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.models import RestoreResult
    from kgop_tui.render import emit
    from kgop_tui.services.backup import BackupService, database_facts, describe
    from kgop_tui.services.compose import ComposeService
    from kgop_tui.services.database import DatabaseTarget, connect
    from kgop_tui.services.docker_engine import DockerService
    from kgop_tui.services.health import wait_healthy
    from kgop_tui.services.upgrade import APP_SERVICES, UpgradeFiles, hold_lock, lock_is_free

    started = time.monotonic()

    def say(text: str) -> None:  # progress; JSON output keeps stdout to itself
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    service = BackupService(settings)
    info = service.load(args.path.absolute())
    service.check_key(info)
    if not lock_is_free(UpgradeFiles.of(settings)):
        raise RefusedForSafety(
            "An upgrade or a restore is running", hint="`kgop upgrade --status` shows an upgrade"
        )
    say(f"Restore {describe(info)}")
    confirm(
        "Replace the current database with this backup? (a backup of it is taken first)",
        args.yes,
        "Restoring replaces the current database; refused without confirmation",
    )
    safety = asyncio.run(service.create(reason=f"before restoring {Path(info.path).name}"))
    say(f"Backup of the current database: {safety.path}")
    docker = DockerService(settings)
    running = [
        s.service
        for s in docker.project_status().services
        if s.service in APP_SERVICES and s.state.value == "running"
    ]
    compose = ComposeService(settings)
    if running:
        say(f"Stopping {', '.join(running)} ...")
        compose.stop(running)
    try:
        with hold_lock(UpgradeFiles.of(settings)):  # no upgrade or other restore meanwhile
            asyncio.run(service.restore_database(info))
    finally:
        if running:
            compose.run("up", "--detach", "--no-deps", *running)
    if running:
        wait_healthy(docker, running, 180)

    async def facts() -> tuple[int | None, dict[str, int]]:
        conn = await connect(DatabaseTarget.from_settings(settings), "restore")
        try:
            _, _, schema, tables = await database_facts(conn)
            return schema, tables
        finally:
            await conn.close()

    schema, tables = asyncio.run(facts())
    result = RestoreResult(
        restored_from=info.path,
        safety_backup=safety.path,
        schema_version=schema,
        tables=tables,
        restarted=running,
        seconds=round(time.monotonic() - started, 2),
    )
    emit(
        result,
        args.json,
        lambda: (
            f"Restored {info.path}: schema {schema}, {len(tables)} tables, "
            f"{sum(tables.values())} rows ({result.seconds:.1f} s)"
            + (f"; restarted {', '.join(running)}" if running else "")
        ),
    )
    return ExitCode.OK


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
