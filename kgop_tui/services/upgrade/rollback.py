"""Undoing an upgrade: back to the previous images and .env, the database restored from the
backup when migrations ran; and recovering an upgrade whose process died."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from kgop_tui.errors import (
    OperationFailed,
)
from kgop_tui.models import (
    BackupInfo,
    RunState,
    StepState,
    UpgradeStatus,
    UpgradeStep,
)
from kgop_tui.releases import ROLES
from kgop_tui.services.upgrade.images import image_variable, pinned_images
from kgop_tui.services.upgrade.state import Recorder, UpgradeFiles, describe_error, hold_lock
from kgop_tui.services.upgrade.steps import UpgradeContext, UpgradeSteps
from kgop_tui.settings import Settings

ROLLBACK = ("rollback", "Roll back to the previous version")


@dataclass
class Undo:
    """What a rollback needs: where to go back to, and what to restore."""

    current: str
    target: str
    services: list[str]
    previous_images: dict[str, str]
    env_before: dict[str, str | None]
    backup: BackupInfo | None
    restore_database: bool
    swarm: bool = False
    rolling: bool = False
    scaled: dict[str, int] | None = None

    @classmethod
    def of(cls, ctx: UpgradeContext, status: UpgradeStatus) -> Undo:
        migrate = status.step("migrate").state
        return cls(
            current=ctx.current,
            target=ctx.release.version,
            services=ctx.services,
            previous_images=ctx.current_images,
            env_before=ctx.env_before,
            backup=ctx.backup,
            restore_database=ctx.migrations_ran or migrate is StepState.FAILED,
            swarm=ctx.swarm,
            rolling=ctx.rolling,
            scaled=ctx.scaled,
        )


async def rollback(
    steps: UpgradeSteps, rec: Recorder, undo: Undo, error: str, health_timeout: float
) -> None:
    from kgop_tui.services.docker.health import wait_healthy

    status = rec.status
    status.steps.append(UpgradeStep(key=ROLLBACK[0], title=ROLLBACK[1]))
    report = [f"The upgrade to {undo.target} failed: {error}"]
    try:
        with rec.step("rollback") as step:
            services = undo.services or steps.app_services()
            images = {s: undo.previous_images[s] for s in services}
            # Rolling: the previous api and web run on the new schema (the release says so),
            # so nothing stops and the database stays; the stack goes back replica by replica.
            if not undo.rolling:
                if undo.swarm:
                    swarm = steps.docker.swarm()
                    for service in services:
                        swarm.scale(service, 0)
                else:
                    steps.compose.stop(services, grace_seconds=10)
                if undo.restore_database:
                    if undo.backup is not None:
                        rec.line(f"   restoring the database from {undo.backup.path}")
                        await steps.backups.restore_database(undo.backup)
                        report.append(f"Database restored from {undo.backup.path}.")
                    else:
                        report.append("The database was NOT restored: no backup (--no-backup).")
                else:
                    report.append("The database was not changed.")
            if undo.env_before:
                from kgop_tui.services.files import update_env_file

                update_env_file(steps.settings.kg_home / ".env", undo.env_before)
            if undo.swarm:
                scaled = {} if undo.rolling else (undo.scaled or {s: 1 for s in services})
                steps.update_stack(services, images, scaled)
                step.detail = steps.docker.swarm().wait_updated(
                    images, health_timeout, rec.line, rolling_back=True
                )
            else:
                steps.start_services(services)
                step.detail = wait_healthy(steps.docker, services, health_timeout, images)
                rec.line("   " + steps.reload_front())
            if undo.rolling:
                report.append(
                    "The database keeps the new schema: the previous release runs on it "
                    "(a rolling release)."
                )
            report.append(f"Back on {undo.current}: {step.detail}.")
        for step in status.steps:
            if step.key in ("stop", "migrate", "start", "health", "verify") and step.state in (
                StepState.DONE,
                StepState.FAILED,
                StepState.RUNNING,
            ):
                step.state = StepState.ROLLED_BACK
        status.state = RunState.ROLLED_BACK
        runs = "stack" if undo.rolling else "platform"
        status.hint = f"see the log for the cause; the {runs} runs the previous version"
    except BaseException as exc:  # noqa: BLE001
        message = describe_error(exc)
        report.append(f"The rollback failed too: {message}")
        status.state = RunState.FAILED
        status.hint = (
            f"restore by hand: `kgop restore {undo.backup.path} --yes`, then `kgop start`"
            if undo.backup
            else "check `kgop status` and `kgop migrate status`"
        )
    status.report = report


def recover(settings: Settings, health_timeout: float = 180.0) -> UpgradeStatus:
    """Finish an interrupted upgrade by rolling it back (or closing it, if nothing changed)."""
    from kgop_tui.services.backups.backup import BackupService

    files = UpgradeFiles.of(settings)
    with hold_lock(files):
        try:
            status = UpgradeStatus.model_validate_json(files.status.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OperationFailed("No upgrade has run here", hint="nothing to recover") from None
        if status.state is not RunState.RUNNING:  # the lock is ours: RUNNING means interrupted
            raise OperationFailed(
                f"The last upgrade is {status.state.value}, not interrupted",
                hint="nothing to recover; `kgop upgrade --status` shows it",
            )
        with open(status.log_file, "a", encoding="utf-8") as log:
            rec = Recorder(files, status, log)
            rec.line(f"== recovering the interrupted upgrade (was process {status.pid})")
            status.pid = os.getpid()
            error = "the upgrade process stopped mid-way"
            status.error = error
            for step in status.steps:
                if step.state is StepState.RUNNING:
                    step.state, step.detail = StepState.FAILED, "interrupted"
            steps = UpgradeSteps(settings, log=rec.line)
            try:
                if not status.passed_point_of_no_return:
                    status.state = RunState.FAILED
                    status.report = [f"{error.capitalize()}, before changing anything."]
                else:
                    backup = (
                        BackupService(settings).load(Path(status.backup)) if status.backup else None
                    )
                    env_before = _env_of_backup(backup)
                    version = env_before.get("KG_VERSION") or status.from_version
                    previous = pinned_images(env_before, version, settings.compose_files()[0])
                    migrate = status.step("migrate").state
                    undo = Undo(
                        current=status.from_version,
                        target=status.to_version,
                        services=steps.app_services(),
                        previous_images=previous,
                        env_before=env_before,
                        backup=backup,
                        restore_database=migrate in (StepState.DONE, StepState.FAILED),
                    )
                    asyncio.run(rollback(steps, rec, undo, error, health_timeout))
            finally:
                rec.finish()
                steps.docker.close()
        return status


def _env_of_backup(backup: BackupInfo | None) -> dict[str, str | None]:
    """KG_VERSION and the image variables as the backup's manifest pinned them."""
    if backup is None or not backup.images:
        return {}
    keys = ["KG_VERSION", *(image_variable(role) for role in ROLES)]
    return {key: backup.images.get(key) for key in keys}


# ---- detaching ----------------------------------------------------------------------------
