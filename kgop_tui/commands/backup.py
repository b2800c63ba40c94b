"""``kgop backup`` and ``kgop restore``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from kgop_tui.errors import ExitCode, RefusedForSafety
from kgop_tui.settings import Settings
from kgop_tui.terminal import confirm


def register(verbs: Any) -> None:
    backup = verbs.add_parser(
        "backup", help="back up the database (pg_dump + manifest) into KG_HOME/backups"
    )
    backup.add_argument("--list", action="store_true", help="list the backups instead")
    backup.add_argument(
        "--with-secrets",
        action="store_true",
        help="also keep .env, sealed with a passphrase (asked, or the first line of stdin)",
    )
    backup.add_argument(
        "--generate-passphrase",
        action="store_true",
        help="--with-secrets with a random passphrase, shown once on the terminal",
    )
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
    restore.add_argument(
        "--secrets-passphrase-stdin",
        action="store_true",
        help="open the backup's sealed .env (--with-secrets) with the passphrase on stdin; "
        "keys .env lacks join ENCRYPTION_KEYS_PREVIOUS",
    )
    restore.add_argument(
        "--accept-unsigned",
        action="store_true",
        help="restore a backup whose signature cannot be checked here: unsigned (an earlier "
        "kgop) or signed with another install's KG_BACKUP_KEY (never one that was changed)",
    )
    restore.add_argument("--json", action="store_true")
    restore.set_defaults(handler=cmd_restore)


# ---- backup and restore ---------------------------------------------------------------


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from kgop_tui.render import describe_backup as describe
    from kgop_tui.render import emit
    from kgop_tui.services.backups.backup import BackupService
    from kgop_tui.services.backups.backup_mac import listing_key

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
    passphrase = _passphrase(args)  # refused now, before a dump is taken for nothing
    had_key = listing_key(service.env_path) is not None
    info = asyncio.run(service.create(reason="manual", passphrase=passphrase))
    emit(info, args.json, lambda: f"Backup written: {describe(info)}")
    if not had_key:
        print("A new KG_BACKUP_KEY in .env signs the backups from now on: keep it with .env "
              "(a backup restores elsewhere only with it)", file=sys.stderr)  # fmt: skip
    if args.generate_passphrase:
        print(f"Passphrase of the sealed secrets (shown once, keep it): {passphrase}",
              file=sys.stderr)  # fmt: skip
    return ExitCode.OK


def _passphrase(args: argparse.Namespace) -> str | None:
    """The passphrase to seal .env with: asked or read (and checked), generated, or none."""
    from kgop_tui.errors import UsageError
    from kgop_tui.services.backups.sealed import (
        check_passphrase,
        generate_passphrase,
        read_passphrase,
    )

    if args.generate_passphrase:
        if not sys.stderr.isatty():  # shown once: never into a log file or a pipe
            raise UsageError(
                "--generate-passphrase shows the passphrase on a terminal, and there is none",
                hint="run it on a terminal, or give your own with --with-secrets on stdin",
            )
        return generate_passphrase()
    if not args.with_secrets:
        return None
    passphrase = read_passphrase(from_stdin=False, confirm=True)
    check_passphrase(passphrase)
    return passphrase


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from kgop_tui.models import RestoreResult
    from kgop_tui.render import describe_backup as describe
    from kgop_tui.render import emit
    from kgop_tui.services.backups.backup import BackupService
    from kgop_tui.services.backups.backup_mac import describe_signature
    from kgop_tui.services.database.age_graphs import describe_graphs
    from kgop_tui.services.docker.compose import ComposeService
    from kgop_tui.services.docker.docker_engine import DockerService
    from kgop_tui.services.docker.health import wait_healthy
    from kgop_tui.services.upgrade import APP_SERVICES, UpgradeFiles, hold_lock, lock_is_free
    from kgop_tui.settings import load_settings

    started = time.monotonic()

    def say(text: str) -> None:  # progress; JSON output keeps stdout to itself
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    service = BackupService(settings)
    info = service.load(args.path.absolute(), args.accept_unsigned)
    if info.signature != "verified":  # let through by --accept-unsigned: say so
        print(
            f"Warning: {info.path} is {describe_signature(info.signature)} and was NOT "
            "verified; restoring it anyway (--accept-unsigned)",
            file=sys.stderr,
        )
    passphrase = None
    if args.secrets_passphrase_stdin:
        from kgop_tui.services.backups.sealed import read_passphrase

        passphrase = read_passphrase(from_stdin=True, confirm=False)
    else:
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
    with hold_lock(UpgradeFiles.of(settings)):  # no upgrade, rotation or other restore meanwhile
        if passphrase is not None:  # .env's keys change under the lock a rotation takes too
            added = service.open_secrets(info, passphrase)
            if added:
                say(f"{added} key(s) from the backup's sealed .env added to "
                    "ENCRYPTION_KEYS_PREVIOUS")  # fmt: skip
            settings = load_settings(kg_home=settings.kg_home)
            service = BackupService(settings)
            service.check_key(info)
        docker = DockerService(settings)
        compose = ComposeService(settings)
        safety = asyncio.run(service.create(reason=f"before restoring {Path(info.path).name}"))
        say(f"Backup of the current database: {safety.path}")
        say("Restoring into a side database while the platform keeps running ...")
        aside = asyncio.run(service.restore_aside(info, args.accept_unsigned))
        running = [
            s.service
            for s in docker.project_status().services
            if s.service in APP_SERVICES and s.state.value == "running"
        ]
        stopped_at = time.monotonic()
        try:
            if running:
                say(f"Stopping {', '.join(running)} for the swap ...")
                compose.stop(running)
            asyncio.run(service.swap_in(aside))
        except BaseException:
            asyncio.run(service.discard(aside))
            raise
        finally:
            if running:
                compose.run("up", "--detach", "--no-deps", *running)
        if running:
            wait_healthy(docker, running, 180)
        downtime = time.monotonic() - stopped_at if running else 0.0
    result = RestoreResult(
        restored_from=info.path,
        safety_backup=safety.path,
        schema_version=aside.schema_version,
        tables=aside.tables,
        graphs=aside.graphs,
        restarted=running,
        seconds=round(time.monotonic() - started, 2),
        downtime_seconds=round(downtime, 2),
    )
    rows = sum(aside.tables.values())
    emit(
        result,
        args.json,
        lambda: (
            f"Restored {info.path}: schema {aside.schema_version}, {len(aside.tables)} tables, "
            f"{rows} rows"
            + (f", {describe_graphs(aside.graphs)}" if aside.graphs else "")
            + f" ({result.seconds:.1f} s"
            + (f"; {', '.join(running)} down {downtime:.1f} s)" if running else ")")
            + (f"; {aside.reencrypted} stored secret(s) re-encrypted" if aside.reencrypted else "")
        ),
    )
    return ExitCode.OK
