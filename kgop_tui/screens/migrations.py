"""Migrations: applied, pending and drifted files; SQL preview; dry run; apply."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Static

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

STATE_LOOK = {
    MigrationState.APPLIED: ("✔ applied", "green"),
    MigrationState.PENDING: ("◌ pending", "yellow"),
    MigrationState.DRIFTED: ("✖ drifted", "red"),
    MigrationState.MISSING: ("? missing file", "red"),
}


class MigrationsScreen(KgopScreen):
    """Database migrations, as `kgop migrate` sees them."""

    SCREEN_KEY = "3"
    SCREEN_NAME = "Migrations"

    BINDINGS = [
        Binding("d", "dry_run", "Dry run"),
        Binding("a", "apply", "Apply"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status: MigrationStatus | None = None
        self.plan: dict[int, PlannedMigration] = {}
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="migrations-banner")
        yield Static("Loading…", id="migration-summary")
        with Vertical(id="migrations-body"):
            table: DataTable[str | Text] = DataTable(id="migrations", cursor_type="row")
            yield table
            yield Static("", id="sql-preview")
        yield Static("", id="migration-result")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#migrations", DataTable)
        for column in ("Version", "Name", "State", "Applied at", "Took"):
            table.add_column(column, key=column.lower())
        self.load()
        self.keep_retrying(self.load)

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
        self.status, self.plan = status, {p.version: p for p in plan}
        table = self.query_one("#migrations", DataTable)
        row = table.cursor_row
        table.clear()
        for entry in status.entries:
            label, colour = STATE_LOOK[entry.state]
            table.add_row(
                f"{entry.version:04d}",
                entry.name,
                Text(label, style=colour),
                f"{entry.applied_at:%Y-%m-%d %H:%M}" if entry.applied_at else "–",
                f"{entry.duration_ms} ms" if entry.duration_ms is not None else "–",
                key=str(entry.version),
            )
        if status.entries:
            table.move_cursor(row=min(max(row, 0), len(status.entries) - 1))
        counts = {s: len(status.by_state(s)) for s in MigrationState}
        summary = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no migrations"
        current = status.current_version
        self.query_one("#migration-summary", Static).update(
            f"Database at version {current if current is not None else '–'} · {summary}"
        )
        self._preview()

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
            preview.update(f"[b]{planned.filename}[/b]{mode}\n\n{escape(planned.preview)}")
        elif entry.state is MigrationState.DRIFTED:
            preview.update(
                f"[b]{entry.filename}[/b]\n[red]changed since it was applied[/red]\n"
                f"recorded {entry.checksum and entry.checksum[:12]}, "
                f"file {entry.file_checksum and entry.file_checksum[:12]}\n"
                f"restore the file, or accept with `kgop migrate accept {entry.version}`"
            )
        else:
            preview.update(
                f"[b]{entry.filename or entry.name}[/b]\napplied by {entry.applied_by or '–'}"
                f"\nkgop {entry.kgop_version or '–'}"
            )

    # ---- running -------------------------------------------------------------------------

    def action_dry_run(self) -> None:
        self.run_migrations(dry_run=True)

    @work(exclusive=True, group="migrations-run", name="confirm_apply", exit_on_error=False)
    async def action_apply(self) -> None:
        try:
            pending = len(await self.services.migrations.plan())
        except KgopError as error:
            self.report(error)
            return
        if not pending:
            self.notify("Nothing to apply: the database is up to date.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_migrations(dry_run=False)

        self.app.push_screen(ConfirmScreen(f"Apply {pending} pending migration(s)?"), answered)

    def _progress(self, event: str, file: MigrationFile, ms: int | None) -> None:
        result = self.query_one("#migration-result", Static)
        if event == "start":
            result.update(f"Applying {file.filename} …")
        else:
            result.update(f"Applied {file.filename} ({ms} ms)")

    @work(exclusive=True, group="migrations-run", name="run_migrations", exit_on_error=False)
    async def run_migrations(self, dry_run: bool) -> None:
        self.busy = True
        result = self.query_one("#migration-result", Static)
        result.set_classes("")
        result.update("Dry run …" if dry_run else "Applying …")
        try:
            run = await self.services.migrations.up(dry_run=dry_run, progress=self._progress)
        except KgopError as error:
            result.set_classes("-error")
            result.update(f"✖ {escape(error.message)}\n{escape(error.hint or '')}")
            self.busy = False
            return
        self.busy = False
        self.show_run(run)
        self.load()

    def show_run(self, run: MigrationRun) -> None:
        result = self.query_one("#migration-result", Static)
        verb = "would apply" if run.dry_run else "applied"
        done = ", ".join(f"{s.version:04d}_{s.name}" for s in run.applied) or "nothing"
        text = f"{'Dry run: ' if run.dry_run else ''}{verb} {done}"
        if run.skipped:
            text += f"\nnot tried (outside a transaction): {', '.join(run.skipped)}"
        failure = run.failure
        if failure is None:
            result.set_classes("-ok")
            result.update(escape(text) + ("\nnothing was changed" if run.dry_run else ""))
            return
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
        result.set_classes("-error")
        result.update("\n".join(lines))
