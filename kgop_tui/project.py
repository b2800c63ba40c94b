"""The compose project's containers as kgop reports them: ``kgop status``, the Health screen.

Named tuples, not pydantic models or dataclasses: ``kgop status`` is called in loops by
scripts and monitoring, and importing pydantic (or ``dataclasses``, which imports
``inspect``) would be most of its cost. Build them with keywords. Their JSON form
(:meth:`ProjectStatus.to_json`) is the documented ``status --json`` document: fields in
declaration order, enums as their values, times in ISO 8601 with ``Z`` for UTC, exactly as
the earlier pydantic models wrote it. Fields are only ever added, never renamed or removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from kgop_tui.kinds import ContainerState, Health


def iso_time(value: datetime | None) -> str | None:
    """``2026-11-26T11:00:00.123456Z``: ISO 8601, ``Z`` for UTC, fraction only when there."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def degraded_components(output: str | None) -> tuple[str, ...]:
    """What the platform api's ``/health`` answer names unhealthy when it says "degraded".

    The api answers 200 then (its ``api/app/main.py``, ``health``), so Docker, whose
    healthcheck only sees the status, calls the container healthy; the answer itself is in
    the healthcheck's output, which the platform's image prints (``curl -f``). Empty for any
    other output."""
    if not output or '"degraded"' not in output:
        return ()
    import json

    try:
        body, _ = json.JSONDecoder().raw_decode(output[output.find("{") :])
    except ValueError:
        return ()
    if not isinstance(body, dict) or body.get("status") != "degraded":
        return ()
    components = body.get("components")
    named = [
        f"{name} {part.get('status', 'unknown')}"
        for name, part in (components.items() if isinstance(components, dict) else ())
        if isinstance(part, dict) and part.get("status") != "healthy"
    ]
    return tuple(named) or ("degraded",)


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class PortBinding(NamedTuple):
    """A published port: ``host_ip:host_port -> container_port/protocol``."""

    container_port: int
    host_ip: str
    host_port: int
    protocol: str = "tcp"

    def to_json(self) -> dict[str, Any]:
        return {
            "container_port": self.container_port,
            "protocol": self.protocol,
            "host_ip": self.host_ip,
            "host_port": self.host_port,
        }


class TaskStatus(NamedTuple):
    """One task (replica) of a Swarm service."""

    slot: int | None
    """The replica's number (None for a global service's task)."""
    state: str
    """Swarm's task state: new, pending, assigned, preparing, starting, running, complete,
    failed, shutdown, rejected, orphaned, remove."""
    desired_state: str
    node: str
    """The node's hostname (or its ID when the node is gone)."""
    container_id: str | None = None
    health: Health = Health.NONE
    """The container's healthcheck status, when the container is on this node."""
    health_output: str | None = None
    message: str = ""
    """Swarm's message, and its error when the task failed."""
    updated_at: datetime | None = None
    image: str = ""
    """The task's image (without its digest)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "state": self.state,
            "desired_state": self.desired_state,
            "node": self.node,
            "container_id": self.container_id,
            "health": self.health.value,
            "health_output": self.health_output,
            "message": self.message,
            "updated_at": iso_time(self.updated_at),
            "image": self.image,
        }


class ServiceStatus(NamedTuple):
    """One container of the compose project, as the health screen and ``status`` show it."""

    service: str
    """Compose service name."""
    container_name: str
    container_id: str
    """Short (12 characters) container id."""
    state: ContainerState
    image: str
    health: Health = Health.NONE
    health_output: str | None = None
    """The last healthcheck's output."""
    health_exit_code: int | None = None
    exit_code: int | None = None
    """Exit code, when exited."""
    restart_count: int = 0
    version: str | None = None
    """The image's version label."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    uptime_seconds: int | None = None
    """Seconds running; None if not."""
    ports: list[PortBinding] = []  # noqa: RUF012 (never mutated; copies use replace)
    stats: dict[str, float] | None = None
    """``status --stats`` only: see :mod:`kgop_tui.resources`."""
    replicas: int | None = None
    """Swarm only: running tasks (None in compose mode)."""
    desired_replicas: int | None = None
    """Swarm only: the tasks the service should have."""
    tasks: list[TaskStatus] | None = None
    """Swarm only: the service's current tasks, by slot."""

    @property
    def ok(self) -> bool:
        """Running and not unhealthy: what a user would call fine."""
        return self.state is ContainerState.RUNNING and self.health in (Health.HEALTHY, Health.NONE)

    @property
    def degraded(self) -> tuple[str, ...]:
        """Running and healthy to Docker, but its last answer says "degraded" (the platform
        api's /health): the parts it names unhealthy, e.g. ``("garage unhealthy",)``."""
        return degraded_components(self.health_output) if self.ok else ()

    @property
    def short_of_replicas(self) -> bool:
        """Swarm: fewer replicas running than the service should have."""
        return self.replicas is not None and self.replicas < (self.desired_replicas or 0)

    def replace(self, **changes: Any) -> ServiceStatus:
        """A copy with ``changes``."""
        return self._replace(**changes)

    def to_json(self, *, with_stats: bool = True) -> dict[str, Any]:
        """The documented JSON object (``stats`` only when ``with_stats``)."""
        doc: dict[str, Any] = {
            "service": self.service,
            "container_name": self.container_name,
            "container_id": self.container_id,
            "state": self.state.value,
            "health": self.health.value,
            "health_output": self.health_output,
            "health_exit_code": self.health_exit_code,
            "exit_code": self.exit_code,
            "restart_count": self.restart_count,
            "image": self.image,
            "version": self.version,
            "started_at": iso_time(self.started_at),
            "finished_at": iso_time(self.finished_at),
            "uptime_seconds": self.uptime_seconds,
            "ports": [port.to_json() for port in self.ports],
        }
        if self.replicas is not None:  # Swarm: additive, absent in compose mode
            doc["replicas"] = self.replicas
            doc["desired_replicas"] = self.desired_replicas
            doc["tasks"] = [task.to_json() for task in self.tasks or []]
        if with_stats:
            doc["stats"] = self.stats
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ServiceStatus:
        """Read the JSON object back (values as :meth:`to_json` writes them, or typed)."""
        values = dict(doc)
        values["state"] = ContainerState(values["state"])
        values["health"] = Health(values.get("health", Health.NONE))
        values["started_at"] = _time(values.get("started_at"))
        values["finished_at"] = _time(values.get("finished_at"))
        values["ports"] = [
            port if isinstance(port, PortBinding) else PortBinding(**port)
            for port in values.get("ports") or []
        ]
        if values.get("tasks") is not None:
            values["tasks"] = [
                task
                if isinstance(task, TaskStatus)
                else TaskStatus(**{
                    **task,
                    "health": Health(task.get("health", Health.NONE)),
                    "updated_at": _time(task.get("updated_at")),
                })
                for task in values["tasks"]
            ]  # fmt: skip
        return cls(**values)


class ProjectStatus(NamedTuple):
    """All services of a compose project at one moment."""

    project: str
    services: list[ServiceStatus]

    def replace(self, **changes: Any) -> ProjectStatus:
        """A copy with ``changes``."""
        return self._replace(**changes)

    def to_json(self, *, with_stats: bool = True) -> dict[str, Any]:
        """The documented ``kgop status --json`` document."""
        return {
            "project": self.project,
            "services": [s.to_json(with_stats=with_stats) for s in self.services],
        }


class StatusUpdate(NamedTuple):
    """The project's status after a change; ``changed`` is the service that changed."""

    status: ProjectStatus
    changed: ServiceStatus | None
    reason: str
