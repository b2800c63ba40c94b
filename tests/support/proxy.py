"""A TCP proxy (to a unix socket or a TCP port) that a test can cut, as a network would."""

from __future__ import annotations

import contextlib
import socket
import threading


class EngineProxy:
    """Forwards 127.0.0.1:port to a unix socket; ``cut()`` drops every connection and
    refuses new ones until ``resume()``."""

    def __init__(self, upstream: str | tuple[str, int], paused: bool = False) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._paused = threading.Event()
        if paused:
            self._paused.set()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._paused.is_set():
                client.close()
                continue
            try:
                if isinstance(self.upstream, str):
                    upstream = socket.socket(socket.AF_UNIX)
                    upstream.connect(self.upstream)
                else:
                    upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._paused.set()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()

    def resume(self) -> None:
        self._paused.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()
