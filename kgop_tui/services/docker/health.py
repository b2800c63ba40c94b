"""The health gate: wait until services are running and healthy, or say why not."""

from __future__ import annotations

import time
from collections.abc import Mapping

from kgop_tui.errors import OperationFailed
from kgop_tui.models import ContainerState, Health, ServiceStatus
from kgop_tui.services.docker.docker_engine import DockerService
from kgop_tui.text import clean


def _on(current: ServiceStatus, image: str) -> bool:
    """``current`` runs ``image``; a digest pinned in .env may or may not show in the
    container's configuration, depending on the compose version."""
    return current.image == image or current.image == image.partition("@")[0]


def _why(current: ServiceStatus | None, image: str | None) -> str:
    if current is None:
        return "no container"
    if image is not None and not _on(current, image):
        return f"still on {current.image}"
    if current.state is not ContainerState.RUNNING:
        return current.state.value
    if current.short_of_replicas:
        return f"{current.replicas} of {current.desired_replicas} replicas running"
    if _without_database(current):
        return "its /health says the database is " + next(
            p.split(" ", 1)[1] for p in current.degraded if p.startswith("database ")
        )
    last = clean(current.health_output or "").strip().splitlines()[-1:]
    return f"{current.health.value}: {last[0][:160]}" if last else current.health.value


def _state(current: ServiceStatus) -> str:
    """``api healthy``, or ``api up, degraded: garage unhealthy``: the platform's api answers
    200 when a part it needs is down, which is up for the gate but not all well."""
    if current.degraded:
        return f"{current.service} up, degraded: {', '.join(current.degraded)}"
    return f"{current.service} {current.health.value}"


def _without_database(current: ServiceStatus) -> bool:
    """The platform's api answers 200 "degraded" when its database is down (its /health),
    which Docker calls healthy: a platform without its database is not up, whatever Docker
    says (Garage down is: the api serves the graph without its object store)."""
    return any(part.startswith("database ") for part in current.degraded)


def wait_healthy(
    docker: DockerService,
    names: list[str],
    timeout: float,
    images: Mapping[str, str] | None = None,
) -> str:
    """Return "api healthy, web healthy" once every service is up (on ``images``, if given)."""
    deadline = time.monotonic() + timeout
    while True:
        status = {s.service: s for s in docker.project_status().services}
        waiting = []
        for name in names:
            current = status.get(name)
            wanted = (images or {}).get(name)
            if (
                current is None
                or not current.ok
                or current.health is Health.STARTING
                or (wanted is not None and not _on(current, wanted))
                or current.short_of_replicas  # a Swarm service: every replica, not one
                or _without_database(current)
            ):
                waiting.append(name)
        if not waiting:
            return ", ".join(_state(status[n]) for n in names)
        if time.monotonic() > deadline:
            name = waiting[0]
            raise OperationFailed(
                f"{name} is not healthy after {timeout:g}s "
                f"({_why(status.get(name), (images or {}).get(name))})",
                hint=f"see `kgop logs {name}`",
            )
        time.sleep(0.5)
