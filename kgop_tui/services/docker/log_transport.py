"""Reading a container's log stream from the Engine API as fast as the engine sends it.

The SDK's streaming reads one frame per call through ``http.client``'s chunked decoding,
which costs more than the engine takes to produce the lines. For the usual engine
addresses (``unix://`` and plain ``tcp://``) kgop sends an HTTP/1.0 request on its own
socket: the engine then streams the raw multiplexed bytes until it closes, and kgop
reads them 64 KiB at a time. Other addresses fall back to the SDK's session.

Either way :meth:`LogTransport.cancel` shuts the socket down from any thread, so a
blocked read returns at once and no thread outlives its stream.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from kgop_tui.errors import KgopError
from kgop_tui.services.docker.docker_engine import DockerService
from kgop_tui.services.docker.engine_api import open_get, supported

CHUNK = 1 << 16


class LogTransport:
    """One open ``GET /containers/{id}/logs`` request; iterate for raw byte chunks."""

    def __init__(self, docker_service: DockerService, container_id: str, params: dict[str, Any]):
        self._docker = docker_service
        self._cancelled = False
        self._sock: socket.socket | None = None
        self._response: Any = None
        self._initial = b""
        host = docker_service.settings.docker_host
        # A Swarm replica ("task:<id>") is read through the manager, whichever node runs it.
        kind, _, ident = container_id.rpartition(":")
        resource = f"/tasks/{ident}" if kind == "task" else f"/containers/{ident}"
        if supported(host):  # no SDK: the engine answers unversioned paths at its version
            self._open_raw(host, f"{resource}/logs?{urlencode(params)}")
        else:
            api = docker_service.client().api
            self._open_session(api, f"/v{api.api_version}{resource}/logs", params)

    # ---- opening -------------------------------------------------------------------------

    def _open_raw(self, host: str, target: str) -> None:
        try:
            sock, status, rest = open_get(host, target)
        except OSError as exc:
            raise self._docker.unavailable((exc.strerror or str(exc)).lower()) from None
        if status != 200:
            body = rest
            with contextlib.suppress(OSError):
                while len(body) < 4096 and (data := sock.recv(4096)):
                    body += data
            sock.close()
            raise _refused(status, body.decode("utf-8", "replace"))
        sock.settimeout(None)
        self._sock, self._initial = sock, rest

    def _open_session(self, api: Any, path: str, params: dict[str, Any]) -> None:
        with self._docker.translate_errors():
            response = api.get(f"{api.base_url}{path}", params=params, stream=True, timeout=None)
        if response.status_code != 200:
            text = response.text
            response.close()
            raise _refused(response.status_code, text)
        self._response = response

    # ---- reading -------------------------------------------------------------------------

    def chunks(self) -> Iterator[bytes]:
        """Raw multiplexed bytes until the engine ends the stream or it is cancelled."""
        if self._initial:
            yield self._initial
            self._initial = b""
        if self._sock is not None:
            recv = self._sock.recv
            while not self._cancelled:
                try:
                    data = recv(CHUNK)
                except OSError:
                    return
                if not data:
                    return
                yield data
            return
        read = self._response.raw.read1
        while not self._cancelled:
            try:
                data = read(CHUNK)
            except Exception as exc:
                if self._cancelled or isinstance(exc, OSError | ValueError):
                    return
                if type(exc).__module__.startswith(("urllib3", "http.client", "requests")):
                    return
                raise
            if not data:
                return
            yield data

    def cancel(self) -> None:
        """From any thread: shut the connection down; a blocked read returns at once."""
        if self._cancelled:
            return
        self._cancelled = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
        elif self._response is not None:  # the SDK's session (it was imported to open it)
            import docker.errors
            from docker.types import CancellableStream

            with contextlib.suppress(OSError, AttributeError, docker.errors.DockerException):
                CancellableStream(iter(()), self._response).close()

    def close(self) -> None:
        """From the reading thread, once done: release the socket."""
        self.cancel()
        if self._sock is not None:
            self._sock.close()
        elif self._response is not None:
            with contextlib.suppress(Exception):
                self._response.close()


def _refused(status: int, body: str) -> KgopError:
    message = body.strip()
    with contextlib.suppress(ValueError):
        import json

        message = str(json.loads(body).get("message", message))
    return KgopError(
        f"The engine refused the logs request (HTTP {status}): {message[:200]}",
        hint="run `kgop status` to check the container still exists",
    )
