"""The Health screen's table: one row per service (and per task of an expanded Swarm
service), with its state, health, uptime, what it costs, restarts, image and version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from kgop_tui.kinds import ContainerState, Health
from kgop_tui.project import ProjectStatus, ServiceStatus, TaskStatus
from kgop_tui.render import human_duration
from kgop_tui.resources import ResourceBook
from kgop_tui.text import clean_line

STATE_LOOK = {
    ContainerState.RUNNING: ("● running", "green"),
    ContainerState.EXITED: ("✖ exited", "red"),
    ContainerState.DEAD: ("✖ dead", "red"),
    ContainerState.RESTARTING: ("↻ restarting", "yellow"),
    ContainerState.PAUSED: ("‖ paused", "yellow"),
    ContainerState.CREATED: ("◌ created", "yellow"),
    ContainerState.REMOVING: ("✖ removing", "yellow"),
    ContainerState.MISSING: ("? missing", "red"),
}
HEALTH_LOOK = {
    Health.HEALTHY: ("✔ healthy", "green"),
    Health.UNHEALTHY: ("✖ unhealthy", "red"),
    Health.STARTING: ("… starting", "yellow"),
    Health.NONE: ("–", "default"),
}
TASK_LOOK = {  # Swarm's task states, as a user reads them
    "running": ("● running", "green"),
    "complete": ("✔ complete", "default"),
    "failed": ("✖ failed", "red"),
    "rejected": ("✖ rejected", "red"),
    "orphaned": ("✖ orphaned", "red"),
    "shutdown": ("◌ shutdown", "default"),
    "remove": ("◌ removing", "default"),
}
COLUMNS = (
    "Service", "State", "Health", "Uptime", "CPU", "Memory", "Net/s", "Block I/O", "Restarts",
    "Image", "Version",
)  # fmt: skip
KEYS = ("service", "state", "health", "uptime", "cpu", "memory", "net", "block", "restarts",
        "image", "version")  # fmt: skip
LIVE = ("uptime", "cpu", "memory", "net", "block")
"""The cells that change by themselves, redrawn on a timer rather than on every event."""

Row = tuple[str, ServiceStatus, TaskStatus | None]
"""A row of the table: its key, its service, and its task when it is a task's row."""


def state_cell(status: ServiceStatus) -> Text:
    label, colour = STATE_LOOK[status.state]
    if status.state is ContainerState.EXITED and status.exit_code is not None:
        label += f" ({status.exit_code})"
    if status.replicas is not None:  # a Swarm service: running / desired replicas
        label += f" {status.replicas}/{status.desired_replicas}"
        if status.short_of_replicas:
            colour = "yellow" if status.replicas else "red"
    return Text(label, style=colour)


def health_cell(status: ServiceStatus | TaskStatus) -> Text:
    label, colour = HEALTH_LOOK[status.health]
    return Text(label, style=colour)


def task_state_cell(task: TaskStatus) -> Text:
    label, colour = TASK_LOOK.get(task.state, (f"… {task.state}", "yellow"))
    return Text(f"{label} on {clean_line(task.node)}", style=colour)


