"""Docker's log stream, framed: the engine's multiplexed ``/logs`` answer split into
:class:`LogChunk` blocks of complete lines (over-long lines truncated with a marker), and
the history of several containers merged by timestamp, lazily."""

from __future__ import annotations

import heapq
import struct
from collections.abc import Iterator
from typing import Any

from kgop_tui.logtypes import LogChunk, LogLine, sort_key
from kgop_tui.services.docker.docker_engine import DockerService
from kgop_tui.services.docker.log_transport import LogTransport

MAX_LINE = 8192
TRUNCATED = " …[truncated]"
_HEADER = struct.Struct(">BxxxL")


class Demuxer:
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


def stream_params(follow: bool, tail: int | None, since: float | None) -> dict[str, Any]:
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


def read_chunks(transport: LogTransport, demuxer: Demuxer) -> Iterator[list[LogChunk]]:
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
            opened.append(
                (service, LogTransport(docker_service, cid, stream_params(False, tail, since)))
            )
        if len(opened) == 1:
            service, transport = opened[0]
            yield from read_chunks(transport, Demuxer(service, max_line))
            return
        streams = [_lines_of(read_chunks(t, Demuxer(s, max_line))) for s, t in opened]
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
