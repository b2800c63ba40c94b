"""The Doctor view: every check of ``kgop doctor``, its state and, for the selected one, what
to do. Opened from the Health screen (``d``) and the command palette; ``r`` runs it again."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from kgop_tui.checks import MARKS, CheckState, DoctorReport
from kgop_tui.screens.base import WorkerFailures

if TYPE_CHECKING:
    from kgop_tui.app import KgopApp

STYLES = {
    CheckState.OK: "green",
    CheckState.WARN: "yellow",
    CheckState.FAIL: "bold red",
    CheckState.SKIP: "dim",
}


class DoctorScreen(WorkerFailures, ModalScreen[None]):
    """Every check of ``kgop doctor``; a check run that fails is shown, never fatal."""

    BINDINGS = [
        Binding("escape,q", "dismiss", "Close"),
        Binding("r", "rerun", "Run again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.report: DoctorReport | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="doctor-dialog", classes="dialog"):
            yield Label("Doctor — what is wrong, and what to do", id="doctor-title")
            table: DataTable[str | Text] = DataTable(id="doctor-checks", cursor_type="row")
            yield table
            yield Static("Running the checks…", id="doctor-hint")

    def on_mount(self) -> None:
        table = self.query_one("#doctor-checks", DataTable)
        table.add_column("State", key="state")
        table.add_column("Check", key="check")
        table.add_column("Detail", key="detail")
        self.action_rerun()

    def action_rerun(self) -> None:
        self.query_one("#doctor-hint", Static).update("Running the checks…")
        self._run()

    @work(thread=True, exclusive=True, group="doctor", name="run_doctor", exit_on_error=False)
    def _run(self) -> None:
        try:
            report = cast("KgopApp", self.app).services.doctor.run()
        except Exception:
            # WorkerFailures shows what went wrong; the view says the checks did not run.
            self.app.call_from_thread(self._not_run)
            raise
        self.app.call_from_thread(self.show, report)

    def _not_run(self) -> None:
        shown = " (the table shows the last run)" if self.report else ""
        text = f"The checks did not run{shown}; r runs them again."
        self.query_one("#doctor-hint", Static).update(text)

    def failure_context(self) -> str:
        return "Doctor view"

    def show(self, report: DoctorReport) -> None:
        self.report = report
        table = self.query_one("#doctor-checks", DataTable)
        table.clear()
        for check in report.checks:
            style = STYLES[check.state]
            table.add_row(
                Text(f"{MARKS[check.state]} {check.state.value}", style=style),
                check.id,
                check.detail,
                key=check.id,
            )
        self._hint()

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._hint()

    def _hint(self) -> None:
        if self.report is None:
            return
        s = self.report.summary
        lines = [
            f"{s['ok']} ok · {s['warn']} warning(s) · {s['fail']} failed · {s['skip']} skipped"
        ]
        table = self.query_one("#doctor-checks", DataTable)
        if self.report.checks and 0 <= table.cursor_row < len(self.report.checks):
            check = self.report.checks[table.cursor_row]
            if check.hint and check.state is not CheckState.OK:
                lines.append(f"[b]{escape(check.id)}[/b]: {escape(check.hint)}")
        self.query_one("#doctor-hint", Static).update("\n".join(lines))
