"""Upgrade walkthrough: plan, then Enter to go; each step's state and the live log.

Esc aborts while nothing has been stopped; past the point of no return the upgrade
finishes or rolls back by itself. The upgrade runs in its own process: leaving the screen,
quitting, or losing the SSH session does not stop it, and coming back reattaches.
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import var
from textual.widgets import Header, RichLog, Static
from textual.worker import Worker

from kgop_tui.errors import KgopError
from kgop_tui.messages import UpgradeProgress
from kgop_tui.models import (
    RunState,
    StoredPlan,
    UpgradePlan,
    UpgradeStatus,
)
from kgop_tui.screens.base import KgopScreen
from kgop_tui.text import clean
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import ConfirmScreen
from kgop_tui.widgets.footer import SteadyFooter
from kgop_tui.widgets.upgrade_steps import UpgradeSteps

RUN_LOOK = {
    RunState.RUNNING: "yellow",
    RunState.SUCCEEDED: "green",
    RunState.ROLLED_BACK: "magenta",
    RunState.FAILED: "red",
    RunState.ABORTED: "yellow",
    RunState.INTERRUPTED: "red",
}


class UpgradeScreen(KgopScreen):
    """The keyboard-driven upgrade."""

    SCREEN_KEY = "5"
    SCREEN_NAME = "Upgrade"
    # A preflight pulls images and writes under KG_HOME/upgrade: read-only sessions show
    # the last plan instead (check, target and re-check are changes too).
    CHANGES = frozenset({"proceed", "abort", "recover", "refresh", "next_target"})

    BINDINGS = [
        Binding("enter", "proceed", "Upgrade", tooltip="Start the planned upgrade", priority=True),
        Binding(
            "escape", "abort", "Abort", tooltip="Abort the upgrade (before the point of no return)"
        ),
        Binding("t", "next_target", "Target", tooltip="Choose the release to upgrade to"),
        Binding("r", "refresh", "Re-check", tooltip="Run the upgrade preflight again"),
        Binding("R", "recover", "Recover", tooltip="Roll back an interrupted upgrade"),
    ]

    summary: var[str | Text] = var("Checking…", init=False)
    """The line above the steps: the plan, the run's state, or what went wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.plan: UpgradePlan | None = None
        self.target: str | None = None
        self.run: UpgradeStatus | None = None
        self.log_offset = 0
        self.starting = False
        self._reading = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="upgrade-banner")
        yield Static("Checking…", id="upgrade-summary")
        with Vertical(id="upgrade-body"):
            yield UpgradeSteps(id="upgrade-steps", cursor_type="none")
            yield Static("", id="upgrade-plan")
            yield RichLog(id="upgrade-log", max_lines=5000, wrap=False, markup=False)
        yield Static("", id="upgrade-report")
        yield SteadyFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(0.25, self.poll)
        self._reading = True
        self._read_progress(0, first=True)

    def watch_summary(self, summary: str | Text) -> None:
        self.query_one("#upgrade-summary", Static).update(summary)

    # ---- loading: files are read in a thread, the screen gets UpgradeProgress ------------

    @work(thread=True, group="upgrade-read", name="read_upgrade", exit_on_error=False)
    def _read_progress(self, offset: int, first: bool = False) -> None:
        """The status file and the log lines after ``offset`` (never on the UI loop)."""
        upgrades = self.services.upgrades
        try:
            status = upgrades.status()
            lines, new_offset = (
                ([], offset) if status is None else upgrades.read_log(status, offset)
            )
        except KgopError as error:
            self.post_message(UpgradeProgress(None, [], offset, offset, error, first))
            return
        self.post_message(UpgradeProgress(status, lines, offset, new_offset, None, first))

    def poll(self) -> None:
        if self._reading or self.run is None or self.run.state.final:
            return
        self._reading = True
        self._read_progress(self.log_offset)

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.name == "read_upgrade":  # the next poll reads again
            self._reading = False
            if self.run is None:
                self.summary = "The upgrade's status could not be read (see the error)."

    @on(UpgradeProgress)
    def _progress(self, message: UpgradeProgress) -> None:
        self._reading = False
        status = message.status
        if message.first:  # show the running (or last) upgrade; plan one when none runs
            if message.error is not None:
                self.banner.show_error(message.error, retrying=False)
            if status is not None:
                self.follow(status, message.lines, message.offset)
            if status is None or status.state.final:
                self.plan_again()
            return
        if status is None or message.error is not None:
            return
        if self.run is not None and status.id != self.run.id:
            self.follow(status)  # another run began meanwhile: read its log from the start
            return
        if message.from_offset != self.log_offset:
            return  # read before a reset: the next poll reads from the right place
        self.log_offset = message.offset
        self.update_run(status, message.lines)

    def action_refresh(self) -> None:
        if self.running:
            self.notify("An upgrade is running; its progress is live here.")
            return
        self.check()

    def action_next_target(self) -> None:
        if self.running:
            return
        versions = self.services.upgrades.releases()
        if not versions:
            self.notify("No newer release is known.")
            return
        index = versions.index(self.target) + 1 if self.target in versions else 0
        self.target = versions[index % len(versions)]
        self.check()

    @work(exclusive=True, group="upgrade-plan", name="plan_upgrade", exit_on_error=False)
    async def check(self) -> None:
        self.plan = None
        self.summary = (
            f"{self.last_run()}Checking the upgrade to {self.target or 'the newest release'}…"
        )
        target = self.target
        plan = await self.guarded(asyncio.to_thread(self.services.upgrades.plan, target))
        if plan is None:
            self.summary = (
                "The preflight found a problem (above); r checks again, t picks another target."
            )
            return
        self.plan, self.target = plan, plan.to_version
        if self.running:
            return
        if plan.up_to_date:
            summary = f"The platform is at {plan.from_version}, the newest release known here."
        else:
            summary = (
                f"Upgrade {plan.from_version} → {plan.to_version}: press Enter to start, "
                "t for another target."
            )
        self.summary = self.last_run() + summary
        self.show_plan(plan)
        if self.run is None:
            self.query_one(UpgradeSteps).show(None)

    def plan_again(self) -> None:
        """A preflight, or in a read-only session the last stored plan (a preflight pulls
        images and writes under KG_HOME/upgrade)."""
        if self.kgop.read_only:
            self.show_last_plan()
        else:
            self.check()

    @work(exclusive=True, group="upgrade-plan", name="read_last_plan", exit_on_error=False)
    async def show_last_plan(self) -> None:
        """Read-only: the plan the last preflight stored, never a preflight of its own."""
        read: list[StoredPlan | None] = []
        upgrades = self.services.upgrades
        await self.guarded(asyncio.to_thread(lambda: read.append(upgrades.last_plan())))
        if not read:
            return  # the banner says why
        if read[0] is None:
            self.summary = (
                f"{self.last_run()}No upgrade has been planned here yet. This session is "
                "read-only: it runs no preflight (`kgop upgrade --dry-run` makes a plan)."
            )
            return
        plan, made = read[0].plan, read[0].made_at.astimezone(UTC)
        self.summary = (
            f"{self.last_run()}Last plan, made {made:%Y-%m-%d %H:%M} UTC: "
            f"{plan.from_version} → {plan.to_version} (read-only: not checked again)."
        )
        self.show_plan(plan)
        if self.run is None:
            self.query_one(UpgradeSteps).show(None)

    def last_run(self) -> str:
        if self.run is None or not self.run.state.final:
            return ""
        return (
            f"Last upgrade {self.run.from_version} → {self.run.to_version}: "
            f"{self.run.state.value}. "
        )

    def show_plan(self, plan: UpgradePlan) -> None:
        # The summary line above already names the versions.
        self.query_one("#upgrade-plan", Static).update("\n".join(plan.lines()[1:]))

    # ---- steps and log ----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.starting or (self.run is not None and not self.run.state.final)

    def follow(
        self, status: UpgradeStatus, lines: list[str] | None = None, offset: int = 0
    ) -> None:
        """Show ``status``; its log from the start (``lines`` up to ``offset`` when read)."""
        if self.run is None or self.run.id != status.id:
            self.log_offset = 0
            self.query_one("#upgrade-log", RichLog).clear()
        if lines is None:  # the log is read by the next poll
            lines, offset = [], self.log_offset
        self.log_offset = offset
        self.update_run(status, lines)
        if lines == [] and not status.state.final:
            self.poll()

    def update_run(self, status: UpgradeStatus, lines: list[str]) -> None:
        was_final = self.run is not None and self.run.state.final and self.run.id == status.id
        self.run = status
        log = self.query_one("#upgrade-log", RichLog)
        for line in lines:  # steps quote compose and the engine: no escape sequences
            log.write(clean(line))
        self.query_one(UpgradeSteps).show(status)
        colour = RUN_LOOK[status.state]
        summary = Text.assemble(
            f"Upgrade {status.from_version} → {status.to_version}: ",
            (status.state.value, f"bold {colour}"),
        )
        if status.state is RunState.RUNNING:
            summary.append(
                "  (past the point of no return)"
                if status.passed_point_of_no_return
                else "  (Esc aborts)"
            )
        self.summary = summary
        report = self.query_one("#upgrade-report", Static)
        lines = list(status.report)
        if status.hint and status.state is not RunState.SUCCEEDED:
            lines.append(f"Hint: {status.hint}")
        report.update("\n".join(lines))
        report.set_class(status.state is RunState.SUCCEEDED, "-ok")
        report.set_class(status.state.final and status.state is not RunState.SUCCEEDED, "-error")
        if status.state.final and not was_final:
            self.plan, self.target = None, None  # the installed version may have changed
            self.plan_again()
            self.notify(
                f"Upgrade {status.state.value}",
                severity="information" if status.state is RunState.SUCCEEDED else "error",
            )

    # ---- actions ----------------------------------------------------------------------

    def action_proceed(self) -> None:
        if self.running:
            self.notify("The upgrade is already running.")
            return
        if self.plan is None:
            self.notify("No upgrade is planned yet: the preflight has to pass first (r).")
            return
        if self.plan.up_to_date:
            self.notify(f"Already at {self.plan.to_version}.")
            return
        self.start_upgrade(self.plan)

    @work(exclusive=True, group="upgrade-start", name="start_upgrade", exit_on_error=False)
    async def start_upgrade(self, plan: UpgradePlan) -> None:
        # Asked here, as the CLI asks without --yes: Enter and the palette both come this way.
        target = plan.to_version
        question = (
            f"Upgrade {plan.from_version} → {target}? A backup is taken first; api and web "
            f"stop for {len(plan.pending_migrations)} migration(s) and start on the new images."
        )
        if not await self.app.push_screen_wait(ConfirmScreen(question, danger=True)):
            self.notify("Upgrade not started.")
            return
        self.starting = True
        self.summary = f"Starting the upgrade to {target}…"
        try:
            status = await asyncio.to_thread(self.services.upgrades.start, target)
        except KgopError as error:
            self.report(error)
            self.summary = f"Not started: {error.message}"
            return
        finally:
            self.starting = False
        self.follow(status)

    def action_abort(self) -> None:
        if not self.running or self.run is None:
            return
        if self.run.passed_point_of_no_return:
            self.notify(
                "Past the point of no return: the upgrade completes or rolls back by itself.",
                severity="warning",
            )
            return
        try:
            self.services.upgrades.abort()
        except KgopError as error:
            self.report(error)
            return
        self.notify("Abort requested: the upgrade stops before anything changes.")

    @work(exclusive=True, group="upgrade-start", name="recover_upgrade", exit_on_error=False)
    async def action_recover(self) -> None:
        if self.run is None or self.run.state is not RunState.INTERRUPTED:
            self.notify("Only an interrupted upgrade needs recovering.")
            return
        question = (
            f"Roll back the interrupted upgrade to {self.run.from_version}? api and web stop; "
            "the database is restored from the upgrade's backup."
        )
        if not await self.app.push_screen_wait(ConfirmScreen(question, danger=True)):
            return
        self.starting = True
        self.summary = "Rolling back the interrupted upgrade…"
        try:
            status = await asyncio.to_thread(self.services.upgrades.recover)
        except KgopError as error:
            self.report(error)
            return
        finally:
            self.starting = False
        self.run = None
        self.follow(status)
