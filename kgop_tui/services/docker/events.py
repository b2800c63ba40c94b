"""Live status of the compose project from the Docker events stream.

A :class:`ProjectWatcher` thread keeps a map of the project's containers current:

- it takes a full snapshot, then follows container events filtered to the project's label,
  re-inspecting only the container an event names;
- the stream is opened with ``since`` = the last event seen, so reopening it replays what
  happened in between; after any reconnect it also re-snapshots, because an engine that
  restarted has forgotten its event history;
- the stream is opened with ``until`` = now + ``reconcile_seconds``: when it ends, a full
  snapshot is taken (the safety net), then it reopens. Nothing polls every container.

Callbacks run on the watcher thread: consumers hand results to their own loop
(``call_from_thread`` in the TUI, a queue in tests).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import requests.exceptions
from docker.types import CancellableStream

from kgop_tui.errors import KgopError
from kgop_tui.project import ProjectStatus, ServiceStatus, StatusUpdate
from kgop_tui.services.docker.docker_engine import PROJECT_LABEL, DockerService
from kgop_tui.services.docker.swarm import NAMESPACE_LABEL

_IGNORED_PREFIXES = ("exec_", "attach", "detach", "resize", "top", "copy", "export", "commit")


class ProjectWatcher:
    """Follows the project's containers and reports every change as a model update."""

    def __init__(
        self,
        docker_service: DockerService,
        on_update: Callable[[StatusUpdate], None],
        on_error: Callable[[KgopError], None] | None = None,
        reconcile_seconds: float = 60.0,
        retry_seconds: float = 1.0,
    ) -> None:
        self.docker = docker_service
        self.on_update = on_update
        self.on_error = on_error
        self.reconcile_seconds = reconcile_seconds
        self.retry_seconds = retry_seconds
        self._containers: dict[str, ServiceStatus] = {}
        self._swarm = False
        self._last_event_ns = 0
        self._stop = threading.Event()
        self._stream: CancellableStream[dict[str, Any]] | None = None
        self._stream_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.reconnects = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watch-project", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the stream and join the thread."""
        self._stop.set()
        self._cancel_stream()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _cancel_stream(self) -> None:
        with self._stream_lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()

    # ---- the thread ----------------------------------------------------------------------

    def _snapshot(self) -> ProjectStatus:
        services = sorted(self._containers.values(), key=lambda s: (s.service, s.container_name))
        return ProjectStatus(project=self.docker.project, services=services)

    def _reconcile(self, reason: str) -> None:
        status = self.docker.project_status()
        # A Swarm stack: its services have replicas; any event of its containers is followed
        # by a snapshot of the services (a task is not one container).
        self._swarm = any(s.replicas is not None for s in status.services)
        self._containers = {s.container_id: s for s in status.services}
        self.on_update(StatusUpdate(status=self._snapshot(), changed=None, reason=reason))

    def _run(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                # Events from before the snapshot are replayed: harmless, never missed.
                since_ns = self._last_event_ns or time.time_ns()
                self._last_event_ns = since_ns
                self._reconcile("snapshot" if first else "reconnected")
                first = False
                self._follow()
            except KgopError as exc:
                if self._stop.is_set():
                    return
                if self.on_error is not None:
                    self.on_error(exc)
                self.reconnects += 1
                self._stop.wait(self.retry_seconds)

    def _follow(self) -> None:
        """Follow events until the stream ends; reconcile on each planned end."""
        while not self._stop.is_set():
            until = time.time() + self.reconcile_seconds
            stream = self._open(self._last_event_ns, until)
            for event in stream:
                self._handle(event)
                if self._stop.is_set():
                    return
            self._cancel_stream()
            if self._stop.is_set():
                return
            if time.time() < until - 0.5:
                # Ended early: the connection dropped. Reconnect from the last event.
                self.reconnects += 1
                raise self.docker.unavailable("the events stream was cut")
            self._reconcile("reconcile")

    def _open(self, since_ns: int, until: float) -> CancellableStream[dict[str, Any]]:
        # The engine takes sub-second "seconds.nanoseconds" strings; the stubs say int only.
        api: Any = self.docker.client().api
        with self.docker.translate_errors():
            try:
                stream: CancellableStream[dict[str, Any]] = api.events(
                    since=f"{since_ns // 1_000_000_000}.{since_ns % 1_000_000_000:09d}",
                    until=f"{until:.9f}",
                    filters={"type": ["container"], "label": [
                        f"{NAMESPACE_LABEL if self._swarm else PROJECT_LABEL}="
                        f"{self.docker.project}"]},
                    decode=True,
                )  # fmt: skip
            except requests.exceptions.RequestException as exc:
                raise self.docker.unavailable(str(exc)[:80]) from None
        with self._stream_lock:
            self._stream = stream
        return stream

    def _handle(self, event: dict[str, Any]) -> None:
        action = str(event.get("Action") or event.get("status") or "")
        self._last_event_ns = max(self._last_event_ns, int(event.get("timeNano") or 0))
        if action.startswith(_IGNORED_PREFIXES):
            return
        if self._swarm:
            self._reconcile(action)
            return
        container_id = str(event.get("id") or (event.get("Actor") or {}).get("ID") or "")
        short = container_id[:12]
        doc = None if action == "destroy" else self.docker.inspect_container(container_id)
        if doc is None or not self.docker.is_project_container(doc):
            removed = self._containers.pop(short, None)
            if removed is not None:
                self.on_update(
                    StatusUpdate(status=self._snapshot(), changed=None, reason=f"{action}")
                )
            return
        status = self.docker.status_of(doc)
        self._containers[short] = status
        self.on_update(StatusUpdate(status=self._snapshot(), changed=status, reason=action))
