"""Pydantic models shared by services, the CLI and the TUI.

Services return these, never SDK objects. Their JSON form is the stable ``--json`` output
documented in the README: fields are only ever added, never renamed or removed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class ContainerState(StrEnum):
    """Docker's container states."""

    CREATED = "created"
    RUNNING = "running"
    RESTARTING = "restarting"
    PAUSED = "paused"
    EXITED = "exited"
    REMOVING = "removing"
    DEAD = "dead"
    MISSING = "missing"


class Health(StrEnum):
    """Healthcheck status; ``none`` when the container has no healthcheck."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    STARTING = "starting"
    NONE = "none"


class PortBinding(BaseModel):
    """A published port: ``host_ip:host_port -> container_port/protocol``."""

    model_config = ConfigDict(frozen=True)

    container_port: int
    protocol: str = "tcp"
    host_ip: str
    host_port: int


class ServiceStatus(BaseModel):
    """One container of the compose project, as the health screen and ``status`` show it."""

    model_config = ConfigDict(frozen=True)

    service: str = Field(description="Compose service name.")
    container_name: str
    container_id: str = Field(description="Short (12 characters) container id.")
    state: ContainerState
    health: Health = Health.NONE
    health_output: str | None = Field(
        default=None, description="Output of the last healthcheck probe (why it is unhealthy)."
    )
    health_exit_code: int | None = Field(default=None, description="Exit code of that probe.")
    exit_code: int | None = Field(default=None, description="Exit code, when exited.")
    restart_count: int = 0
    image: str
    version: str | None = Field(default=None, description="The image's version label.")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    uptime_seconds: int | None = Field(default=None, description="Seconds running; None if not.")
    ports: list[PortBinding] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Running and not unhealthy: what a user would call fine."""
        return self.state is ContainerState.RUNNING and self.health in (
            Health.HEALTHY,
            Health.NONE,
        )


class ProjectStatus(BaseModel):
    """All services of a compose project at one moment."""

    model_config = ConfigDict(frozen=True)

    project: str
    services: list[ServiceStatus]
