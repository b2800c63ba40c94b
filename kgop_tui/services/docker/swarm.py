"""The platform as a Docker Swarm stack: services and their tasks instead of containers.

The orchestrator is detected, not configured: when the engine is a Swarm manager and has
services labelled ``com.docker.stack.namespace=<COMPOSE_PROJECT_NAME>`` (what ``docker
stack deploy`` sets), kgop reports those services under their compose names (``api``, not
``kg_api``), with running and desired replicas and their tasks. Everything is read through
the same Engine API client as compose mode (services, tasks, nodes; the local containers'
inspect documents for health). Restarts are ``docker service update --force``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kgop_tui.errors import OperationFailed
from kgop_tui.kinds import ContainerState, Health
from kgop_tui.project import PortBinding, ProjectStatus, ServiceStatus, TaskStatus
from kgop_tui.services.docker.docker_engine import parse_docker_time, refuse_unknown

if TYPE_CHECKING:
    from kgop_tui.services.docker.docker_engine import DockerService

NAMESPACE_LABEL = "com.docker.stack.namespace"
VERSION_LABEL = "org.opencontainers.image.version"
LIVE_STATES = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting")
FAILED_STATES = ("failed", "rejected", "orphaned")


class SwarmStack:
    """A stack's services and tasks, read from a Swarm manager."""

    def __init__(self, docker: DockerService) -> None:
        self.docker = docker
        self.namespace = docker.project

    # ---- reading -------------------------------------------------------------------------

    def services(self) -> list[dict[str, Any]]:
        """The stack's service documents ([] when the engine is no Swarm manager)."""
        from kgop_tui.services.docker.engine_api import EngineRefused

        filters = json.dumps({"label": [f"{NAMESPACE_LABEL}={self.namespace}"]})
        try:
            found = self.docker.get_raw("/services", filters=filters, status="true")
        except EngineRefused as exc:
            if exc.status == 503:  # "This node is not a swarm manager": compose mode
                return []
            raise
        return list(found or [])

    def name_of(self, doc: dict[str, Any]) -> str:
        """``kg_api`` → ``api``: the compose name of a stack service."""
        name = str((doc.get("Spec") or {}).get("Name", ""))
        prefix = f"{self.namespace}_"
        return name[len(prefix) :] if name.startswith(prefix) else name

    def tasks(self, service_ids: list[str]) -> list[dict[str, Any]]:
        if not service_ids:
            return []
        filters = json.dumps({"service": service_ids})
        return list(self.docker.get("/tasks", filters=filters) or [])

    def nodes(self) -> dict[str, str]:
        """Node ID → hostname."""
        return {
            str(n.get("ID")): str((n.get("Description") or {}).get("Hostname") or n.get("ID"))
            for n in self.docker.get("/nodes") or []
        }

    def project_status(self, docs: list[dict[str, Any]] | None = None) -> ProjectStatus:
        """Every service of the stack with its replicas and current tasks, by name."""
        docs = self.services() if docs is None else docs
        tasks = self.tasks([str(d["ID"]) for d in docs])
        nodes = self.nodes()
        by_service: dict[str, list[dict[str, Any]]] = {}
        for task in tasks:
            by_service.setdefault(str(task.get("ServiceID")), []).append(task)
        services = [
            self._service_status(doc, by_service.get(str(doc["ID"]), []), nodes) for doc in docs
        ]
        services.sort(key=lambda s: s.service)
        return ProjectStatus(project=self.namespace, services=services)

    def _task_status(
        self, task: dict[str, Any], nodes: dict[str, str], labels: dict[str, str]
    ) -> TaskStatus:
        """One task; ``labels`` gets its local container's labels (one inspect per task)."""
        status = task.get("Status") or {}
        container_id = (status.get("ContainerStatus") or {}).get("ContainerID") or None
        health, output = Health.NONE, None
        if container_id and status.get("State") == "running":
            doc = self.docker.inspect_container(str(container_id))  # None: on another node
            labels.update(((doc or {}).get("Config") or {}).get("Labels") or {})
            probe = ((doc or {}).get("State") or {}).get("Health") or {}
            if probe:
                health = Health(probe.get("Status", "none"))
                log = probe.get("Log") or []
                if log and isinstance(log[-1].get("Output"), str):
                    output = log[-1]["Output"].strip()
        message = str(status.get("Message") or "")
        if status.get("Err"):
            message = f"{message}: {status['Err']}" if message else str(status["Err"])
        node_id = str(task.get("NodeID") or "")
        spec = ((task.get("Spec") or {}).get("ContainerSpec") or {}).get("Image", "")
        return TaskStatus(
            image=str(spec).split("@", 1)[0],
            slot=task.get("Slot"),
            state=str(status.get("State", "")),
            desired_state=str(task.get("DesiredState", "")),
            node=nodes.get(node_id, node_id),
            container_id=str(container_id)[:12] if container_id else None,
            health=health,
            health_output=output,
            message=message,
            updated_at=parse_docker_time(status.get("Timestamp")),
        )

    def _service_status(
        self, doc: dict[str, Any], tasks: list[dict[str, Any]], nodes: dict[str, str]
    ) -> ServiceStatus:
        spec = doc.get("Spec") or {}
        container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
        # Current tasks: the ones swarm wants running (the others are history).
        current = [t for t in tasks if t.get("DesiredState") in ("running", "ready")]
        current.sort(key=lambda t: (t.get("Slot") or 0, str(t.get("NodeID"))))
        labels: dict[str, str] = dict(container.get("Labels") or {})
        views = [self._task_status(t, nodes, labels) for t in current]
        running = [v for v in views if v.state == "running"]
        counts = doc.get("ServiceStatus") or {}
        replicated = (spec.get("Mode") or {}).get("Replicated")
        desired = int(counts.get("DesiredTasks", (replicated or {}).get("Replicas", len(views))))
        if running:
            state = ContainerState.RUNNING
        elif any(v.state in LIVE_STATES for v in views):
            state = ContainerState.CREATED
        else:
            state = ContainerState.EXITED if tasks else ContainerState.MISSING
        sick = [v for v in running if v.health is Health.UNHEALTHY]
        if sick:
            health, output = Health.UNHEALTHY, sick[0].health_output
        elif any(v.health is Health.STARTING for v in running):
            health, output = Health.STARTING, None
        elif running and all(v.health is Health.HEALTHY for v in running):
            health, output = Health.HEALTHY, running[0].health_output
        else:
            health, output = Health.NONE, None
        started = [v.updated_at for v in running if v.updated_at is not None]
        since = min(started) if started else None
        now = self.docker.now()
        image = str(container.get("Image", "")).split("@", 1)[0]
        ports = [
            PortBinding(
                container_port=int(p.get("TargetPort", 0)),
                protocol=str(p.get("Protocol", "tcp")),
                host_ip="0.0.0.0",
                host_port=int(p.get("PublishedPort", 0)),
            )
            for p in (doc.get("Endpoint") or {}).get("Ports") or []
        ]
        return ServiceStatus(
            service=self.name_of(doc),
            container_name=str(spec.get("Name", "")),
            container_id=str(doc.get("ID", ""))[:12],
            state=state,
            image=image,
            health=health,
            health_output=output,
            restart_count=sum(
                1 for t in tasks if (t.get("Status") or {}).get("State") in FAILED_STATES
            ),
            version=labels.get(VERSION_LABEL),
            started_at=since,
            uptime_seconds=max(0, int((now - since).total_seconds())) if since else None,
            ports=ports,
            replicas=len(running),
            desired_replicas=desired,
            tasks=views,
        )

    # ---- logs and restarts ---------------------------------------------------------------

    def log_targets(
        self, services: list[str] | None = None, docs: list[dict[str, Any]] | None = None
    ) -> list[tuple[str, str]]:
        """``("api.1", "task:<id>")`` for each current task of the named (or every) service
        (``docs``: the stack's service documents, when already read): replica logs are read
        through the manager, whichever node runs them."""
        docs = self.services() if docs is None else docs
        if services:
            refuse_unknown(services, {self.name_of(d) for d in docs}, f"stack '{self.namespace}'")
            docs = [d for d in docs if self.name_of(d) in services]
        names = {str(d["ID"]): self.name_of(d) for d in docs}
        targets = []
        for task in self.tasks(list(names)):
            if task.get("DesiredState") not in ("running", "ready"):
                continue
            slot = task.get("Slot")
            label = names[str(task.get("ServiceID"))]
            targets.append((f"{label}.{slot}" if slot else label, f"task:{task['ID']}"))
        return sorted(targets)

    def force_update(self, service: str) -> None:
        """Restart a service's tasks, the Swarm way (``docker service update --force``):
        rolling, as its update_config says."""
        found = self._service(service)
        with self.docker.translate_errors():
            found.force_update()

    def _service(self, name: str) -> Any:
        """The SDK's Service object of a stack service (UnknownService when there is none)."""
        every = self.services()
        refuse_unknown([name], {self.name_of(d) for d in every}, f"stack '{self.namespace}'")
        doc = next(d for d in every if self.name_of(d) == name)
        with self.docker.translate_errors():
            return self.docker.client().services.get(str(doc["ID"]))  # type: ignore[no-untyped-call]

    # ---- upgrades ----------------------------------------------------------------------

    def update_image(self, service: str, image: str) -> None:
        """``docker service update --image``: Swarm replaces the tasks as the service's
        update_config says (start-first, one at a time, rolled back on failure)."""
        found = self._service(service)
        spec = ((found.attrs.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec")
        pinned = str((spec or {}).get("Image", ""))
        if image in (pinned, pinned.split("@", 1)[0]):
            return  # already there (Swarm's own rollback may have put it back)
        with self.docker.translate_errors():
            found.update(image=image)

    def scale(self, service: str, replicas: int) -> int:
        """Set the replicas; return the number it had."""
        found = self._service(service)
        mode = (found.attrs.get("Spec") or {}).get("Mode") or {}
        before = int((mode.get("Replicated") or {}).get("Replicas", 1))
        with self.docker.translate_errors():
            found.scale(replicas)
        return before

    def wait_updated(
        self,
        services: dict[str, str],
        timeout: float,
        log: Callable[[str], None],
        rolling_back: bool = False,
    ) -> str:
        """Until every service runs all its replicas on its image, healthy; Swarm's own
        rollback (failure_action) or a pause is a failure, reported with Swarm's message
        (``rolling_back``: waiting for the previous images, Swarm's rollback is the way)."""
        deadline = time.monotonic() + timeout
        said: dict[str, str] = {}
        failed: tuple[str, ...] = ("rollback_paused", "paused")
        finished: tuple[str, ...] = ("", "completed")
        if rolling_back:  # Swarm's own rollback is how the previous images come back
            finished += ("rollback_completed",)
        else:
            failed += ("rollback_started", "rollback_completed")
        while True:
            docs = {self.name_of(d): d for d in self.services()}
            status = {s.service: s for s in self.project_status(list(docs.values())).services}
            waiting = []
            for name, image in services.items():
                update = (docs.get(name) or {}).get("UpdateStatus") or {}
                state = str(update.get("State", ""))
                if state in failed:
                    raise OperationFailed(
                        f"Swarm stopped the update of {name} ({state}): "
                        f"{update.get('Message') or 'see docker service ps'}",
                        hint=f"see `kgop logs {name}` and `docker service ps "
                        f"{self.namespace}_{name}`",
                    )
                current = status.get(name)
                tasks = (current.tasks or []) if current else []
                bare = image.split("@", 1)[0]  # a task's image, as reported, has no digest
                updated = sum(1 for t in tasks if t.state == "running" and t.image == bare)
                desired = current.desired_replicas or 0 if current else 0
                line = f"   {name}: {updated}/{desired} replicas on {image}"
                if said.get(name) != line:
                    log(line)
                    said[name] = line
                healthy = current is not None and current.health in (Health.HEALTHY, Health.NONE)
                done = state in finished and updated == desired and desired > 0
                if not (done and healthy and len(tasks) == desired):
                    waiting.append(name)
            if not waiting:
                return ", ".join(
                    f"{n} {status[n].replicas}/{status[n].desired_replicas} on {i}"
                    for n, i in services.items()
                )
            if time.monotonic() > deadline:
                raise OperationFailed(
                    f"{waiting[0]} did not finish updating within {timeout:g}s",
                    hint=f"see `docker service ps {self.namespace}_{waiting[0]}`",
                )
            time.sleep(1.0)

    def refuse_lifecycle(self, verb: str, service: str) -> OperationFailed:
        return OperationFailed(
            f"{verb.capitalize()} of {service} is not how a Swarm service is run",
            hint=f"scale it instead: docker service scale {self.namespace}_{service}=N",
        )
