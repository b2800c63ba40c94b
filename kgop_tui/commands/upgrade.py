"""``kgop upgrade``: start one, follow it, show, abort or recover it; the step renderer."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kgop_tui.errors import ExitCode, LockHeld, OperationFailed
from kgop_tui.kinds import RunState
from kgop_tui.render import render_upgrade_status
from kgop_tui.settings import Settings
from kgop_tui.terminal import confirm

if TYPE_CHECKING:
    from kgop_tui.models import UpgradeStatus
    from kgop_tui.services.upgrade import UpgradeFiles


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


# ---- upgrade ------------------------------------------------------------------------------


def exit_code(status: UpgradeStatus) -> int:
    return ExitCode.OK if status.state is RunState.SUCCEEDED else ExitCode.FAILED


def follow(settings: Settings) -> int:
    """Print the run's log as it grows; return its exit code when it ends."""
    from kgop_tui.services.upgrade import UpgradeFiles, read_log, read_status
    from kgop_tui.text import clean

    files = UpgradeFiles.of(settings)
    offset = 0
    try:
        while True:
            status = read_status(files)
            if status is None:
                raise OperationFailed("No upgrade has run here", hint="start one: `kgop upgrade`")
            lines, offset = read_log(files, status, offset)
            for line in lines:  # steps quote compose and the engine: no escape sequences
                print(clean(line), flush=True)
            if status.state.final:
                lines, offset = read_log(files, status, offset)
                for line in lines:
                    print(clean(line), flush=True)
                print()
                print(render_upgrade_status(status), flush=True)
                return exit_code(status)
            time.sleep(0.2)
    except KeyboardInterrupt:
        print(
            "\nkgop: stopped following; the upgrade goes on. Hint: `kgop upgrade --status`",
            file=sys.stderr,
        )
        return 130


def _run(args: argparse.Namespace, settings: Settings, files: UpgradeFiles) -> int:
    """The detached runner itself (``--run ID``, started by :func:`_start`)."""
    from kgop_tui.services.upgrade import run_upgrade

    status = run_upgrade(
        settings, args.run, args.to, args.no_backup, health_timeout=args.health_timeout
    )
    return exit_code(status)


def _idle(args: argparse.Namespace, settings: Settings, files: UpgradeFiles) -> int:
    from kgop_tui.services.upgrade import lock_is_free

    return ExitCode.OK if lock_is_free(files) else ExitCode.FAILED


def _status(args: argparse.Namespace, settings: Settings, files: UpgradeFiles) -> int:
    from kgop_tui.services.upgrade import read_status

    current = read_status(files)
    if current is None:
        print("{}" if args.json else "No upgrade has run here.")
        return ExitCode.OK
    print(current.model_dump_json(indent=2) if args.json else render_upgrade_status(current))
    return ExitCode.OK


def _attach(args: argparse.Namespace, settings: Settings, files: UpgradeFiles) -> int:
    return follow(settings)


def _recover(args: argparse.Namespace, settings: Settings, files: UpgradeFiles) -> int:
    from kgop_tui.services.upgrade import read_status, recover

    current = read_status(files)
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
            "Recovering stops api and web and restores the database; refused without confirmation",
        )
    recovered = recover(settings, health_timeout=args.health_timeout)
    print(render_upgrade_status(recovered))
    return ExitCode.OK if recovered.state is not RunState.FAILED else ExitCode.FAILED


def _abort(args: argparse.Namespace, settings: Settings, files: UpgradeFiles) -> int:
    from kgop_tui.services.upgrade import request_abort

    request_abort(files)
    print("Abort requested; the upgrade stops before anything is changed.", flush=True)
    return follow(settings)


Mode = Callable[[argparse.Namespace, Settings, "UpgradeFiles"], int]
MODES: tuple[tuple[str, Mode], ...] = (
    ("run", _run),
    ("idle", _idle),
    ("status", _status),
    ("attach", _attach),
    ("recover", _recover),
    ("abort", _abort),
)
"""``kgop upgrade --FLAG``: the first flag given picks the mode; none starts an upgrade."""


def cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from kgop_tui.services.upgrade import UpgradeFiles

    files = UpgradeFiles.of(settings)
    mode = next((handler for flag, handler in MODES if getattr(args, flag)), _start)
    return mode(args, settings, files)


def _start(args: argparse.Namespace, settings: Settings, files: UpgradeFiles) -> int:
    """Preflight and plan here; then (confirmed) the detached runner, followed."""
    import asyncio

    from kgop_tui.services import upgrade as svc

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
    rolling = ctx.rolling
    confirm(
        f"Upgrade {plan.from_version} → {plan.to_version}? "
        + (
            "api and web keep serving (rolling)."
            if rolling
            else "api and web stop for the migrations."
        ),
        args.yes,
        "The upgrade changes the running platform; refused without confirmation"
        if rolling
        else "The upgrade stops api and web; refused without confirmation",
    )
    run_id, process = svc.spawn_runner(
        settings, plan.to_version, args.no_backup, args.health_timeout
    )
    svc.wait_started(files, run_id, process)
    print(f"Upgrade {run_id} runs in the background; Ctrl-C stops following, not the upgrade.")
    return follow(settings)
