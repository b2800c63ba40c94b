"""The upgrade's steps as a table: each step's state and detail, and the point of no return
between them (what Esc can still abort)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from kgop_tui.models import POINT_OF_NO_RETURN, UPGRADE_STEPS, StepState, UpgradeStatus
from kgop_tui.render import step_label
from kgop_tui.text import clean_line

STEP_STYLE = {
    StepState.PENDING: "dim",
    StepState.RUNNING: "bold yellow",
    StepState.DONE: "green",
    StepState.FAILED: "bold red",
    StepState.SKIPPED: "dim",
    StepState.ROLLED_BACK: "magenta",
}


class UpgradeSteps(DataTable[str | Text]):
    """The steps of ``status`` (None: the steps an upgrade would take, all pending)."""

    def on_mount(self) -> None:
        for column in ("Step", "State", "Detail"):
            self.add_column(column, key=column.lower())

    def show(self, status: UpgradeStatus | None) -> None:
        self.clear()
        steps = (
            [(s.key, s.title, s.state, s.detail) for s in status.steps]
            if status is not None
            else [(k, t, StepState.PENDING, "") for k, t in UPGRADE_STEPS]
        )
        passed = status is not None and status.passed_point_of_no_return
        for key, title, state, detail in steps:
            if key == POINT_OF_NO_RETURN:
                marker = "passed" if passed else "Esc aborts until here"
                self.add_row(
                    Text("── point of no return ──", style="bold red"),
                    Text(marker, style="red" if passed else "dim"),
                    "",
                    key="no-return",
                )
            label, style = step_label(state), STEP_STYLE[state]
            self.add_row(title, Text(label, style=style), clean_line(detail)[:90], key=key)
