"""Which of a log view's lines a filter keeps: a block of lines per RE2 call, off the UI thread.

One RE2 ``search`` per line costs a Python-to-C round trip (and google-re2's wrapper
re-encodes the text each time): 500,000 lines took 3 s. Here a chunk of lines is cleaned and
joined with newlines into one UTF-8 block, and the pattern runs over the block in multiline
mode with ``never_nl`` (no match can cross a line's end, so ``^`` and ``$`` mean the line's
start and end, as they do line by line). After a match the scan skips to the next line: one
call per matching line plus one per chunk, and a line that does not match costs only its
share of a C-speed scan. An inverted filter keeps the lines the scan did not find.

A pattern that names the text's own start or end (``\\A``, ``\\z``) or turns multiline mode
off is run line by line instead, so every pattern keeps exactly the lines it would match alone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from kgop_tui.logtypes import LogFilter
from kgop_tui.text import clean

CHUNK = 25_000
"""Lines per step of a filter in a worker (and the most a filter runs inline on the UI)."""

BLOCK = 5_000
"""Lines per RE2 scan."""

YIELD_EVERY = 0.002
"""Seconds of filtering between two pauses that let the UI thread take the GIL."""

_WHOLE_TEXT = re.compile(r"\\[Az]|\(\?[a-zA-Z]*-")  # \A, \z, (?-m ...): line by line


def _block_search(pattern: str) -> Callable[[bytes, int], int] | None:
    """The start of the first match at or after a position in a block (-1: none)."""
    if _WHOLE_TEXT.search(pattern):
        return None
    import re2

    options = re2.Options()
    options.log_errors = False
    options.never_nl = True
    regex = re2.compile(f"(?m){pattern}", options)
    raw: Any = getattr(regex, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if raw is not None and anchor is not None and hasattr(raw, "Match"):
        match = raw.Match  # the C++ call itself: no match object per hit

        def first(data: bytes, pos: int) -> int:
            start: int = match(anchor, data, pos, len(data))[0][0]
            return start

        return first
    search = regex.search

    def first_public(data: bytes, pos: int) -> int:
        found = search(data, pos)
        return -1 if found is None else int(found.start())

    return first_public


class LineSelector:
    """A filter turned into a function from a run of raw lines to the indexes it keeps."""

    def __init__(self, log_filter: LogFilter) -> None:
        self.filter = log_filter
        pattern = log_filter.pattern or ""
        self._first = _block_search(pattern) if pattern else None

    def select(self, raws: Sequence[str], base: int = 0) -> list[int]:
        """``base`` + the index of each of ``raws`` (``TIMESTAMP message``) the filter keeps."""
        first = self._first
        if first is None or not self.filter.active:
            keep = self.filter.keep
            return [i for i, raw in enumerate(raws, base) if keep(clean(raw[raw.find(" ") + 1 :]))]
        kept: list[int] = []
        # Blocks of a few thousand lines: each C call (join, clean, encode, a scan) holds the
        # GIL, and the UI thread waits that long for it; 5,000 lines are a few milliseconds.
        for start in range(0, len(raws), BLOCK):
            kept.extend(self._select_block(first, raws[start : start + BLOCK], base + start))
        return kept

    def _select_block(
        self, first: Callable[[bytes, int], int], raws: Sequence[str], base: int
    ) -> list[int]:
        if not raws:
            return []
        # The stamp off each line by slicing: a regex substitution over the joined block cost
        # 3 ms per 5,000 lines, three quarters of a filter's time, in one call holding the GIL.
        data = clean("\n".join([raw[raw.find(" ") + 1 :] for raw in raws])).encode()
        hits: list[int] = []
        count, find = data.count, data.find
        pos, line = 0, 0
        while True:
            start = first(data, pos)
            if start < 0:
                break
            line += count(b"\n", pos, start)
            hits.append(base + line)
            end = find(b"\n", start)
            if end < 0:
                break
            pos, line = end + 1, line + 1
        if not self.filter.invert:
            return hits
        found = set(hits)
        return [i for i in range(base, base + len(raws)) if i not in found]


def filter_text(log_filter: LogFilter) -> str:
    return ("!" if log_filter.invert else "") + (log_filter.pattern or "")


Fetch = Callable[[int, int], tuple[int, list[str]]]
"""The lines with absolute ids in [start, stop) still in the buffer: (first id, lines)."""


class FilterJob:
    """A filter running in a worker: the lines it covers (absolute ids ``start`` to ``end``,
    fetched a chunk at a time), progress, and the ids of the lines that arrived meanwhile and
    pass it."""

    def __init__(self, selector: LineSelector, start: int, end: int, fetch: Fetch) -> None:
        self.selector, self.start, self.end, self.fetch = selector, start, end, fetch
        self.tail: list[int] = []
        self.percent = 0
        self.cancelled = False


def run_job(
    job: FilterJob, stopped: Callable[[], bool], progressed: Callable[[int], None]
) -> list[int] | None:
    """In a worker thread: the ids the job's filter keeps, a chunk at a time, reporting the
    percentage done after each; None when stopped (the worker or the job cancelled).

    Each chunk is fetched from the view as it comes (copying a 500,000-line buffer at once
    held the UI thread 20-30 ms); lines that left the ring buffer meanwhile are skipped."""
    kept: list[int] = []
    total = job.end - job.start
    yielded = time.perf_counter()
    for start in range(job.start, job.end, CHUNK):
        if stopped() or job.cancelled:
            return None
        stop = min(job.end, start + CHUNK)
        first, lines = job.fetch(start, stop)
        for block in range(0, len(lines), BLOCK):
            if stopped() or job.cancelled:
                return None
            kept.extend(job.selector.select(lines[block : block + BLOCK], first + block))
            # Hand the GIL to the UI thread every few milliseconds: otherwise every step of a
            # key's way through the event loop waits for the switch interval (5 ms) to get it
            # back. Not after every block: the pauses were a tenth of a filter's time.
            if time.perf_counter() - yielded > YIELD_EVERY:
                time.sleep(0.001)
                yielded = time.perf_counter()
        if stop < job.end:
            progressed((stop - job.start) * 100 // total)
    return None if stopped() or job.cancelled else kept


def next_hit(
    selector: LineSelector,
    rows: int,
    row: int,
    forward: bool,
    raws: Callable[[range], list[str]],
) -> int | None:
    """The first of ``rows`` rows from ``row`` on (backwards: down to 0) whose line the
    selector keeps, a block of lines per RE2 scan, not one call per line; None: no such row."""
    while 0 <= row < rows:
        block = range(row, min(rows, row + BLOCK)) if forward else range(
            max(0, row - BLOCK + 1), row + 1
        )  # fmt: skip
        hits = selector.select(raws(block), block.start)
        if hits:
            return hits[0] if forward else hits[-1]
        row = block.stop if forward else block.start - 1
    return None