class ServiceTable(DataTable[str | Text]):
    """The services as rows; Swarm services in ``expanded`` show their tasks below them.

    ``show`` redraws from a status (rebuilding only when the rows changed, keeping the
    cursor on its row or its service's); ``redraw_live`` repaints only the live cells
    whose text changed, in one batch (any cell update repaints the visible table)."""

    def __init__(self, book: ResourceBook, now: Callable[[], datetime], **kwargs: str) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.book, self.now = book, now
        self.rows_shown: list[Row] = []
        self._shown: dict[tuple[str, str], str] = {}  # (row, column) → its text on screen

    def on_mount(self) -> None:
        for column, key in zip(COLUMNS, KEYS, strict=True):
            self.add_column(column, key=key)

    def show(self, status: ProjectStatus, expanded: frozenset[str]) -> None:
        selected, row_before = self.selected(), self.selected_key()
        self.rows_shown = rows_of(status, expanded)
        keys = [key for key, _, _ in self.rows_shown]
        cells = {
            key: self._cells(s) if task is None else self._task_cells(s, task)
            for key, s, task in self.rows_shown
        }
        if keys != [str(row.value) for row in self.rows]:
            self.clear()
            self._shown.clear()
            for name, row in cells.items():
                self.add_row(*row, key=name)
            if row_before in keys:  # the same row, or its service's when it went
                self.move_cursor(row=keys.index(row_before))
            elif selected and selected.container_name in keys:
                self.move_cursor(row=keys.index(selected.container_name))
        else:
            with self.app.batch_update():
                for name, row in cells.items():
                    for key, value in zip(KEYS, row, strict=True):
                        self.update_cell(name, key, value)
        for key, _, task in self.rows_shown:  # what the live redraw compares with
            if task is None:
                shown = dict(zip(KEYS, cells[key], strict=True))
                self._shown.update({(key, column): str(shown[column]) for column in LIVE})

    def redraw_live(self, status: ProjectStatus) -> None:
        with self.app.batch_update():
            for s in status.services:
                if s.container_name not in self.rows:
                    continue
                cells = (self._uptime(s), *self._resources(s))
                for key, cell in zip(LIVE, cells, strict=True):
                    if self._shown.get((s.container_name, key)) == cell:
                        continue
                    self._shown[(s.container_name, key)] = cell
                    wider = len(cell) > self.columns[ColumnKey(key)].content_width
                    self.update_cell(s.container_name, key, cell, update_width=wider)

    # ---- the row under the cursor ---------------------------------------------------------

    def _at_cursor(self) -> Row | None:
        row = self.cursor_row
        return self.rows_shown[row] if 0 <= row < len(self.rows_shown) else None

    def selected(self) -> ServiceStatus | None:
        """The service under the cursor (a task's row selects its service)."""
        row = self._at_cursor()
        return row[1] if row else None

    def selected_key(self) -> str | None:
        row = self._at_cursor()
        return row[0] if row else None

    def selected_task(self) -> TaskStatus | None:
        row = self._at_cursor()
        return row[2] if row else None

    # ---- cells ---------------------------------------------------------------------------

    def _resources(self, s: ServiceStatus) -> tuple[str, str, str, str]:
        if s.state is not ContainerState.RUNNING:
            return "–", "–", "–", "–"
        return self.book.cells(s.service)

    def _cells(self, s: ServiceStatus) -> tuple[str | Text, ...]:
        return (
            s.service,
            state_cell(s),
            health_cell(s),
            self._uptime(s),
            *self._resources(s),
            str(s.restart_count),
            s.image,
            clean_line(s.version or "–"),  # a label: the image author's text
        )

    def _task_cells(self, s: ServiceStatus, task: TaskStatus) -> tuple[str | Text, ...]:
        """A task's row: its replica name, Swarm state and node, health, time in that state
        and image; resources are the service's (the engine streams them per service)."""
        name = f"{s.service}.{task.slot}" if task.slot else s.service
        since = "–"
        if task.updated_at is not None and task.state == "running":
            since = human_duration(max(0, int((self.now() - task.updated_at).total_seconds())))
        return (
            Text(f" └ {name}", style="dim"),
            task_state_cell(task),
            health_cell(task),
            since,
            "", "", "", "", "",
            task.image,
            "",
        )  # fmt: skip

    def _uptime(self, s: ServiceStatus) -> str:
        if s.started_at is None or s.state not in (ContainerState.RUNNING, ContainerState.PAUSED):
            return "–"
        return human_duration(max(0, int((self.now() - s.started_at).total_seconds())))


def rows_of(status: ProjectStatus, expanded: frozenset[str]) -> list[Row]:
    rows: list[Row] = []
    for s in status.services:
        rows.append((s.container_name, s, None))
        if s.tasks is not None and s.service in expanded:
            rows += [(f"{s.container_name}#{i}", s, t) for i, t in enumerate(s.tasks)]
    return rows
