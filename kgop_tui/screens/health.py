"""Health: one row per service (a Swarm service's tasks below it, on Enter), the selected
one's details, restart/stop/start."""

from __future__ import annotations

import time
from collections import deque

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Sparkline, Static
from textual.widgets.data_table import ColumnKey

from kgop_tui.errors import KgopError
from kgop_tui.kinds import ContainerState, Health
from kgop_tui.messages import EngineDown, HostFactsRead, StatsSampled, StatusChanged
from kgop_tui.ports import StatsSource, Stoppable
from kgop_tui.project import ProjectStatus, ServiceStatus, StatusUpdate, TaskStatus
from kgop_tui.render import human_duration
from kgop_tui.resources import io_rates, short_bytes
from kgop_tui.screens.base import KgopScreen
from kgop_tui.text import clean, clean_line
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import ConfirmScreen

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
PROGRESSIVE = {"restart": "Restarting", "stop": "Stopping", "start": "Starting"}
COLUMNS = (
    "Service", "State", "Health", "Uptime", "CPU", "Memory", "Net/s", "Block I/O", "Restarts",
    "Image", "Version",
)  # fmt: skip
KEYS = ("service", "state", "health", "uptime", "cpu", "memory", "net", "block", "restarts",
        "image", "version")  # fmt: skip
RESOURCES = ("cpu", "memory", "net", "block")
HISTORY = 60  # samples kept per service: about a minute of the engine's stats stream
REDRAW = 2.0
"""Seconds between redraws of the cells that change by themselves (uptime, resources), as
k9s refreshes: redrawing a 50-row table costs a quarter of a second of CPU here."""
LIVE = ("uptime", *RESOURCES)


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


Row = tuple[str, ServiceStatus, TaskStatus | None]
"""A row of the table: its key, its service, and its task when it is a task's row."""


