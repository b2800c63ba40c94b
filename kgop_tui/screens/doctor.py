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

if TYPE_CHECKING:
    from kgop_tui.app import KgopApp

STYLES = {
    CheckState.OK: "green",
    CheckState.WARN: "yellow",
    CheckState.FAIL: "bold red",
    CheckState.SKIP: "dim",
}


class DoctorScreen(ModalScreen[None]):
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

    @work(thread=True, exclusive=True, group="doctor")
    def _run(self) -> None:
        report = cast("KgopApp", self.app).services.doctor.run()
        self.app.call_from_thread(self.show, report)

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
