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

import heapq
import struct
import threading
from collections.abc import Iterator
from typing import Any

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
from kgop_tui.services.docker_engine import DockerService
from kgop_tui.services.log_transport import LogTransport

__all__ = [
    "MAX_LINE",
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

MAX_LINE = 8192
TRUNCATED = " …[truncated]"
_HEADER = struct.Struct(">BxxxL")


class _Demuxer:
    """Turns the engine's multiplexed bytes into chunks of complete lines.

    Frames of one stream in a row become one chunk, so stdout and stderr keep their order.
    The engine splits lines over 16 KiB into several messages, each with its own
    timestamp; a frame continuing an unfinished line has that timestamp removed.
    """

    def __init__(self, service: str, max_line: int) -> None:
        self.service = service
        self.max_line = max_line
        self._pending = b""
        self._carry = {1: "", 2: ""}
        self._partial = {1: False, 2: False}
        self._discard = {1: False, 2: False}

    def feed(self, chunk: bytes) -> list[LogChunk]:
        data = self._pending + chunk if self._pending else chunk
        size, offset = len(data), 0
        out: list[LogChunk] = []
        run: list[bytes] = []
        run_stream = 0
        partial = self._partial
        unpack = _HEADER.unpack_from
        while offset + 8 <= size:
            kind, length = unpack(data, offset)
            start = offset + 8
            end = start + length
            if end > size:
                break
            offset = end
            if not length:
                continue
            stream = 2 if kind == 2 else 1
            if stream != run_stream:
                if run:
                    self._emit(run_stream, run, out)
                run, run_stream = [], stream
            if partial[stream]:  # continuation of a split line: drop its timestamp
                space = data.find(b" ", start, start + 40)
                if space >= 0:
                    start = space + 1
            run.append(data[start:end])
            partial[stream] = data[end - 1] != 10
        if run:
            self._emit(run_stream, run, out)
        self._pending = data[offset:]
        return out

    def _emit(self, stream: int, run: list[bytes], out: list[LogChunk]) -> None:
        text = b"".join(run).decode("utf-8", "replace")
        if self._discard[stream]:  # the rest of a line already emitted cut short
            newline = text.find("\n")
            if newline < 0:
                return
            text = text[newline + 1 :]
            self._discard[stream] = False
        if self._carry[stream]:
            text = self._carry[stream] + text
        cut = text.rfind("\n") + 1
        carry = text[cut:]
        text = text[:cut]
        if len(carry) > self.max_line + 64:  # no end in sight: emit it cut short now
            text += carry + "\n"
            carry = ""
            self._discard[stream] = True
        self._carry[stream] = carry
        if not text:
            return
        if len(text) > self.max_line:
            text = self._truncate(text)
        out.append(LogChunk(self.service, stream, text))

    def _truncate(self, text: str) -> str:
        limit = self.max_line + 40  # room for the timestamp
        parts = text.split("\n")
        if max(map(len, parts)) <= limit:
            return text
        return "\n".join(p if len(p) <= limit else p[:limit] + TRUNCATED for p in parts)


def _params(follow: bool, tail: int | None, since: float | None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "timestamps": 1,
        "follow": 1 if follow else 0,
        "tail": "all" if tail is None else str(tail),
    }
    if since is not None:
        params["since"] = f"{since:.9f}"
    return params


def _read(transport: LogTransport, demuxer: _Demuxer) -> Iterator[list[LogChunk]]:
    for data in transport.chunks():
        chunks = demuxer.feed(data)
        if chunks:
            yield chunks


def history(
    docker_service: DockerService,
    targets: list[tuple[str, str]],
    *,
    tail: int | None = None,
    since: float | None = None,
    max_line: int = MAX_LINE,
) -> Iterator[list[LogChunk]]:
    """Existing logs of several containers, merged by timestamp, in chunks."""
    opened: list[tuple[str, LogTransport]] = []
    try:
        for service, cid in targets:
            opened.append((service, LogTransport(docker_service, cid, _params(False, tail, since))))
        if len(opened) == 1:
            service, transport = opened[0]
            yield from _read(transport, _Demuxer(service, max_line))
            return
        streams = [_lines_of(_read(t, _Demuxer(s, max_line))) for s, t in opened]
        yield from _rechunk(heapq.merge(*streams, key=lambda line: sort_key(line.timestamp)))
    finally:
        for _, transport in opened:
            transport.close()


def _lines_of(batches: Iterator[list[LogChunk]]) -> Iterator[LogLine]:
    for chunks in batches:
        for chunk in chunks:
            yield from chunk.lines()


def _rechunk(lines: Iterator[LogLine], size: int = 2000) -> Iterator[list[LogChunk]]:
    """Group merged lines back into chunks (a new chunk when the service changes)."""
    batch: list[LogChunk] = []
    current: list[str] = []
    key: tuple[str, int] | None = None
    for line in lines:
        if (line.service, line.stream) != key:
            if current and key:
                batch.append(LogChunk(key[0], key[1], "".join(current)))
            current, key = [], (line.service, line.stream)
        current.append(f"{line.timestamp} {line.text}\n")
        if len(current) >= size:
            batch.append(LogChunk(line.service, line.stream, "".join(current)))
            current = []
            yield batch
            batch = []
    if current and key:
        batch.append(LogChunk(key[0], key[1], "".join(current)))
    if batch:
        yield batch


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
                    transport = LogTransport(self.docker, container_id, _params(True, tail, since))
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
        demuxer = _Demuxer(service, self.max_line)
        skip_until = sort_key(last) if last else ""
        for chunks in _read(transport, demuxer):
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
