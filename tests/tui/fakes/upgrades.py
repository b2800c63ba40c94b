"""The upgrade port: a plan, a run that goes step by step, rollback and recovery."""

from __future__ import annotations

from datetime import timedelta

from kgop_tui.errors import (
    ConfigInvalid,
    OperationFailed,
    RefusedForSafety,
    UsageError,
)
from kgop_tui.models import (
    POINT_OF_NO_RETURN,
    UPGRADE_STEPS,
    ImageChange,
    PlannedMigration,
    RunState,
    StepState,
    StoredPlan,
    UpgradePlan,
    UpgradeStatus,
    UpgradeStep,
)
from tests.tui.fakes.clock import NOW


class FakeUpgrades:
    """An upgrade that advances one step each time its status is read.

    ``fail_at`` makes that step fail; from the point of no return on, the run then rolls
    back, as the real runner does.
    """

    def __init__(
        self, installed: str | None = "0.5.0", newer: tuple[str, ...] = ("0.6.0",)
    ) -> None:
        self.current = installed
        self.newer = list(newer)
        self.fail_at: str | None = None
        self.run: UpgradeStatus | None = None
        self.log: list[str] = []
        self.abort_requested = False
        self.started: list[str] = []
        self.preflights = 0
        self.stored: StoredPlan | None = None

    def installed(self) -> str | None:
        return self.current

    def releases(self) -> list[str]:
        return list(self.newer)

    def plan(self, to: str | None) -> UpgradePlan:
        self.preflights += 1
        if self.current is None:
            raise ConfigInvalid("KG_VERSION is not set in .env", hint="install.sh writes it")
        target = to or (self.newer[-1] if self.newer else self.current)
        if target != self.current and target not in self.newer:
            raise UsageError(f"Version {target} is not a release", hint="see `kgop releases`")
        images = [
            ImageChange(
                service=role,
                current=f"kg-{role}:{self.current}",
                target=f"kg-{role}:{target}",
                present=True,
            )
            for role in ("api", "web", "operator")
        ]
        pending = (
            []
            if target == self.current
            else [
                PlannedMigration(
                    version=9,
                    name="ingestion_jobs",
                    filename="0009_ingestion_jobs.sql",
                    transactional=True,
                    preview="CREATE TABLE kg_api.ingestion_jobs (...);",
                )
            ]
        )
        plan = UpgradePlan(
            from_version=self.current,
            to_version=target,
            images=images,
            pending_migrations=pending,
            schema_version=8,
            target_schema=9 if pending else 8,
            backup_estimate_bytes=8 << 20,
            free_bytes=40 << 30,
        )
        self.stored = StoredPlan(plan=plan, made_at=NOW)  # as the real preflight keeps it
        return plan

    def last_plan(self) -> StoredPlan | None:
        return self.stored

    def start(self, to: str) -> UpgradeStatus:
        if self.run is not None and not self.run.state.final:
            raise RefusedForSafety("Another upgrade is running", hint="`kgop upgrade --status`")
        self.started.append(to)
        self.abort_requested = False
        self.log = [f"12:00:00 upgrade {self.current} → {to}"]
        self.run = UpgradeStatus(
            id=f"run-{len(self.started)}",
            from_version=self.current or "?",
            to_version=to,
            state=RunState.RUNNING,
            pid=4242,
            steps=[UpgradeStep(key=k, title=t) for k, t in UPGRADE_STEPS],
            point_of_no_return=POINT_OF_NO_RETURN,
            log_file="/srv/kg/upgrade/runs/run.log",
            started_at=NOW,
        )
        return self.run.model_copy(deep=True)

    def _advance(self, run: UpgradeStatus) -> None:
        running = run.current
        if running is not None:
            if running.key == self.fail_at:
                running.state, running.detail = StepState.FAILED, "api is not healthy after 180s"
                self.log.append(f"12:00:01    failed: {running.detail}")
                self._finish_failed(run, running.key)
                return
            running.state, running.detail = StepState.DONE, f"{running.key} ok"
            self.log.append(f"12:00:01    done: {running.key} ok")
        pending = [s for s in run.steps if s.state is StepState.PENDING]
        if not pending:
            run.state, run.finished_at = RunState.SUCCEEDED, NOW + timedelta(seconds=30)
            run.report = [f"Upgraded {run.from_version} → {run.to_version}."]
            self.current = run.to_version
            self.newer = [v for v in self.newer if v != run.to_version]
            return
        step = pending[0]
        if step.key == POINT_OF_NO_RETURN:
            if self.abort_requested:
                for s in pending:
                    s.state = StepState.SKIPPED
                run.state = RunState.ABORTED
                run.report = ["Aborted before anything changed; the platform runs as before."]
                return
            run.passed_point_of_no_return = True
            self.log.append("12:00:01 -- point of no return")
        step.state = StepState.RUNNING
        self.log.append(f"12:00:01 == {step.title}")

    def _finish_failed(self, run: UpgradeStatus, key: str) -> None:
        for s in run.steps:
            if s.state is StepState.PENDING:
                s.state = StepState.SKIPPED
        if not run.passed_point_of_no_return:
            run.state = RunState.FAILED
            run.report = ["The upgrade stopped before changing anything."]
            return
        for s in run.steps:
            if s.key in ("stop", "migrate", "start", "health", "verify") and s.state in (
                StepState.DONE,
                StepState.FAILED,
            ):
                s.state = StepState.ROLLED_BACK
        run.steps.append(
            UpgradeStep(key="rollback", title="Roll back", state=StepState.DONE, detail="ok")
        )
        run.state = RunState.ROLLED_BACK
        run.report = [
            f"The upgrade to {run.to_version} failed: {key}",
            "Database restored from /srv/kg/backups/20261126T120000Z-0.5.0.",
        ]

    def status(self) -> UpgradeStatus | None:
        if self.run is None:
            return None
        if not self.run.state.final:
            self._advance(self.run)
        return self.run.model_copy(deep=True)

    def read_log(self, status: UpgradeStatus, offset: int) -> tuple[list[str], int]:
        return self.log[offset:], len(self.log)

    def interrupt(self) -> None:
        """The runner dies past the point of no return (as read_status then reports it)."""
        assert self.run is not None
        self.run.passed_point_of_no_return = True
        self.run.state = RunState.INTERRUPTED
        self.run.hint = f"`kgop upgrade --recover` rolls back to {self.run.from_version}"

    def recover(self) -> UpgradeStatus:
        if self.run is None:
            raise OperationFailed("No upgrade has run here", hint="nothing to recover")
        if self.run.state is not RunState.INTERRUPTED:
            raise OperationFailed(
                f"The last upgrade is {self.run.state.value}, not interrupted",
                hint="nothing to recover; `kgop upgrade --status` shows it",
            )
        self._finish_failed(self.run, "the upgrade process stopped mid-way")
        self.log.append("12:00:05 == rolled back")
        return self.run.model_copy(deep=True)

    def abort(self) -> None:
        if self.run is None or self.run.state.final:
            raise OperationFailed(
                "No upgrade is running", hint="`kgop upgrade --status` shows the last one"
            )
        if self.run.passed_point_of_no_return:
            raise RefusedForSafety(
                "The upgrade has passed the point of no return",
                hint="follow it with `kgop upgrade --status`",
            )
        self.abort_requested = True
