"""The Docker engine service: discovery and status of the compose project's containers.

Blocking docker SDK calls live here; async callers wrap them in ``asyncio.to_thread``.
SDK objects never leave this module: everything is translated into models.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kgop_tui.errors import DockerUnavailable, OperationFailed, UnknownService
from kgop_tui.kinds import ContainerState, Health
from kgop_tui.project import PortBinding, ProjectStatus, ServiceStatus
from kgop_tui.services.docker.engine_api import EngineAPI, EngineRefused, supported

if TYPE_CHECKING:
    import docker

    from kgop_tui.services.docker.swarm import SwarmStack
    from kgop_tui.settings import Settings

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
NUMBER_LABEL = "com.docker.compose.container-number"
VERSION_LABEL = "org.opencontainers.image.version"
_UNSET_TIME = "0001-01-01T00:00:00Z"
_FRACTION = re.compile(r"\.(\d{6})\d*")


def utcnow() -> datetime:
    """The current time, timezone-aware (the default clock of the services)."""
    return datetime.now(UTC)


def parse_docker_time(value: str | None) -> datetime | None:
    """Parse Docker's RFC 3339 times (nanoseconds, ``Z``); the zero time means unset."""
    if not value or value.startswith("0001-01-01"):
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1), value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _ports(attrs: Mapping[str, Any]) -> list[PortBinding]:
    published = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    out: list[PortBinding] = []
    for spec, bindings in sorted(published.items()):
        port, _, proto = spec.partition("/")
        for binding in bindings or []:
            out.append(
                PortBinding(
                    container_port=int(port),
                    protocol=proto or "tcp",
                    host_ip=binding.get("HostIp") or "0.0.0.0",
                    host_port=int(binding.get("HostPort") or 0),
                )
            )
    return out


def status_from_inspect(attrs: Mapping[str, Any], now: datetime) -> ServiceStatus:
    """Translate one ``docker inspect`` document into a :class:`ServiceStatus`."""
    config = attrs.get("Config") or {}
    labels = config.get("Labels") or {}
    state = attrs.get("State") or {}
    health_doc = state.get("Health") or {}
    probes = health_doc.get("Log") or []
    last_probe = probes[-1] if probes else {}
    status = ContainerState(state.get("Status", "dead"))
    started = parse_docker_time(state.get("StartedAt"))
    running = status in (ContainerState.RUNNING, ContainerState.PAUSED)
    uptime = max(0, int((now - started).total_seconds())) if running and started else None
    output = last_probe.get("Output")
    return ServiceStatus(
        service=labels.get(SERVICE_LABEL, attrs.get("Name", "").lstrip("/")),
        container_name=attrs.get("Name", "").lstrip("/"),
        container_id=str(attrs.get("Id", ""))[:12],
        state=status,
        health=Health(health_doc.get("Status", "none")),
        health_output=output.strip() if isinstance(output, str) else None,
        health_exit_code=last_probe.get("ExitCode"),
        exit_code=state.get("ExitCode")
        if status in (ContainerState.EXITED, ContainerState.DEAD)
        else None,
        restart_count=int(attrs.get("RestartCount") or 0),
        image=str(config.get("Image", "")),
        version=labels.get(VERSION_LABEL),
        started_at=started,
        finished_at=parse_docker_time(state.get("FinishedAt")) if not running else None,
        uptime_seconds=uptime,
        ports=_ports(attrs),
    )


