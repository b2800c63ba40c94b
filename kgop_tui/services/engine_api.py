"""A small Engine API client on the standard library, for the hot paths of plain verbs.

``kgop status`` and ``kgop logs`` are called in loops by scripts and typed over slow links:
their whole cost is start-up. Importing the docker SDK (and requests, urllib3) costs more than
the requests they make, so listing and inspecting containers go through ``http.client``
on the engine's own socket (``unix://``, ``tcp://``, ``http://``), one keep-alive
connection for every request of a run. Unversioned paths: the engine answers at its own
API version. Events, exec and lifecycle still use the SDK (imported only when used).
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import urlencode, urlparse

TIMEOUT = 15.0
RAW_SCHEMES = ("unix", "tcp", "http")


class EngineRefused(Exception):
    """The engine answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def supported(host: str) -> bool:
    return urlparse(host).scheme in RAW_SCHEMES


def connect_socket(host: str, timeout: float = TIMEOUT) -> socket.socket:
    """A plain socket to the engine (raises OSError)."""
    url = urlparse(host)
    if url.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(url.path)
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection((url.hostname or "127.0.0.1", url.port or 2375), timeout)


class EngineAPI:
    """GET requests to the engine; JSON answers. Raises OSError when it cannot be reached
    and :class:`EngineRefused` for an error status."""

    def __init__(self, host: str, timeout: float = TIMEOUT) -> None:
        self.host = host
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            url = urlparse(self.host)
            if url.scheme == "unix":
                self._conn = _UnixConnection(url.path, self.timeout)
            else:
                self._conn = http.client.HTTPConnection(
                    url.hostname or "127.0.0.1", url.port or 2375, timeout=self.timeout
                )
        return self._conn

    def get(self, path: str, **params: Any) -> Any:
        target = f"{path}?{urlencode(params)}" if params else path
        for attempt in (1, 2):  # a kept-alive connection the engine closed: once more
            conn = self._connection()
            try:
                conn.request("GET", target, headers={"User-Agent": "kgop"})
                response = conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2:
                    raise
                continue
            except (OSError, http.client.HTTPException):
                self.close()
                raise
            if response.status >= 400:
                try:
                    message = str(json.loads(body).get("message", ""))
                except (ValueError, AttributeError):
                    message = body.decode("utf-8", "replace")[:300]
                raise EngineRefused(response.status, message)
            return json.loads(body) if body else None
        raise OSError("no answer")  # not reached

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
