"""Health: one row per service (a Swarm service's tasks below it, on Enter), the selected
one's details, restart/stop/start."""

from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import var
from textual.timer import Timer
from textual.widgets import DataTable, Header, Static

from kgop_tui.errors import KgopError
from kgop_tui.messages import EngineDown, HostFactsRead, StatsSampled, StatusChanged
from kgop_tui.ports import StatsSource, Stoppable
from kgop_tui.project import ProjectStatus, ServiceStatus, StatusUpdate
from kgop_tui.resources import ResourceBook
from kgop_tui.screens.base import KgopScreen
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import ConfirmScreen
from kgop_tui.widgets.footer import SteadyFooter
from kgop_tui.widgets.service_detail import ServiceDetail, Trends
from kgop_tui.widgets.service_table import KEYS, ServiceTable

__all__ = ["KEYS", "HealthScreen"]

PROGRESSIVE = {"restart": "Restarting", "stop": "Stopping", "start": "Starting"}
HISTORY = 60  # samples kept per service: about a minute of the engine's stats stream
REDRAW = 2.0
"""Seconds between redraws of the cells that change by themselves (uptime, resources), as
k9s refreshes: redrawing a 50-row table costs a quarter of a second of CPU here."""


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
    expanded: var[frozenset[str]] = var(frozenset(), init=False)
    """Swarm services whose tasks show as rows below them."""
    """The service under the cursor (its details and trends are shown)."""

    def __init__(self) -> None:
        super().__init__()
        self._watcher: Stoppable | None = None
        self._stats: StatsSource | None = None
        self._live_timers: list[Timer] = []
        self.book = ResourceBook(HISTORY)
        """Swarm services whose tasks are rows of the table (Enter toggles, as in k9s)."""
        self.on_stack = False
        """The project is a Swarm stack (its services have tasks)."""

    @property
    def figures(self) -> dict[str, dict[str, float]]:
        """The latest figures of each service with a stats stream."""
        return self.book.figures

    @property
    def table(self) -> ServiceTable:
        return self.query_one(ServiceTable)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="health-banner")
        with Vertical(id="health-body"):
            yield Static("", id="host-facts")
            yield ServiceTable(self.book, self.now, id="services")
            yield Trends()
            yield Static("", id="tls-status")
            yield ServiceDetail("Waiting for the Docker engine…", id="service-detail")
        yield SteadyFooter()

    def on_mount(self) -> None:
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
        if self.book.record(message.service, message.figures, time.monotonic()):
            self._redraw_live()  # a service's first figures show at once, later ones every 2 s
        if message.service == self.selected_service:
            self._show_trends(message.service)

    def _redraw_live(self) -> None:
        """Uptime and resource cells whose text changed since they were drawn."""
        if self.status is not None:
            self.table.redraw_live(self.status)

    # ---- state → widgets ----------------------------------------------------------------

    def watch_status(self, status: ProjectStatus | None) -> None:
        if status is None:
            return
        self.banner.clear()
        self.kgop.last_status = status
        on_stack = any(s.tasks is not None for s in status.services)
        if on_stack != self.on_stack:
            self.on_stack = on_stack
            self.refresh_bindings()  # Tasks shows on a Swarm stack only
        self.table.show(status, self.expanded)
        if self._stats is not None:  # one stats stream per running container
            self._stats.track(
                {s.container_id: s.service for s in status.services if s.state.value == "running"}
            )
        if not status.services:
            self.query_one(ServiceDetail).nothing(status.project)
            return
        self._show_detail()

    def watch_selected_service(self, service: str | None) -> None:
        self._show_trends(service)

    def _show_trends(self, service: str | None) -> None:
        """The selected service's CPU and memory over the last minute (a trend needs two)."""
        key = service or ""
        self.query_one(Trends).show(
            service, self.book.cpu.get(key, ()), self.book.memory.get(key, ())
        )

    def refresh_certificate(self) -> None:
        """Days to expiry of the TLS certificate (a file read; hidden without TLS)."""
        status = self.services.engine.certificate()
        line = self.query_one("#tls-status", Static)
        line.display = status is not None
        if status is not None:
            line.update(status.line())

    # ---- selection and details -----------------------------------------------------------

    def selected(self) -> ServiceStatus | None:
        """The service under the cursor (a task's row selects its service)."""
        return self.table.selected()

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

    def watch_expanded(self) -> None:
        if self.status is not None:  # redrawn; the cursor stays on the service's row
            self.table.show(self.status, self.expanded)

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        selected = self.selected()
        if selected is not None:
            self.query_one(ServiceDetail).show(selected, self.table.selected_task())
        self.selected_service = selected.service if selected else None

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
