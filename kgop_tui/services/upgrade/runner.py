"""The upgrade run: one async flow, preflight → plan → backup → pull, then past the point
of no return stop → migrate → start → health → verify; any failure after it rolls back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from kgop_tui.models import (
    POINT_OF_NO_RETURN,
    UPGRADE_STEPS,
    RunState,
    UpgradeStatus,
    UpgradeStep,
)
from kgop_tui.releases import load_manifest
from kgop_tui.services.upgrade.preflight import preflight
from kgop_tui.services.upgrade.rollback import Undo, rollback
from kgop_tui.services.upgrade.state import (
    Aborted,
    Recorder,
    UpgradeFiles,
    check_abort,
    describe_error,
    hold_lock,
    now,
)
from kgop_tui.services.upgrade.steps import UpgradeContext, UpgradeSteps
from kgop_tui.settings import Settings


def run_upgrade(
    settings: Settings,
    run_id: str,
    to: str | None,
    no_backup: bool = False,
    health_timeout: float = 180.0,
) -> UpgradeStatus:
    """The whole upgrade, recorded step by step; never raises for an upgrade failure."""
    files = UpgradeFiles.of(settings)
    with hold_lock(files):
        with contextlib.suppress(FileNotFoundError):
            files.abort.unlink()
        log_path = files.runs / f"{run_id}.log"
        with open(log_path, "a", encoding="utf-8") as log:
            os.chmod(log_path, 0o600)
            status = UpgradeStatus(
                id=run_id,
                from_version=settings.kg_version or "?",
                to_version=to or load_manifest().latest.version,
                state=RunState.RUNNING,
                pid=os.getpid(),
                steps=[UpgradeStep(key=k, title=t) for k, t in UPGRADE_STEPS],
                point_of_no_return=POINT_OF_NO_RETURN,
                log_file=str(log_path),
                started_at=now(),
            )
            recorder = Recorder(files, status, log)
            recorder.save()
            asyncio.run(_run(settings, recorder, to, no_backup, health_timeout))
            return status


async def _run(
    settings: Settings, rec: Recorder, to: str | None, no_backup: bool, health_timeout: float
) -> None:
    """The whole flow on one event loop. The runner is a process of its own: the engine's
    blocking calls may hold the loop, there is nothing else on it."""
    status = rec.status
    steps = UpgradeSteps(settings, log=rec.line)
    ctx: UpgradeContext | None = None
    down_since: float | None = None
    try:
        with rec.step("preflight") as step:
            ctx = await preflight(steps, to, no_backup=no_backup)
            step.detail = f"{ctx.current} → {ctx.release.version}: path and images ok"
        with rec.step("plan") as step:
            for line in ctx.plan.lines():
                rec.line("   " + line)
            step.detail = (
                f"{len(ctx.plan.pending_migrations)} migration(s), "
                f"{sum(1 for c in ctx.plan.images if not c.present)} image(s) to pull"
            )
        if ctx.plan.up_to_date:
            for key, _ in UPGRADE_STEPS[2:]:
                rec.skip(key, f"already at {ctx.current}")
            status.state = RunState.SUCCEEDED
            status.report = [f"The platform is already at {ctx.current}."]
            return
        check_abort(rec.files)
        if no_backup:
            rec.skip("backup", "--no-backup")
        else:
            with rec.step("backup") as step:
                ctx.backup = await steps.backups.create(
                    reason=f"before upgrade {ctx.current} → {ctx.release.version}"
                )
                status.backup = ctx.backup.path
                step.detail = (
                    f"{ctx.backup.path} ({ctx.backup.dump_bytes / 1024:.0f} KiB, "
                    f"{sum(ctx.backup.tables.values())} rows, {ctx.backup.seconds:.1f} s)"
                )
        check_abort(rec.files)
        with rec.step("pull") as step:
            pulled = 0
            for change in ctx.plan.images:
                check_abort(rec.files)
                if steps.images.present(change.target):
                    steps.images.verify_digest(change.target)
                else:
                    steps.images.pull(change.target)
                    pulled += 1
            step.detail = f"{pulled} pulled, {len(ctx.plan.images) - pulled} already here"
        check_abort(rec.files)
        status.passed_point_of_no_return = True
        rec.line("-- point of no return: from here a failure rolls back automatically")
        with rec.step("stop") as step:
            down_since = time.monotonic()
            step.detail = steps.stop_app(ctx)
        with rec.step("migrate") as step:
            step.detail = await steps.migrate(ctx)
        with rec.step("start") as step:
            steps.pin(ctx, ctx.target_images, ctx.release.version)
            steps.start_app(ctx)
            step.detail = (
                "KG_VERSION="
                + ctx.release.version
                + "; "
                + ", ".join(ctx.target_images[s] for s in ctx.services)
            )
        with rec.step("health") as step:
            step.detail = steps.wait_app(ctx, health_timeout)
            status.api_downtime_seconds = (
                0.0 if ctx.rolling else round(time.monotonic() - down_since, 2)
            )
            rec.line("   " + steps.reload_front())
        with rec.step("verify") as step:
            images = steps.verify(ctx)
            schema = await steps.verify_schema(ctx)
            steps.install_migrations(ctx)
            step.detail = f"{images}; schema {schema}"
        status.state = RunState.SUCCEEDED
        took = (now() - status.started_at).total_seconds()
        served = (
            "api and web served throughout (a rolling update of the Swarm stack)"
            if ctx.rolling
            else f"api and web were down {status.api_downtime_seconds:.1f} s"
        )
        status.report = [
            f"Upgraded {ctx.current} → {ctx.release.version} in {took:.1f} s; {served}.",
            f"Backup: {status.backup}" if status.backup else "No backup was taken (--no-backup).",
            (
                "The operator service moves to the new image when `./operator.sh` next runs "
                f"(`docker service update --image {ctx.target_images['operator']} "
                f"{settings.compose_project_name}_operator` does it by hand)."
                if ctx.swarm
                else "The operator container moves to the new image when `./operator.sh` next runs."
            ),
        ]
    except BaseException as exc:  # noqa: BLE001 - every failure is recorded, then handled
        error = describe_error(exc)
        status.error = error[:500]
        rec.line(f"!! {error}")
        if isinstance(exc, Aborted):
            status.state = RunState.ABORTED
            status.report = ["Aborted before anything changed; the platform runs as before."]
        elif not status.passed_point_of_no_return or ctx is None:
            status.state = RunState.FAILED
            status.hint = getattr(exc, "hint", None) or "nothing was changed"
            status.report = ["The upgrade stopped before changing anything.", error]
        else:
            await rollback(steps, rec, Undo.of(ctx, status), error, health_timeout)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
    finally:
        rec.finish()
        steps.docker.close()
