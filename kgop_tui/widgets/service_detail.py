"""The Health screen's lower part: the selected service's trends and details."""

from __future__ import annotations

from collections.abc import Sequence

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from kgop_tui.kinds import ContainerState, Health
from kgop_tui.project import ServiceStatus, TaskStatus
from kgop_tui.resources import short_bytes
from kgop_tui.text import clean, clean_line
from kgop_tui.widgets.service_table import HEALTH_LOOK


class Trends(Vertical):
    """CPU and memory of one service over the last minute (hidden until it has two samples)."""

    DEFAULT_CSS = "Trends { height: auto; }"

    def compose(self) -> ComposeResult:
        yield Static("", id="trend-caption")
        with Horizontal(id="trends"):
            yield Sparkline([], id="cpu-history")
            yield Sparkline([], id="memory-history")

    def show(self, service: str | None, cpu: Sequence[float], memory: Sequence[float]) -> None:
        shown = service is not None and len(cpu) > 1 and len(memory) > 0
        caption = self.query_one("#trend-caption", Static)
        self.query_one("#trends").display = caption.display = shown
        if not shown:
            return
        self.query_one("#cpu-history", Sparkline).data = list(cpu)
        self.query_one("#memory-history", Sparkline).data = list(memory)
        caption.update(
            f"{service}, last {len(cpu)} s:  CPU {min(cpu):.0f}–{max(cpu):.0f}%  ·  "
            f"memory {short_bytes(min(memory))}–{short_bytes(max(memory))}"
        )


class ServiceDetail(Static):
    """Ports, exit code, restarts, the last healthcheck, and a Swarm service's tasks."""

    def nothing(self, project: str) -> None:
        self.update(
            f"No containers in project '{project}'. Start the platform with "
            "`./operator.sh start-infra` then `./operator.sh start`."
        )

    def show(self, s: ServiceStatus, chosen: TaskStatus | None) -> None:
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
        self.update("\n".join(lines))
