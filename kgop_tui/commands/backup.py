"""``kgop backup`` and ``kgop restore``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from kgop_tui.errors import ExitCode, RefusedForSafety
from kgop_tui.settings import Settings
from kgop_tui.terminal import confirm


def register(verbs: Any) -> None:
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
