"""Migrations: applied, pending and drifted files; SQL preview; dry run; apply."""

from __future__ import annotations

from typing import Any, NamedTuple

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import var
from textual.widgets import DataTable, Header, Static
from textual.worker import Worker

from kgop_tui.errors import KgopError
from kgop_tui.models import (
    MigrationEntry,
    MigrationFile,
    MigrationRun,
    MigrationState,
    MigrationStatus,
    PlannedMigration,
)
from kgop_tui.screens.base import KgopScreen
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import ConfirmScreen
from kgop_tui.widgets.footer import SteadyFooter

STATE_LOOK = {
    "applied": ("✔ applied", "green"),
    "adopted": ("✔ adopted", "green"),
    "baseline": ("≡ baseline", "dim"),
    "pending": ("◌ pending", "yellow"),
    "drifted": ("✖ drifted", "red"),
    "missing": ("? missing file", "red"),
}


class Outcome(NamedTuple):
    """The result line: its text (Rich markup) and its class (-ok, -error or none)."""

    text: str = ""
    look: str = ""


class MigrationsScreen(KgopScreen):
    """Database migrations, as `kgop migrate` sees them."""

    SCREEN_KEY = "3"
    SCREEN_NAME = "Migrations"
    # A dry run takes the migration lock and the files' locks, then rolls back.
    CHANGES = frozenset({"apply", "apply_warm", "dry_run"})

    BINDINGS = [
        Binding("d", "dry_run", "Dry run", tooltip="Dry-run the pending migrations"),
        Binding("a", "apply", "Apply", tooltip="Apply the pending migrations"),
        Binding(
            "w",
            "apply_warm",
            "Apply warm",
            tooltip="Apply the warm migrations (they need the running application)",
        ),
        Binding("r", "refresh", "Refresh", tooltip="Reload the migrations"),
    ]

    status: var[MigrationStatus | None] = var(None, init=False)
    """The migrations as last read; the table and the summary are drawn from it."""
    plan: var[dict[int, PlannedMigration]] = var(dict, init=False)
    """The pending files by version, with their SQL previews."""
    summary: var[str] = var("Loading…", init=False)
    outcome: var[Outcome] = var(Outcome(), init=False)
    """What the last run (or the one running) did."""
    busy: var[bool] = var(False)
    """A run is under way: reloads wait."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="migrations-banner")
        yield Static("Loading…", id="migration-summary")
        with Vertical(id="migrations-body"):
            table: DataTable[str | Text] = DataTable(id="migrations", cursor_type="row")
            yield table
            yield Static("", id="sql-preview")
        yield Static("", id="migration-result")
        yield SteadyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#migrations", DataTable)
        for column in ("Version", "Name", "State", "Folder", "Runs", "Applied at", "Took"):
            table.add_column(column, key=column.lower())
        self.load()
        self.keep_retrying(self.load)

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.name == "run_migrations":
            self.busy = False
            text = "✖ The run stopped on an error; r shows where the migrations stand."
            self.outcome = Outcome(text, "-error")
        elif worker.name == "load_migrations" and self.status is None:
            self.summary = "The migrations could not be read; r tries again."

    def ready_to_reload(self) -> bool:
        return not self.busy

    def action_refresh(self) -> None:
        self.load()

    @work(exclusive=True, group="migrations-load", name="load_migrations", exit_on_error=False)
    async def load(self) -> None:
        loaded = await self.guarded(self._fetch())
        if loaded is not None:
            self.show(*loaded)

    async def _fetch(self) -> tuple[MigrationStatus, list[PlannedMigration]]:
        return await self.services.migrations.status(), await self.services.migrations.plan()

    def show(self, status: MigrationStatus, plan: list[PlannedMigration]) -> None:
        self.plan = {p.version: p for p in plan}
        self.status = status

    # ---- state → widgets ----------------------------------------------------------------

    def watch_status(self, status: MigrationStatus | None) -> None:
        if status is None:
            return
        table = self.query_one("#migrations", DataTable)
        row = table.cursor_row
        table.clear()
        for entry in status.entries:
            label, colour = STATE_LOOK[entry.label]
            table.add_row(
                f"{entry.version:04d}",
                entry.name,
                Text(label, style=colour),
                entry.source.value if entry.source else "–",
                entry.runs or "–",
                f"{entry.applied_at:%Y-%m-%d %H:%M}" if entry.applied_at else "–",
                f"{entry.duration_ms} ms" if entry.duration_ms is not None else "–",
                key=str(entry.version),
            )
        if status.entries:
            table.move_cursor(row=min(max(row, 0), len(status.entries) - 1))
        current = status.current_version
        self.summary = (
            f"Database at version {current if current is not None else '–'} · {status.summary()}"
        )
        self._preview()

    def watch_plan(self) -> None:
        self._preview()

    def watch_summary(self, summary: str) -> None:
        self.query_one("#migration-summary", Static).update(summary)

    def watch_outcome(self, outcome: Outcome) -> None:
        result = self.query_one("#migration-result", Static)
        result.set_classes(outcome.look)
        result.update(outcome.text)

    def selected(self) -> MigrationEntry | None:
        if self.status is None or not self.status.entries:
            return None
        row = self.query_one("#migrations", DataTable).cursor_row
        return self.status.entries[row] if 0 <= row < len(self.status.entries) else None

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._preview()

    def _preview(self) -> None:
        entry = self.selected()
        preview = self.query_one("#sql-preview", Static)
        if entry is None:
            preview.update("")
            return
        if entry.version in self.plan:
            planned = self.plan[entry.version]
            mode = "" if planned.transactional else "\n[yellow]runs outside a transaction[/]"
            if planned.self_managed:
                mode = "\n[cyan]its own BEGIN/COMMIT: runs whole, as psql would[/]"
            preview.update(f"[b]{planned.filename}[/b]{mode}\n\n{escape(planned.preview)}")
        elif entry.state is MigrationState.BASELINE:
            preview.update(
                f"[b]{escape(entry.name)}[/b]\nrecorded by the checkpoint baseline at initdb;"
                "\nits file was consolidated into the baseline"
            )
        elif entry.state is MigrationState.DRIFTED:
            preview.update(
                f"[b]{entry.filename}[/b]\n[red]changed since it was applied[/red]\n"
                f"recorded {entry.checksum and entry.checksum[:12]}, "
                f"file {entry.file_checksum and entry.file_checksum[:12]}\n"
                f"restore the file, or accept with `kgop migrate accept {entry.version}`"
            )
        else:
            by = entry.applied_by or ("the platform's earlier runner" if entry.adopted else "–")
            preview.update(
                f"[b]{entry.filename or entry.name}[/b]\napplied by {escape(by)}"
                f"\nkgop {entry.kgop_version or '–'}"
            )

    # ---- running -------------------------------------------------------------------------

    def action_dry_run(self) -> None:
        self.run_migrations(dry_run=True)

    def action_apply(self) -> None:
        self.confirm_apply(warm=False)

    def action_apply_warm(self) -> None:
        self.confirm_apply(warm=True)

    @work(exclusive=True, group="migrations-run", name="confirm_apply", exit_on_error=False)
    async def confirm_apply(self, warm: bool) -> None:
        try:
            pending = len(await self.services.migrations.plan(warm=warm))
            fresh = not warm and (await self.services.migrations.status()).baseline_pending
        except KgopError as error:
            self.report(error)
            return
        kind = "warm " if warm else ""
        if not pending and not fresh:
            self.notify(f"Nothing to apply: no pending {kind}migrations.")
            return
        question = f"Apply {pending} pending {kind}migration(s)?"
        if fresh:  # a database without the platform's schemas: the baseline comes first
            question = "Apply the baseline 00_baseline.sql" + (
                f" and {pending} pending migration(s)?" if pending else "?"
            )
        if warm:
            question += " They need the running application (api healthy)."
        if await self.app.push_screen_wait(ConfirmScreen(question)):
            self.run_migrations(dry_run=False, warm=warm)

    def _progress(self, event: str, file: MigrationFile, ms: int | None) -> None:
        name = escape(file.path or file.filename)
        text = f"Applying {name} …" if event == "start" else f"Applied {name} ({ms} ms)"
        self.outcome = Outcome(text)

    @work(exclusive=True, group="migrations-run", name="run_migrations", exit_on_error=False)
    async def run_migrations(self, dry_run: bool, warm: bool = False) -> None:
        self.busy = True
        self.outcome = Outcome("Dry run …" if dry_run else "Applying …")
        try:
            run = await self.services.migrations.up(
                dry_run=dry_run, progress=self._progress, warm=warm
            )
        except KgopError as error:
            text = f"✖ {escape(error.message)}\n{escape(error.hint or '')}"
            self.outcome = Outcome(text, "-error")
            return
        finally:
            self.busy = False
        self.outcome = outcome_of(run)
        self.load()


def outcome_of(run: MigrationRun) -> Outcome:
    """A run in words: what it applied (or would), and where it failed."""
    verb = "would apply" if run.dry_run else "applied"
    done = ", ".join(f"{s.version:04d}_{s.name}" for s in run.applied) or "nothing"
    text = f"{'Dry run: ' if run.dry_run else ''}{verb} {done}"
    if run.skipped:
        text += f"\nnot tried (outside a transaction): {', '.join(run.skipped)}"
    failure = run.failure
    if failure is None:
        return Outcome(escape(text) + ("\nnothing was changed" if run.dry_run else ""), "-ok")
    where = f" line {failure.line}, column {failure.column}" if failure.line else ""
    lines = [
        escape(text),
        f"✖ {escape(failure.filename)}{where}: {escape(failure.message)}"
        + (f" (sqlstate {failure.sqlstate})" if failure.sqlstate else ""),
    ]
    if failure.detail:
        lines.append(f"detail: {escape(failure.detail)}")
    lines.append(
        "hint: " + escape(failure.hint or "fix the file, then apply again; earlier files stay")
    )
    return Outcome("\n".join(lines), "-error")
