"""Plain-text rendering for the CLI (no Textual, no colour codes unless asked)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from kgop_tui.models import ContainerState, Health, ProjectStatus, ServiceStatus


def human_duration(seconds: int | None) -> str:
    """``93784`` -> ``1d2h``; the two largest units, like ``docker ps``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    parts: list[str] = []
    rest = seconds
    for name, size in units:
        if rest >= size:
            parts.append(f"{rest // size}{name}")
            rest %= size
        if len(parts) == 2:
            break
    return "".join(parts)


def state_word(status: ServiceStatus) -> str:
    """State with its exit code, readable without colour: ``exited (3)``."""
    if status.state is ContainerState.EXITED and status.exit_code is not None:
        return f"exited ({status.exit_code})"
    return status.state.value


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def render_status(status: ProjectStatus) -> str:
    """The ``kgop status`` table, then one line per problem explaining it."""
    if not status.services:
        return (
            f"No containers found for compose project '{status.project}'.\n"
            "Start the platform with `./operator.sh start-infra` (host) or check "
            "COMPOSE_PROJECT_NAME."
        )
    headers = ("SERVICE", "STATE", "HEALTH", "UPTIME", "RESTARTS", "IMAGE", "VERSION")
    rows = [
        (
            s.service,
            state_word(s),
            s.health.value if s.health is not Health.NONE else "-",
            human_duration(s.uptime_seconds),
            str(s.restart_count),
            s.image,
            s.version or "-",
        )
        for s in status.services
    ]
    out = [table(headers, rows)]
    problems = [_problem(s) for s in status.services]
    notes = [p for p in problems if p]
    if notes:
        out.append("")
        out.extend(notes)
    return "\n".join(out)


def _problem(s: ServiceStatus) -> str | None:
    if s.health is Health.UNHEALTHY:
        probe = (s.health_output or "no output").splitlines()
        first = probe[-1] if probe else "no output"
        return f"{s.service}: unhealthy — last probe exited {s.health_exit_code}: {first}"
    if s.state is ContainerState.EXITED:
        return f"{s.service}: exited with code {s.exit_code}"
    if s.state is ContainerState.RESTARTING:
        return f"{s.service}: restarting (restarted {s.restart_count} times)"
    return None


def emit(value: BaseModel | Sequence[BaseModel], as_json: bool, text: Callable[[], str]) -> None:
    """Print the stable JSON form of a model (or list of models), or its text rendering."""
    if not as_json:
        print(text())
    elif isinstance(value, BaseModel):
        print(json.dumps(value.model_dump(mode="json"), indent=2))
    else:
        print(json.dumps([item.model_dump(mode="json") for item in value], indent=2))
