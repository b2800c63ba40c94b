"""Bounded, cancellable log streaming from one or several containers.

Lines travel in :class:`LogChunk` blocks of text ("TIMESTAMP message" lines, complete
lines only) rather than one object per line: at a million lines that difference is the
difference between keeping up with the engine and falling far behind. Consumers that need
single lines call :meth:`LogChunk.lines`.

- History (no follow): one service's chunks as they come; several services merged by
  timestamp, lazily. A follower with a tail starts with that same merged history, then
  follows each container from its last line: one timeline from the first batch.
- Follow: one thread per container appends to a shared pending list, bounded in bytes
  (a full list blocks the reader, leaving the backlog in the engine's log file, not in
  memory); the consumer takes everything pending at once, so bursts coalesce into one
  batch. When a container stops its stream ends with an event and is reattached once the
  container runs again, from the last line seen.
- Over-long lines are truncated with a marker.
- :meth:`LogFollower.close` shuts the sockets down and joins every thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from kgop_tui.errors import KgopError
from kgop_tui.logtypes import (
    LogBatch,
    LogChunk,
    LogFilter,
    LogLine,
    StreamEvent,
    parse_since,
    sort_key,
    timestamp_seconds,
)
from kgop_tui.services.docker.docker_engine import DockerService
from kgop_tui.services.docker.log_frames import (
    MAX_LINE,
    TRUNCATED,
    Demuxer,
    history,
    read_chunks,
    stream_params,
)
from kgop_tui.services.docker.log_transport import LogTransport

__all__ = [
    "MAX_LINE",
    "TRUNCATED",
    "Demuxer",
    "LogBatch",
    "LogChunk",
    "LogFilter",
    "LogFollower",
    "LogLine",
    "StreamEvent",
    "history",
    "parse_since",
    "sort_key",
    "timestamp_seconds",
]


class LogFollower:
    """Follows several services' logs in threads and hands out coalesced batches.

    ``batches()`` yields until every stream has ended for good (``reattach=False``) or
    :meth:`close` is called; a TUI worker calls :meth:`get` instead.
    """

    def __init__(
        self,
        docker_service: DockerService,
        targets: list[tuple[str, str]],
        *,
        tail: int | None = 0,
        since: float | None = None,
        max_line: int = MAX_LINE,
        max_pending_bytes: int = 8 << 20,
        reattach: bool = True,
    ) -> None:
        self.docker = docker_service
        self.targets = targets
        self.tail = tail
        self.since = since
        self.max_line = max_line
        self.max_pending_bytes = max_pending_bytes
        self.reattach = reattach
        self._pending: list[LogChunk | StreamEvent] = []
        self._pending_bytes = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._open: dict[str, LogTransport] = {}
        self._finished = 0
        self.error: KgopError | None = None

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        if self.tail and len(self.targets) > 1:
            # The history first, merged by timestamp as `kgop logs` merges it (one merge),
            # then each container followed from its last line: one timeline from the start.
            thread = threading.Thread(target=self._history_then_follow, name="logs-history")
            thread.daemon = True
            self._threads.append(thread)
            thread.start()
            return
        for service, cid in self.targets:
            self._start_follow(service, cid, self.tail, self.since, "")

    def _start_follow(
        self, service: str, cid: str, tail: int | None, since: float | None, last: str
    ) -> None:
        thread = threading.Thread(
            target=self._follow, args=(service, cid, tail, since, last),
            name=f"follow-logs-{service}", daemon=True,
        )  # fmt: skip
        with self._cond:
            self._threads.append(thread)
        thread.start()

    def _history_then_follow(self) -> None:
        import time

        started = time.time()
        last: dict[str, str] = {}
        try:
            for chunks in history(
                self.docker, self.targets, tail=self.tail, since=self.since, max_line=self.max_line
            ):
                for chunk in chunks:
                    last[chunk.service] = chunk.last_timestamp() or last.get(chunk.service, "")
                if not self._push(list(chunks)):
                    break
        except KgopError as exc:
            self.error = exc
        if self._stop.is_set():
            with self._cond:
                self._finished = len(self.targets)
                self._cond.notify_all()
            return
        for service, cid in self.targets:
            seen = last.get(service, "")
            # From the last line shown (the engine's since is inclusive; _pump skips it), or
            # from when the history was read, so nothing written meanwhile is lost.
            since = timestamp_seconds(seen) if seen else started
            self._start_follow(service, cid, None, since, seen)

    def close(self, timeout: float = 5.0) -> None:
        """Stop every reader: shut their sockets down and join their threads."""
        self._stop.set()
        with self._cond:
            transports = list(self._open.values())
            self._cond.notify_all()
        for transport in transports:
            transport.cancel()
        joined: set[threading.Thread] = set()
        while True:  # the history thread may have started followers meanwhile
            with self._cond:
                pending = [t for t in self._threads if t not in joined]
            if not pending:
                break
            for thread in pending:
                thread.join(timeout)
                joined.add(thread)
            with self._cond:
                transports = list(self._open.values())
            for transport in transports:
                transport.cancel()

    @property
    def alive_threads(self) -> int:
        return sum(thread.is_alive() for thread in self._threads)

    @property
    def done(self) -> bool:
        return self._finished >= len(self.targets)

    def __enter__(self) -> LogFollower:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ---- consumer side -------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> LogBatch | None:
        """Everything pending (waiting up to ``timeout`` for something); None if nothing.

        Once every stream has stopped on an error and all was handed out, raises that error:
        a follow that died says so instead of returning nothing for ever."""
        with self._cond:
            if not self._pending and not self.done and not self._stop.is_set():
                self._cond.wait(timeout)
            if not self._pending:
                if self.done and self.error is not None and not self._stop.is_set():
                    raise self.error
                return None
            items, self._pending, self._pending_bytes = self._pending, [], 0
            self._cond.notify_all()
        return LogBatch(items)

    def batches(self) -> Iterator[LogBatch]:
        self.start()
        while not self._stop.is_set():
            batch = self.get(timeout=0.5)
            if batch is not None:
                yield batch
            elif self.done:
                break
        if self.error is not None:
            raise self.error

    # ---- reader threads ------------------------------------------------------------------

    def _push(self, items: list[LogChunk | StreamEvent]) -> bool:
        size = sum(len(i.text) for i in items if isinstance(i, LogChunk))
        with self._cond:
            while self._pending_bytes > self.max_pending_bytes and not self._stop.is_set():
                self._cond.wait(0.2)
            if self._stop.is_set():
                return False
            self._pending.extend(items)
            self._pending_bytes += size
            self._cond.notify_all()
        return True

    def _follow(
        self, service: str, container_id: str, tail: int | None, since: float | None, last: str
    ) -> None:
        try:
            while not self._stop.is_set():
                try:
                    transport = LogTransport(
                        self.docker, container_id, stream_params(True, tail, since)
                    )
                except KgopError as exc:
                    self.error = exc  # get raises it once every stream has stopped
                    self._push([StreamEvent(service, "failed", exc.message)])
                    return
                with self._cond:
                    self._open[service] = transport
                if self._stop.is_set():
                    transport.close()
                    return
                last = self._pump(transport, service, last)
                transport.close()
                with self._cond:
                    self._open.pop(service, None)
                if self._stop.is_set():
                    return
                self._push([StreamEvent(service, "ended", "container stopped")])
                if not self.reattach:
                    return
                found = self._wait_running(service)
                if found is None:
                    return
                # Resume at the last line seen (the engine's since is inclusive).
                container_id, tail = found, None
                since = timestamp_seconds(last) if last else self.since
                self._push([StreamEvent(service, "reattached")])
        finally:
            with self._cond:
                self._finished += 1
                self._cond.notify_all()

    def _pump(self, transport: LogTransport, service: str, last: str) -> str:
        demuxer = Demuxer(service, self.max_line)
        skip_until = sort_key(last) if last else ""
        for chunks in read_chunks(transport, demuxer):
            if skip_until:
                chunks = _after(chunks, skip_until)
                if not chunks:
                    continue
                skip_until = ""
            last = chunks[-1].last_timestamp()
            if not self._push(list(chunks)):
                break
        return last

    def _wait_running(self, service: str) -> str | None:
        """Wait (cancellably) until the service has a running container again."""
        while not self._stop.wait(1.0):
            try:
                for _, cid in self.docker.service_containers([service]):
                    doc = self.docker.inspect_container(cid)
                    if doc and (doc.get("State") or {}).get("Running"):
                        return cid
            except KgopError:
                continue  # the engine may be restarting; keep waiting
        return None


def _after(chunks: list[LogChunk], key: str) -> list[LogChunk]:
    """Only the lines strictly after ``key`` (lines already seen before a reattach)."""
    out = []
    for chunk in chunks:
        kept = [ln for ln in chunk.lines() if sort_key(ln.timestamp) > key]
        if kept:
            text = "".join(f"{ln.timestamp} {ln.text}\n" for ln in kept)
            out.append(LogChunk(chunk.service, chunk.stream, text))
    return out
