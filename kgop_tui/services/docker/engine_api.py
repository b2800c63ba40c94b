"""A small Engine API client on the standard library, for the hot paths of plain verbs.

``kgop status`` and ``kgop logs`` are called in loops by scripts and typed over slow links:
their whole cost is start-up. Importing the docker SDK (and requests, urllib3) costs more than
the requests they make, and even ``http.client`` (with the ``email`` parser and ``ssl`` it
loads) costs more than listing and inspecting a hundred containers. So kgop speaks the one
form of HTTP the engine needs here: an HTTP/1.0 ``GET`` on the engine's own socket
(``unix://``, ``tcp://``, ``http://``), one connection per request (a unix socket connects in
microseconds, and nothing is shared between threads). The engine answers an HTTP/1.0 request
with the body as it is, no chunked encoding, and closes the connection after it: JSON
documents are read to the end, streams (logs, stats) are read as they come.

Unversioned paths: the engine answers at its own API version. Events, exec and lifecycle
still use the docker SDK (imported only when used).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlparse

TIMEOUT = 15.0
RAW_SCHEMES = ("unix", "tcp", "http")
CHUNK = 1 << 16
MAX_HEAD = 1 << 16


class EngineRefused(Exception):
    """The engine answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


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


def open_get(
    host: str,
    target: str,
    timeout: float = TIMEOUT,
    on_connect: Callable[[socket.socket], bool] | None = None,
) -> tuple[socket.socket, int, bytes]:
    """Send ``GET target`` and read the answer's head: (socket, status, the body's first
    bytes). The caller reads the rest and closes the socket. Raises OSError (including
    ConnectionError when the engine hangs up before answering). ``on_connect`` sees the
    socket before the request (to be able to shut it down from another thread); when it
    returns False the request is not made (ConnectionAbortedError)."""
    sock = connect_socket(host, timeout)
    try:
        if on_connect is not None and not on_connect(sock):
            raise ConnectionAbortedError("not wanted any more")
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: docker\r\nUser-Agent: kgop\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(CHUNK)
            if not data:
                raise ConnectionError("the engine closed the connection")
            head += data
            if len(head) > MAX_HEAD and b"\r\n\r\n" not in head:
                raise ConnectionError("the engine's answer has no end of headers")
    except BaseException:
        sock.close()
        raise
    header, _, rest = head.partition(b"\r\n\r\n")
    parts = header.split(b"\r\n", 1)[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return sock, status, rest


def error_message(body: bytes) -> str:
    """The engine's ``{"message": ...}``, or the start of the body."""
    try:
        return str(json.loads(body).get("message", ""))
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace")[:300]


class EngineAPI:
    """GET requests to the engine; JSON answers. Raises OSError when it cannot be reached
    and :class:`EngineRefused` for an error status. Safe to share between threads."""

    def __init__(self, host: str, timeout: float = TIMEOUT) -> None:
        self.host = host
        self.timeout = timeout

    def get(self, path: str, **params: Any) -> Any:
        target = f"{path}?{urlencode(params)}" if params else path
        sock, status, body = open_get(self.host, target, self.timeout)
        try:
            chunks = [body]
            while data := sock.recv(CHUNK):
                chunks.append(data)
        finally:
            sock.close()
        body = b"".join(chunks)
        if status >= 400 or status == 0:
            raise EngineRefused(status, error_message(body))
        return json.loads(body) if body else None