class DockerService:
    """The compose project as the Docker engine sees it."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.project = settings.compose_project_name
        self._clock = clock
        self._client: docker.DockerClient | None = None
        self._api = EngineAPI(self.engine_address)

    @property
    def engine_address(self) -> str:
        """Where the engine is expected (for messages)."""
        return self.settings.docker_host

    def unavailable(self, detail: str) -> DockerUnavailable:
        """The error for an unreachable engine, naming the address it tried."""
        return DockerUnavailable(
            f"Cannot reach the Docker engine at {self.engine_address} ({detail})",
            hint="start Docker, or set DOCKER_HOST to the engine's socket",
        )

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        """Turn Engine API, docker SDK and transport errors into kgop errors at the boundary
        (the SDK's error types are looked at only when the SDK was loaded)."""
        try:
            yield
        except EngineRefused as exc:
            if exc.status == 404:
                raise OperationFailed(
                    f"Docker could not find it: {exc.message}",
                    hint="run `kgop status` to see what exists",
                ) from None
            raise OperationFailed(
                f"The Docker engine refused the request: {exc.message}", hint="see the engine's log"
            ) from None
        except TimeoutError:
            raise self.unavailable("no answer in time") from None
        except (ConnectionError, FileNotFoundError, PermissionError, socket.gaierror) as exc:
            raise self.unavailable(_short_reason(exc)) from None
        except Exception as exc:
            errors = sys.modules.get("docker.errors")
            transport = sys.modules.get("requests.exceptions")
            if errors is not None and isinstance(exc, errors.NotFound):
                raise OperationFailed(
                    f"Docker could not find it: {exc.explanation or exc}",
                    hint="run `kgop status` to see what exists",
                ) from None
            if errors is not None and isinstance(exc, errors.APIError):
                raise OperationFailed(
                    f"The Docker engine refused the request: {exc.explanation or exc}",
                    hint="see the engine's log",
                ) from None
            if transport is not None and isinstance(exc, transport.Timeout):
                raise self.unavailable("no answer in time") from None
            if transport is not None and isinstance(exc, transport.ConnectionError):
                raise self.unavailable(_short_reason(exc)) from None
            if errors is not None and isinstance(exc, errors.DockerException):
                raise self.unavailable(_short_reason(exc)) from None
            raise

    def client(self) -> docker.DockerClient:
        """The SDK client, connected on first use (raises DockerUnavailable): events, exec,
        lifecycle. Listing and inspecting use :meth:`get` and no SDK."""
        if self._client is None:
            import docker

            with self.translate_errors():
                self._client = docker.DockerClient(base_url=self.engine_address, timeout=15)
        return self._client

    def get(self, path: str, **params: Any) -> Any:
        """GET an Engine API path (JSON), on the standard library where the address allows;
        every error a kgop error."""
        with self.translate_errors():
            return self.get_raw(path, **params)

    def get_raw(self, path: str, **params: Any) -> Any:
        """As :meth:`get`, but an error status stays an :class:`EngineRefused` (with its
        status) for callers that expect one; an unreachable engine is still DockerUnavailable."""
        try:
            if supported(self.engine_address):
                return self._api.get(path, **params)
            sdk = self.client().api
            response = sdk.get(f"{sdk.base_url}{path}", params=params)
            if response.status_code >= 400:
                raise EngineRefused(response.status_code, response.text[:300])
            return response.json()
        except EngineRefused:
            raise
        except Exception:
            with self.translate_errors():
                raise

    def now(self) -> datetime:
        """This service's clock (UTC)."""
        return self._clock()

    def swarm(self) -> SwarmStack:
        """The project as a Swarm stack (empty when it is a compose project)."""
        from kgop_tui.services.docker.swarm import SwarmStack

        return SwarmStack(self)

    def is_stack(self) -> bool:
        """Whether the project is deployed as a Swarm stack (``docker stack deploy``)."""
        return bool(self.swarm().services())

    def close(self) -> None:
        """Close the connections."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def _project_filter(self) -> dict[str, Any]:
        return {"label": [f"{PROJECT_LABEL}={self.project}"]}

    def inspect_project(self) -> list[dict[str, Any]]:
        """``docker inspect`` documents of the project's service containers (no one-offs)."""
        filters = json.dumps(self._project_filter())
        summaries = self.get("/containers/json", all=1, filters=filters)
        docs: list[dict[str, Any]] = []
        for summary in summaries or []:
            labels = summary.get("Labels") or {}
            if labels.get(ONEOFF_LABEL, "False") == "True":
                continue
            doc = self.inspect_container(str(summary["Id"]))
            if doc is not None:  # None: removed between the list and the inspect
                docs.append(doc)
        return docs

    def inspect_container(self, container_id: str) -> dict[str, Any] | None:
        """One container's inspect document; None when it no longer exists."""
        try:
            doc: dict[str, Any] = self.get(f"/containers/{container_id}/json")
        except OperationFailed as exc:
            if exc.message.startswith("Docker could not find it"):
                return None
            raise
        return doc

    def exec_in_service(self, service: str, argv: list[str]) -> tuple[int, str] | None:
        """Run ``argv`` in the service's running container: (exit code, output); None when
        the service has no running container."""
        running = [s for s in self.project_status().services if s.service == service and s.ok]
        if not running:
            return None
        with self.translate_errors():
            container = self.client().containers.get(running[0].container_id)
            code, output = container.exec_run(argv)
        text = output.decode(errors="replace") if isinstance(output, bytes) else ""
        return int(code or 0), text

    def reload_nginx(self) -> bool:
        """Reload nginx in place, when it runs (False when it does not): new certificates,
        and fresh addresses of api and web (it resolves them when it loads its configuration).
        """
        result = self.exec_in_service("nginx", ["nginx", "-s", "reload"])
        if result is None:
            return False
        code, text = result
        if code != 0:
            raise OperationFailed(
                f"nginx refused to reload: {text.strip()[-200:]}",
                hint="check the configuration with `docker compose exec nginx nginx -t`",
            )
        return True

    def status_of(self, doc: dict[str, Any]) -> ServiceStatus:
        """Translate an inspect document with this service's clock."""
        return status_from_inspect(doc, self._clock())

    def is_project_container(self, doc: Mapping[str, Any]) -> bool:
        labels = (doc.get("Config") or {}).get("Labels") or {}
        return bool(
            labels.get(PROJECT_LABEL) == self.project
            and labels.get(ONEOFF_LABEL, "False") != "True"
        )

    def service_containers(self, services: list[str] | None = None) -> list[tuple[str, str]]:
        """(service, container id) pairs, for the given services or all of them; on a Swarm
        stack ("api.1", "task:<id>") for each replica.

        An unknown service name is refused with the list of the project's services.
        """
        docs = self.inspect_project()
        # No compose container: the project may be a Swarm stack (asked only then, so that
        # compose mode costs no extra request).
        if not docs:
            swarm = self.swarm()
            stack = swarm.services()
            if stack:
                return swarm.log_targets(services, stack)
        found = [(status_from_inspect(doc, self._clock()).service, str(doc["Id"])) for doc in docs]
        if services:
            refuse_unknown(services, {service for service, _ in found}, f"project '{self.project}'")
            found = [pair for pair in found if pair[0] in services]
        return sorted(found)

    def sample_stats(self, status: ProjectStatus) -> ProjectStatus:
        """The status with one stats sample of each running container (``docker stats
        --no-stream`` numbers; the engine takes about a second to make each, in parallel)."""
        from concurrent.futures import ThreadPoolExecutor

        from kgop_tui.resources import stats_from_sample

        running = [s for s in status.services if s.state is ContainerState.RUNNING]

        def sample(container_id: str) -> dict[str, float] | None:
            path = f"/containers/{container_id}/stats"
            try:
                if supported(self.engine_address):
                    with self.translate_errors():
                        doc = EngineAPI(self.engine_address, timeout=30).get(path, stream="false")
                else:
                    with self.translate_errors():
                        doc = self.client().api.stats(container_id, stream=False)
            except OperationFailed:
                return None  # it stopped meanwhile
            return stats_from_sample(doc)

        with ThreadPoolExecutor(max_workers=min(16, max(len(running), 1))) as pool:
            samples = dict(zip(
                [s.container_id for s in running],
                pool.map(sample, [s.container_id for s in running]),
                strict=True,
            ))  # fmt: skip
        services = [s.replace(stats=samples.get(s.container_id)) for s in status.services]
        return status.replace(services=services)

    def project_status(self) -> ProjectStatus:
        """Every service container of the project, sorted by service name; on a Swarm stack,
        every service with its replicas and tasks (:mod:`kgop_tui.services.docker.swarm`)."""
        docs = self.inspect_project()
        if not docs:  # a Swarm stack's tasks carry no compose label
            swarm = self.swarm()
            stack = swarm.services()
            if stack:
                return swarm.project_status(stack)
        now = self._clock()
        services = [status_from_inspect(doc, now) for doc in docs]
        services.sort(key=lambda s: (s.service, s.container_name))
        return ProjectStatus(project=self.project, services=services)


def refuse_unknown(asked: list[str], known: set[str], where: str) -> None:
    """UnknownService (exit 2) naming the services asked for that ``where`` does not have."""
    unknown = [s for s in asked if s not in known]
    if unknown:
        raise UnknownService(
            f"No service named {', '.join(unknown)} in {where}",
            hint=f"known services: {', '.join(sorted(known)) or 'none (is it running?)'}",
        )


def _short_reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("No such file or directory", "Connection refused", "Permission denied"):
        if marker in text:
            return marker.lower()
    text = text.split("\n", 1)[0]
    return text[:120] if text else type(exc).__name__
