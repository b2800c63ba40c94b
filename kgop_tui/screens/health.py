"""Health: one row per service, the selected one's details, restart/stop/start."""

from __future__ import annotations

from collections import deque

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from kgop_tui.errors import KgopError
from kgop_tui.models import ContainerState, Health, ProjectStatus, ServiceStatus, StatusUpdate
from kgop_tui.ports import StatsSource, Stoppable
from kgop_tui.render import human_duration
from kgop_tui.resources import human_bytes
from kgop_tui.screens.base import KgopScreen
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
PROGRESSIVE = {"restart": "Restarting", "stop": "Stopping", "start": "Starting"}
COLUMNS = (
    "Service", "State", "Health", "Uptime", "CPU", "Memory", "Restarts", "Image", "Version",
)  # fmt: skip
HISTORY = 60  # samples kept per service: about a minute of the engine's stats stream


def state_cell(status: ServiceStatus) -> Text:
    label, colour = STATE_LOOK[status.state]
    if status.state is ContainerState.EXITED and status.exit_code is not None:
        label += f" ({status.exit_code})"
    return Text(label, style=colour)


def health_cell(status: ServiceStatus) -> Text:
    label, colour = HEALTH_LOOK[status.health]
    return Text(label, style=colour)


class HealthScreen(KgopScreen):
    """Live status of every service, from Docker events."""

    SCREEN_KEY = "1"
    SCREEN_NAME = "Health"

    BINDINGS = [
        Binding("r", "restart", "Restart", tooltip="Restart the selected service"),
        Binding("s", "stop", "Stop", tooltip="Stop the selected service"),
        Binding("u", "start", "Start", tooltip="Start the selected service"),
        Binding("d", "doctor", "Doctor", tooltip="Doctor: check the host and the install"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.status: ProjectStatus | None = None
        self._watcher: Stoppable | None = None
        self._stats: StatsSource | None = None
        self.figures: dict[str, dict[str, float]] = {}
        self.cpu_history: dict[str, deque[float]] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="health-banner")
        with Vertical(id="health-body"):
            yield Static("", id="host-facts")
            table: DataTable[str | Text] = DataTable(id="services", cursor_type="row")
            yield table
            yield Sparkline([], id="cpu-history")
            yield Static("", id="tls-status")
            yield Static("Waiting for the Docker engine…", id="service-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#services", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column.lower())
        self._watcher = self.services.engine.watch(self._updated_from_thread, self._down)
        self._stats = self.services.engine.follow_stats(self._sampled_from_thread)
        self.query_one("#cpu-history", Sparkline).display = False
        self.set_interval(1.0, self._tick)
        self.refresh_certificate()
        self.set_interval(60.0, self.refresh_certificate)
        self.refresh_facts()
        self.set_interval(60.0, self.refresh_facts)

    @work(thread=True, exclusive=True, group="host-facts", exit_on_error=False)
    def refresh_facts(self) -> None:
        """Disk left, database size, newest backup: read in a thread, never on the UI loop.
        What cannot be read is left out (the banner says why the engine is unreachable)."""
        try:
            line = self.services.engine.host_facts().line()
        except (KgopError, OSError):
            return
        self.from_thread(self.query_one("#host-facts", Static).update, line)

    def refresh_certificate(self) -> None:
        """Days to expiry of the TLS certificate (a file read; hidden without TLS)."""
        status = self.services.engine.certificate()
        line = self.query_one("#tls-status", Static)
        line.display = status is not None
        if status is not None:
            line.update(status.line())

    def on_unmount(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        if self._stats is not None:
            self._stats.stop()

    # ---- updates -------------------------------------------------------------------------

    def _updated_from_thread(self, update: StatusUpdate) -> None:
        self.from_thread(self.apply_status, update.status)

    def _sampled_from_thread(self, service: str, figures: dict[str, float]) -> None:
        self.from_thread(self.apply_sample, service, figures)

    def apply_sample(self, service: str, figures: dict[str, float]) -> None:
        """A stats sample of one service: its CPU and memory cells, its CPU history."""
        self.figures[service] = figures
        self.cpu_history.setdefault(service, deque(maxlen=HISTORY)).append(figures["cpu_percent"])
        if self.status is None:
            return
        table = self.query_one("#services", DataTable)
        for s in self.status.services:
            if s.service == service and s.container_name in table.rows:
                cpu, memory = self._resource_cells(s)
                table.update_cell(s.container_name, "cpu", cpu, update_width=True)
                table.update_cell(s.container_name, "memory", memory, update_width=True)
        selected = self.selected()
        if selected is not None and selected.service == service:
            self._show_history(service)

    def _show_history(self, service: str) -> None:
        spark = self.query_one("#cpu-history", Sparkline)
        history = self.cpu_history.get(service)
        spark.display = history is not None and len(history) > 1  # a trend needs two
        if history:
            spark.data = list(history)
            spark.tooltip = f"{service}: CPU % over the last {len(history)} samples"

    def _down(self, error: KgopError) -> None:
        self.from_thread(self.banner.show_error, error)

    def apply_status(self, status: ProjectStatus) -> None:
        """Show a new status (from events, a reconcile, or a test)."""
        self.banner.clear()
        self.status = status
        self.kgop.last_status = status
        table = self.query_one("#services", DataTable)
        keys = [s.container_name for s in status.services]
        current = [str(row.value) for row in table.rows]
        if keys != current:
            selected = self.selected()
            table.clear()
            for s in status.services:
                table.add_row(*self._cells(s), key=s.container_name)
            if selected and selected.container_name in keys:
                table.move_cursor(row=keys.index(selected.container_name))
        else:
            for s in status.services:
                for column, value in zip(COLUMNS, self._cells(s), strict=True):
                    table.update_cell(s.container_name, column.lower(), value)
        if self._stats is not None:  # one stats stream per running container
            self._stats.track(
                {s.container_id: s.service for s in status.services if s.state.value == "running"}
            )
        if not status.services:
            self.query_one("#service-detail", Static).update(
                f"No containers in project '{status.project}'. Start the platform with "
                "`./operator.sh start-infra` then `./operator.sh start`."
            )
        else:
            self._show_detail()

    def _resource_cells(self, s: ServiceStatus) -> tuple[str, str]:
        figures = self.figures.get(s.service) if s.state is ContainerState.RUNNING else None
        if figures is None:
            return "–", "–"
        return f"{figures['cpu_percent']:.1f}%", human_bytes(figures["memory_bytes"])

    def _cells(self, s: ServiceStatus) -> tuple[str | Text, ...]:
        return (
            s.service,
            state_cell(s),
            health_cell(s),
            self._uptime(s),
            *self._resource_cells(s),
            str(s.restart_count),
            s.image,
            s.version or "–",
        )

    def _uptime(self, s: ServiceStatus) -> str:
        if s.started_at is None or s.state not in (ContainerState.RUNNING, ContainerState.PAUSED):
            return "–"
        return human_duration(max(0, int((self.now() - s.started_at).total_seconds())))

    def _tick(self) -> None:
        if self.status is None:
            return
        table = self.query_one("#services", DataTable)
        for s in self.status.services:
            if s.container_name in table.rows:
                table.update_cell(s.container_name, "uptime", self._uptime(s))

    # ---- selection and details -----------------------------------------------------------

    def selected(self) -> ServiceStatus | None:
        if self.status is None or not self.status.services:
            return None
        table = self.query_one("#services", DataTable)
        row = table.cursor_row
        if 0 <= row < len(self.status.services):
            return self.status.services[row]
        return None

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()
        selected = self.selected()
        if selected is not None:
            self._show_history(selected.service)

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
            lines.append(escape(s.health_output[-600:]))
        elif s.health is Health.NONE:
            lines.append("no healthcheck defined")
        self.query_one("#service-detail", Static).update("\n".join(lines))

    # ---- actions -------------------------------------------------------------------------

    def _confirm_then(self, verb: str) -> None:
        s = self.selected()
        if s is None:
            self.notify("No service selected.", severity="warning")
            return
        danger = verb == "stop"

        def answered(yes: bool | None) -> None:
            if yes:
                self.notify(f"{PROGRESSIVE[verb]} {s.service}…")
                self._lifecycle(verb, s.service)

        self.app.push_screen(ConfirmScreen(f"{verb.capitalize()} {s.service}?", danger), answered)

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