class HealthScreen(KgopScreen):
    """Live status of every service, from Docker events, and what each one costs.

    Service threads (the event watcher, the stats streams, the host facts worker) post
    messages (:mod:`kgop_tui.messages`) and never wait for the UI; the handlers set the
    screen's state (``status``, ``selected_service``), whose watchers redraw the widgets.
    """

    SCREEN_KEY = "1"
    SCREEN_NAME = "Health"
    CHANGES = frozenset({"restart", "stop", "start"})

    BINDINGS = [
        Binding("r", "restart", "Restart", tooltip="Restart the selected service"),
        Binding("s", "stop", "Stop", tooltip="Stop the selected service"),
        Binding("u", "start", "Start", tooltip="Start the selected service"),
        Binding("d", "doctor", "Doctor", tooltip="Doctor: check the host and the install"),
        Binding(
            "t", "toggle_tasks", "Tasks", tooltip="Show or hide the service's tasks (or Enter)"
        ),
    ]

    status: var[ProjectStatus | None] = var(None, always_update=True, init=False)
    """The project's containers, as the engine last reported them."""
    selected_service: var[str | None] = var(None, init=False)
    """The service under the cursor (its details and trends are shown)."""

    def __init__(self) -> None:
        super().__init__()
        self._watcher: Stoppable | None = None
        self._stats: StatsSource | None = None
        self._live_timers: list[Timer] = []
        self.figures: dict[str, dict[str, float]] = {}
        self.rates: dict[str, dict[str, float]] = {}
        self._sampled_at: dict[str, float] = {}
        self.cpu_history: dict[str, deque[float]] = {}
        self.memory_history: dict[str, deque[float]] = {}
        self._shown: dict[tuple[str, str], str] = {}  # (row, column) → its text on screen
        self.expanded: set[str] = set()
        """Swarm services whose tasks are rows of the table (Enter toggles, as in k9s)."""
        self._rows: list[Row] = []
        self.on_stack = False
        """The project is a Swarm stack (its services have tasks)."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="health-banner")
        with Vertical(id="health-body"):
            yield Static("", id="host-facts")
            table: DataTable[str | Text] = DataTable(id="services", cursor_type="row")
            yield table
            yield Static("", id="trend-caption")
            with Horizontal(id="trends"):
                yield Sparkline([], id="cpu-history")
                yield Sparkline([], id="memory-history")
            yield Static("", id="tls-status")
            yield Static("Waiting for the Docker engine…", id="service-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#services", DataTable)
        for column, key in zip(COLUMNS, KEYS, strict=True):
            table.add_column(column, key=key)
        self._show_trends(None)
        self._live_timers = [
            self.set_interval(REDRAW, self._redraw_live),
            self.set_interval(60.0, self.refresh_certificate),
            self.set_interval(60.0, self.refresh_facts),
        ]
        self.refresh_certificate()
        self.refresh_facts()

    def on_screen_resume(self) -> None:
        """Shown (again): follow the engine's events and the running containers' stats."""
        if self._watcher is None:
            self._watcher = self.services.engine.watch(self._updated_from_thread, self._down)
        if self._stats is None:
            self._stats = self.services.engine.follow_stats(self._sampled_from_thread)
        for timer in self._live_timers:
            timer.resume()

    def on_screen_suspend(self) -> None:
        """Hidden behind another screen: its streams and timers rest (no CPU meanwhile)."""
        self._stop_streams()
        for timer in self._live_timers:
            timer.pause()

    def on_unmount(self) -> None:
        self._stop_streams()

    def _stop_streams(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._stats is not None:
            self._stats.stop()
            self._stats = None

    # ---- from threads: messages only ---------------------------------------------------

    def _updated_from_thread(self, update: StatusUpdate) -> None:
        self.post_message(StatusChanged(update.status))

    def _down(self, error: KgopError) -> None:
        self.post_message(EngineDown(error))

    def _sampled_from_thread(self, service: str, figures: dict[str, float]) -> None:
        self.post_message(StatsSampled(service, figures))

    @work(thread=True, exclusive=True, group="host-facts", exit_on_error=False)
    def refresh_facts(self) -> None:
        """Disk left, database size, newest backup: read in a thread, never on the UI loop.
        What cannot be read is left out (the banner says why the engine is unreachable)."""
        try:
            line = self.services.engine.host_facts().line()
        except (KgopError, OSError):
            return
        self.post_message(HostFactsRead(line))

    # ---- messages → state ---------------------------------------------------------------

    @on(StatusChanged)
    def _status_changed(self, message: StatusChanged) -> None:
        self.status = message.status

    @on(EngineDown)
    def _engine_down(self, message: EngineDown) -> None:
        self.banner.show_error(message.error)

    @on(HostFactsRead)
    def _facts_read(self, message: HostFactsRead) -> None:
        self.query_one("#host-facts", Static).update(message.line)

    @on(StatsSampled)
    def _stats_sampled(self, message: StatsSampled) -> None:
        """A sample of one service: its figures, rates and trends (cells redraw every 2 s)."""
        service, figures = message.service, message.figures
        now = time.monotonic()
        previous, at = self.figures.get(service), self._sampled_at.get(service)
        if previous is not None and at is not None:
            self.rates[service] = io_rates(previous, figures, now - at)
        self.figures[service], self._sampled_at[service] = figures, now
        self.cpu_history.setdefault(service, deque(maxlen=HISTORY)).append(figures["cpu_percent"])
        self.memory_history.setdefault(service, deque(maxlen=HISTORY)).append(
            figures["memory_bytes"]
        )
        if previous is None:  # a service's first figures show at once, later ones every 2 s
            self._redraw_live()
        if service == self.selected_service:
            self._show_trends(service)

    def _redraw_live(self) -> None:
        """Uptime and resource cells whose text changed since they were drawn, in one
        repaint (any cell update repaints the whole visible table)."""
        if self.status is None:
            return
        table = self.query_one("#services", DataTable)
        with self.app.batch_update():
            for s in self.status.services:
                if s.container_name not in table.rows:
                    continue
                cells = (self._uptime(s), *self._resource_cells(s))
                for key, cell in zip(LIVE, cells, strict=True):
                    if self._shown.get((s.container_name, key)) == cell:
                        continue
                    self._shown[(s.container_name, key)] = cell
                    wider = len(cell) > table.columns[ColumnKey(key)].content_width
                    table.update_cell(s.container_name, key, cell, update_width=wider)

    # ---- state → widgets ----------------------------------------------------------------

    def rows_of(self, status: ProjectStatus) -> list[Row]:
        rows: list[Row] = []
        for s in status.services:
            rows.append((s.container_name, s, None))
            if s.tasks is not None and s.service in self.expanded:
                rows += [(f"{s.container_name}#{i}", s, t) for i, t in enumerate(s.tasks)]
        return rows

    def watch_status(self, status: ProjectStatus | None) -> None:
        if status is None:
            return
        self.banner.clear()
        self.kgop.last_status = status
        on_stack = any(s.tasks is not None for s in status.services)
        if on_stack != self.on_stack:
            self.on_stack = on_stack
            self.refresh_bindings()  # Tasks shows on a Swarm stack only
        table = self.query_one("#services", DataTable)
        selected, row_before = self.selected(), self.selected_key()
        self._rows = self.rows_of(status)
        keys = [key for key, _, _ in self._rows]
        current = [str(row.value) for row in table.rows]
        rows = {
            key: self._cells(s) if task is None else self._task_cells(s, task)
            for key, s, task in self._rows
        }
        if keys != current:
            table.clear()
            self._shown.clear()
            for name, cells in rows.items():
                table.add_row(*cells, key=name)
            if row_before in keys:  # the same row, or its service's when it went
                table.move_cursor(row=keys.index(row_before))
            elif selected and selected.container_name in keys:
                table.move_cursor(row=keys.index(selected.container_name))
        else:
            with self.app.batch_update():
                for name, cells in rows.items():
                    for key, value in zip(KEYS, cells, strict=True):
                        table.update_cell(name, key, value)
        for key, _, task in self._rows:  # what the live redraw compares with
            if task is None:
                shown = dict(zip(KEYS, rows[key], strict=True))
                self._shown.update({(key, column): str(shown[column]) for column in LIVE})
        if self._stats is not None:  # one stats stream per running container
            self._stats.track(
                {s.container_id: s.service for s in status.services if s.state.value == "running"}
            )
        if not status.services:
            self.query_one("#service-detail", Static).update(
                f"No containers in project '{status.project}'. Start the platform with "
                "`./operator.sh start-infra` then `./operator.sh start`."
            )
            return
        self._show_detail()
        selected = self.selected()
        self.selected_service = selected.service if selected else None

    def watch_selected_service(self, service: str | None) -> None:
        self._show_trends(service)

    def _show_trends(self, service: str | None) -> None:
        """The selected service's CPU and memory over the last minute (a trend needs two)."""
        cpu = self.cpu_history.get(service or "")
        memory = self.memory_history.get(service or "")
        shown = service is not None and cpu is not None and len(cpu) > 1
        self.query_one("#trends").display = shown
        caption = self.query_one("#trend-caption", Static)
        caption.display = shown
        if not shown or cpu is None or memory is None:
            return
        self.query_one("#cpu-history", Sparkline).data = list(cpu)
        self.query_one("#memory-history", Sparkline).data = list(memory)
        caption.update(
            f"{service}, last {len(cpu)} s:  CPU {min(cpu):.0f}–{max(cpu):.0f}%  ·  "
            f"memory {short_bytes(min(memory))}–{short_bytes(max(memory))}"
        )

    def refresh_certificate(self) -> None:
        """Days to expiry of the TLS certificate (a file read; hidden without TLS)."""
        status = self.services.engine.certificate()
        line = self.query_one("#tls-status", Static)
        line.display = status is not None
        if status is not None:
            line.update(status.line())

    def _resource_cells(self, s: ServiceStatus) -> tuple[str, str, str, str]:
        figures = self.figures.get(s.service) if s.state is ContainerState.RUNNING else None
        if figures is None:
            return "–", "–", "–", "–"
        memory = short_bytes(figures["memory_bytes"])
        if figures.get("memory_limit_bytes"):
            memory += "/" + short_bytes(figures["memory_limit_bytes"])
        rates = self.rates.get(s.service)
        net = (
            f"{short_bytes(rates['net_rx_bytes'])}↓ {short_bytes(rates['net_tx_bytes'])}↑"
            if rates
            else "…"
        )
        block = (
            f"{short_bytes(figures['block_read_bytes'])}/"
            f"{short_bytes(figures['block_write_bytes'])}"
        )
        return f"{figures['cpu_percent']:.1f}%", memory, net, block

    def _cells(self, s: ServiceStatus) -> tuple[str | Text, ...]:
        return (
            s.service,
            state_cell(s),
            health_cell(s),
            self._uptime(s),
            *self._resource_cells(s),
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

    # ---- selection and details -----------------------------------------------------------

    def selected(self) -> ServiceStatus | None:
        """The service under the cursor (a task's row selects its service)."""
        row = self.query_one("#services", DataTable).cursor_row
        return self._rows[row][1] if 0 <= row < len(self._rows) else None

    def selected_key(self) -> str | None:
        row = self.query_one("#services", DataTable).cursor_row
        return self._rows[row][0] if 0 <= row < len(self._rows) else None

    def selected_task(self) -> TaskStatus | None:
        row = self.query_one("#services", DataTable).cursor_row
        return self._rows[row][2] if 0 <= row < len(self._rows) else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_tasks":  # shown on a Swarm stack only
            return self.on_stack
        return super().check_action(action, parameters)

    def on_data_table_row_selected(self, _: DataTable.RowSelected) -> None:
        self.action_toggle_tasks()

    def action_toggle_tasks(self) -> None:
        """Show or hide the selected Swarm service's tasks as rows below it."""
        s = self.selected()
        if s is None or s.tasks is None:
            return
        self.expanded ^= {s.service}
        self.status = self.status  # redrawn; the cursor stays on the service's row

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()
        selected = self.selected()
        self.selected_service = selected.service if selected else None

    def _show_detail(self) -> None:
        s = self.selected()
        if s is None:
            return
        lines = [f"[b]{s.service}[/b]  {s.container_name}  ·  {s.image}"]
        if s.ports:
            ports = (f"{p.host_ip}:{p.host_port}→{p.container_port}/{p.protocol}" for p in s.ports)
            lines.append("ports: " + ", ".join(ports))
        if s.state is ContainerState.EXITED:
            lines.append(f"[red]exited with code {s.exit_code}[/red]")
        if s.restart_count:
            lines.append(f"restarted {s.restart_count} time(s)")
        if s.health_output is not None:
            colour = "red" if s.health is Health.UNHEALTHY else "green"
            lines.append(f"last healthcheck: [{colour}]exit {s.health_exit_code}[/{colour}]")
            lines.append(escape(clean(s.health_output)[-600:]))
        elif s.health is Health.NONE:
            lines.append("no healthcheck defined")
        chosen = self.selected_task()
        for task in s.tasks or []:  # a Swarm service's replicas
            look = HEALTH_LOOK[task.health][0] if task.health is not Health.NONE else ""
            name = f"{s.service}.{task.slot}" if task.slot else s.service
            quiet = task.state == "running" or task.message in ("", task.state)
            note = "" if quiet else f"  {escape(clean_line(task.message))}"
            mark = "▸" if task is chosen else " "
            lines.append(
                f"{mark} {name}  {task.state}  on {escape(clean_line(task.node))}  {look}{note}"
            )
            if task is chosen and task.health_output:
                lines.append("    last healthcheck: " + escape(clean(task.health_output)[-300:]))
        if s.tasks is not None and not chosen:
            lines.append("[dim]Enter or t: the tasks as rows of the table[/dim]")
        self.query_one("#service-detail", Static).update("\n".join(lines))

    # ---- actions -------------------------------------------------------------------------

    @work(exclusive=True, group="lifecycle-confirm", name="confirm_lifecycle", exit_on_error=False)
    async def _confirm_then(self, verb: str) -> None:
        s = self.selected()
        if s is None:
            self.notify("No service selected.", severity="warning")
            return
        question = ConfirmScreen(f"{verb.capitalize()} {s.service}?", danger=verb == "stop")
        if await self.app.push_screen_wait(question):
            self.notify(f"{PROGRESSIVE[verb]} {s.service}…")
            self._lifecycle(verb, s.service)

    def action_doctor(self) -> None:
        from kgop_tui.screens.doctor import DoctorScreen

        self.app.push_screen(DoctorScreen())

    def action_restart(self) -> None:
        self._confirm_then("restart")

    def action_stop(self) -> None:
        self._confirm_then("stop")

    def action_start(self) -> None:
        self._confirm_then("start")

    @work(thread=True, group="lifecycle", name="service_lifecycle", exit_on_error=False)
    def _lifecycle(self, verb: str, service: str) -> None:
        engine = self.services.engine
        action = {"restart": engine.restart, "stop": engine.stop, "start": engine.start}[verb]
        try:
            action(service)
        except KgopError as error:
            self.from_thread(self.report, error)
            return
        done = {"restart": "Restarted", "stop": "Stopped", "start": "Started"}[verb]
        self.from_thread(self.notify, f"{done} {service}.")
