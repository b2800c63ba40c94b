"""The engine port: project status with one problem of each kind, logs, lifecycle."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from kgop_tui.errors import (
    DockerUnavailable,
    KgopError,
    UnknownService,
)
from kgop_tui.facts import HostFacts
from kgop_tui.models import (
    ContainerState,
    Health,
    PortBinding,
    ProjectStatus,
    ServiceStatus,
    StatusUpdate,
)
from kgop_tui.project import TaskStatus
from kgop_tui.services.docker.logs import LogBatch, LogChunk
from kgop_tui.tls import CertificateStatus
from tests.tui.fakes.clock import NOW


def service(
    name: str,
    state: ContainerState = ContainerState.RUNNING,
    health: Health = Health.HEALTHY,
    **extra: object,
) -> ServiceStatus:
    values: dict[str, object] = {
        "service": name,
        "container_name": f"kg-{name}-1",
        "container_id": (name.encode().hex() + "0" * 12)[:12],
        "state": state,
        "health": health,
        "image": f"kg/{name}:0.6.0",
        "version": "0.6.0",
        "started_at": NOW - timedelta(hours=3, minutes=12),
        "uptime_seconds": 11520,
    }
    values.update(extra)
    return ServiceStatus.from_json(values)


def sample_status() -> ProjectStatus:
    return ProjectStatus(
        project="kg",
        services=[
            service(
                "api",
                health=Health.UNHEALTHY,
                health_exit_code=7,
                health_output="curl: (7) Failed to connect to localhost port 8000",
                ports=[PortBinding(container_port=8000, host_ip="127.0.0.1", host_port=8000)],
            ),
            service("garage", health=Health.NONE),
            service("postgres"),
            service(
                "web",
                state=ContainerState.EXITED,
                health=Health.NONE,
                exit_code=137,
                started_at=None,
                uptime_seconds=None,
                restart_count=2,
            ),
        ],
    )


def swarm_status() -> ProjectStatus:
    """The sample project as a Swarm stack in the middle of a rolling update of api: one
    replica already on the new image, the other still starting, on two nodes."""

    def task(
        slot: int, state: str, health: Health, node: str, image: str, **extra: str
    ) -> TaskStatus:
        return TaskStatus(slot=slot, state=state, desired_state="running", node=node,
                          health=health, updated_at=NOW - timedelta(minutes=5), image=image,
                          **extra)  # fmt: skip

    tasks = [
        task(1, "running", Health.HEALTHY, "node-a", "kg/api:0.6.0"),
        task(2, "starting", Health.STARTING, "node-b", "kg/api:0.6.0", message="starting",
             health_output="curl: (7) Failed to connect to localhost port 8000"),
    ]  # fmt: skip
    sample = sample_status()
    api = sample.services[0].replace(
        health=Health.HEALTHY, health_exit_code=None, health_output=None, replicas=1,
        desired_replicas=2, tasks=tasks,
    )  # fmt: skip
    return sample.replace(services=[api, *sample.services[1:]])


class _Handle:
    def __init__(self) -> None:
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()


def sample_stats() -> dict[str, dict[str, float]]:
    """Figures per service, as one engine sample gives them."""

    def figures(cpu: float, mib: int) -> dict[str, float]:
        return {
            "cpu_percent": cpu, "memory_bytes": mib * 2**20, "memory_limit_bytes": 2 * 2**30,
            "net_rx_bytes": 0, "net_tx_bytes": 0, "block_read_bytes": 0, "block_write_bytes": 0,
        }  # fmt: skip

    return {"api": figures(12.5, 180), "garage": figures(0.4, 24), "postgres": figures(3.1, 96)}


class FakeStats:
    """Sends one sample of each tracked service's figures, from a thread (as the real
    streams do); records what it was asked to track."""

    def __init__(
        self, on_sample: Callable[[str, dict[str, float]], None], stats: dict[str, dict[str, float]]
    ) -> None:
        self.on_sample = on_sample
        self.stats = stats
        self.tracked: dict[str, str] = {}
        self.stopped = False

    def track(self, containers: dict[str, str]) -> None:
        new = {cid: svc for cid, svc in containers.items() if cid not in self.tracked}
        self.tracked = dict(containers)

        def send() -> None:
            for service in new.values():
                if service in self.stats and not self.stopped:
                    self.on_sample(service, self.stats[service])

        threading.Thread(target=send, daemon=True).start()

    def emit(self, service: str, figures: dict[str, float]) -> None:
        threading.Thread(target=self.on_sample, args=(service, figures), daemon=True).start()

    def stop(self) -> None:
        self.stopped = True


class FakeLogSource:
    """Hands out prepared batches, then nothing; records that it was closed. An exception
    pushed with :meth:`fail` is raised by ``get`` in its turn (a stream that dies)."""

    def __init__(self, batches: list[LogBatch]) -> None:
        self._batches: list[LogBatch | Exception] = list(batches)
        self.closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        pass

    def get(self, timeout: float | None = None) -> LogBatch | None:
        with self._lock:
            if self._batches:
                item = self._batches.pop(0)
                if isinstance(item, Exception):
                    raise item
                return item
        if timeout:
            threading.Event().wait(min(timeout, 0.05))
        return None

    def push(self, batch: LogBatch) -> None:
        with self._lock:
            self._batches.append(batch)

    def fail(self, error: Exception) -> None:
        with self._lock:
            self._batches.append(error)

    def close(self) -> None:
        self.closed = True


def log_batch(lines: list[tuple[str, str]], start: int = 0) -> LogBatch:
    chunks = []
    for n, (svc, text) in enumerate(lines, start):
        stamp = f"2026-11-26T12:00:{n % 60:02d}.{n:09d}Z"
        chunks.append(LogChunk(svc, 2 if "ERROR" in text else 1, f"{stamp} {text}\n"))
    return LogBatch(items=list(chunks))


@dataclass
class FakeEngine:
    status: ProjectStatus = field(default_factory=sample_status)
    tls: CertificateStatus | None = None
    facts: HostFacts = field(
        default_factory=lambda: HostFacts(
            kg_home_free=37 * 2**30, docker_root_free=37 * 2**30, database_bytes=412 * 2**20,
            newest_backup_age=5 * 3600, certificate_days=None,
        )
    )  # fmt: skip
    stats: dict[str, dict[str, float]] = field(default_factory=sample_stats)
    stats_sources: list[FakeStats] = field(default_factory=list)
    watch_handles: list[_Handle] = field(default_factory=list)
    down: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)
    sources: list[FakeLogSource] = field(default_factory=list)
    log_lines: list[tuple[str, str]] = field(
        default_factory=lambda: [
            ("api", "GET /health 200"),
            ("postgres", "checkpoint starting: time"),
            ("api", "POST /v1/graph/query 200 12ms"),
            ("web", "ERROR upstream timed out"),
            ("api", "GET /health 200"),
            ("garage", "layout version 1 applied"),
        ]
    )
    _watchers: list[tuple[Callable[[StatusUpdate], None], Callable[[KgopError], None]]] = field(
        default_factory=list
    )

    def _check(self) -> None:
        if self.down:
            raise DockerUnavailable(
                "Cannot reach the Docker engine at unix:///var/run/docker.sock (connection "
                "refused)",
                hint="start Docker, or set DOCKER_HOST to the engine's socket",
            )

    def project_status(self) -> ProjectStatus:
        self._check()
        return self.status

    def certificate(self) -> CertificateStatus | None:
        return self.tls

    def host_facts(self) -> HostFacts:
        # As the real one: what needs the engine is left out when it is down, never raised.
        if self.down:
            return HostFacts(kg_home_free=self.facts.kg_home_free)
        return self.facts

    def follow_stats(self, on_sample: Callable[[str, dict[str, float]], None]) -> FakeStats:
        source = FakeStats(on_sample, self.stats)
        self.stats_sources.append(source)
        return source

    def watch(
        self, on_update: Callable[[StatusUpdate], None], on_error: Callable[[KgopError], None]
    ) -> _Handle:
        self._watchers.append((on_update, on_error))
        self.emit()
        handle = _Handle()
        self.watch_handles.append(handle)
        return handle

    def emit(self) -> None:
        """Deliver the current state (or the outage) to every watcher, from a thread."""
        for on_update, on_error in self._watchers:
            if self.down:
                error = DockerUnavailable("Cannot reach the Docker engine", hint="start Docker")
                threading.Thread(target=on_error, args=(error,)).start()
            else:
                update = StatusUpdate(status=self.status, changed=None, reason="snapshot")
                threading.Thread(target=on_update, args=(update,)).start()

    def follow_logs(self, services: list[str] | None, tail: int) -> FakeLogSource:
        self._check()
        known = {s.service for s in self.status.services}
        unknown = [s for s in services or [] if s not in known]
        if unknown:
            raise UnknownService(f"No service named {unknown[0]}", hint=", ".join(sorted(known)))
        lines = [(s, t) for s, t in self.log_lines if not services or s in services]
        source = FakeLogSource([log_batch(lines)])
        self.sources.append(source)
        return source

    def _lifecycle(self, verb: str, name: str) -> None:
        self._check()
        if name not in {s.service for s in self.status.services}:
            raise UnknownService(f"No service named {name}", hint="known: api, web")
        self.calls.append((verb, name))

    def restart(self, service: str) -> None:
        self._lifecycle("restart", service)

    def stop(self, service: str) -> None:
        self._lifecycle("stop", service)

    def start(self, service: str) -> None:
        self._lifecycle("start", service)
