"""Live resource figures of the project's running containers, from the engine's stats streams.

One ``GET /containers/{id}/stats`` stream per running container (the engine sends a sample
about every second), opened when a screen starts following and shut down when it stops:
nothing is polled per container per tick. Each sample is reduced to the ``docker stats``
figures (:func:`kgop_tui.resources.stats_from_sample`) and handed to a callback on the
reader thread; consumers pass it to their own loop (``call_from_thread`` in the TUI).
The set of containers follows the project's status (:meth:`StatsFollower.track`).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable

from kgop_tui.resources import stats_from_sample
from kgop_tui.services.docker.docker_engine import DockerService
from kgop_tui.services.docker.engine_api import open_get, supported

Sample = Callable[[str, dict[str, float]], None]
MAX_DOC = 1 << 20


class StatsFollower:
    """Follows the stats streams of a changing set of containers."""

    def __init__(self, docker_service: DockerService, on_sample: Sample) -> None:
        self.docker = docker_service
        self.on_sample = on_sample
        self._lock = threading.Lock()
        self._streams: dict[str, tuple[threading.Thread, list[socket.socket]]] = {}
        self._stopped = False

    def track(self, containers: dict[str, str]) -> None:
        """Follow exactly these containers (container id → service); stop the others."""
        with self._lock:
            if self._stopped:
                return
            gone = [cid for cid in self._streams if cid not in containers]
            new = [cid for cid in containers if cid not in self._streams]
            for cid in gone:
                _, opened = self._streams.pop(cid)
                for sock in opened:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
            for cid in new:
                socks: list[socket.socket] = []
                thread = threading.Thread(
                    target=self._read, args=(cid, containers[cid], socks),
                    name=f"stats-{containers[cid]}", daemon=True,
                )  # fmt: skip
                self._streams[cid] = (thread, socks)
                thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            streams = list(self._streams.values())
            self._streams.clear()
        for _, socks in streams:
            for sock in socks:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread, _ in streams:
            thread.join(5)

    def _read(self, container_id: str, service: str, socks: list[socket.socket]) -> None:
        host = self.docker.engine_address
        if not supported(host):
            return  # ssh:// and the like: no live figures (status --stats still works)

        def register(sock: socket.socket) -> bool:
            with self._lock:
                if self._stopped or container_id not in self._streams:
                    return False
                socks.append(sock)  # from now on stop() can shut it down
                return True

        try:
            sock, status, buffer = open_get(
                host, f"/containers/{container_id}/stats?stream=1", on_connect=register
            )
        except OSError:
            return
        try:
            if status != 200:
                return
            sock.settimeout(None)
            while True:
                while b"\n" in buffer:
                    line, _, buffer = buffer.partition(b"\n")
                    if line.strip():
                        with contextlib.suppress(ValueError):
                            self.on_sample(service, stats_from_sample(json.loads(line)))
                if len(buffer) > MAX_DOC:
                    return
                data = sock.recv(1 << 16)
                if not data:
                    return
                buffer += data
        except OSError:
            return
        finally:
            sock.close()
