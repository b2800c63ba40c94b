"""LogView: a bounded, filterable, searchable view of merged service logs.

Lines are kept as the engine's "TIMESTAMP message" strings in a ring buffer (one string
per line, plus a small int for service and stream), so a million lines cost tens of MB,
not hundreds. Chunks are appended with C-speed string splits; only the visible rows are
styled, when Textual asks for them. Following pauses when the view is scrolled up and
resumes at the end.
"""

from __future__ import annotations

from collections import deque
from functools import partial
from itertools import islice, repeat
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.geometry import Size
from textual.reactive import var
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from kgop_tui.logtypes import LogFilter, user_regex
from kgop_tui.text import clean
from kgop_tui.widgets.log_filtering import (
    CHUNK,
    FilterJob,
    LineSelector,
    filter_text,
    next_hit,
    run_job,
)
from kgop_tui.widgets.log_lines import line_segments, wrapped_row


class LogView(ScrollView, can_focus=True):
    """Merged logs with per-service colour, filter, search, timestamps and wrap."""

    DEFAULT_CSS = """
    LogView { background: $surface; overflow: auto; }
    """

    show_timestamps: var[bool] = var(False)
    wrap: var[bool] = var(False)
    following: var[bool] = var(True)

    counts: var[tuple[int, int, int]] = var((0, 0, 0))
    """Lines shown, held, and dropped from the ring buffer, as of the last flush."""
    filter_state: var[tuple[str, int | None, str]] = var(("", None, ""))
    """The filter applied, how far a running one got (percent, None: none runs), and its text."""

    def __init__(self, capacity: int = 500_000, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.capacity = capacity
        self._lines: deque[str] = deque(maxlen=capacity)
        self._meta: deque[int] = deque(maxlen=capacity)
        self._appended = 0
        self._services: dict[str, int] = {}
        self._names: list[str] = []
        self._filter: LogFilter | None = None
        self._view: list[int] | None = None  # absolute ids when filtered
        self._search: Any = None  # an RE2 pattern (logtypes.user_regex)
        self._current: int | None = None  # absolute id of the current search hit
        self._width = 0
        self._job: FilterJob | None = None  # a filter running in a worker
        self._strips: dict[int, Strip] = {}  # rendered lines (wrapped rows reuse them)
        self._strips_key: object = None

    # ---- content -------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Lines that fell out of the ring buffer."""
        return self._appended - len(self._lines)

    @property
    def total(self) -> int:
        return len(self._lines)

    @property
    def visible_count(self) -> int:
        return len(self._view) if self._view is not None else len(self._lines)

    def service_index(self, service: str) -> int:
        if service not in self._services:
            self._services[service] = len(self._names)
            self._names.append(service)
        return self._services[service]

    def append_chunk(self, service: str, stream: int, text: str) -> None:
        """Add complete lines ("TIMESTAMP message\\n" each) of one service and stream."""
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if not lines:
            return
        code = self.service_index(service) * 2 + (1 if stream == 2 else 0)
        first = self._appended
        self._lines.extend(lines)
        self._meta.extend(repeat(code, len(lines)))
        self._appended += len(lines)
        self._width = max(self._width, 40 + max(map(len, lines[-50:])))
        if self._view is not None:
            keep = self._keeps
            self._view.extend(i for i, line in enumerate(lines, first) if keep(line))
            self._prune_view()
        if self._job is not None:  # what the running filter will add once it is done
            self._job.tail.extend(self._job.selector.select(lines, first))

    def flush(self) -> None:
        """Update the scroll size after appends, following the end when following."""
        self.virtual_size = Size(self._width, self.visible_count)
        self.counts = (self.visible_count, self.total, self.dropped)
        if self.following:
            # After the refresh: the new size is only laid out then.
            self.call_after_refresh(self._to_end)
        self.refresh()

    def _to_end(self) -> None:
        if self.following and self.scroll_y != self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def on_resize(self) -> None:
        if self.following:
            self.call_after_refresh(self._to_end)

    # A scrollbar that appears or goes changes the end (max_scroll_y) without a resize.
    def watch_show_horizontal_scrollbar(self) -> None:
        self.on_resize()

    def watch_show_vertical_scrollbar(self) -> None:
        self.on_resize()

    def clear(self) -> None:
        self._lines.clear()
        self._meta.clear()
        self._appended = 0
        self._strips = {}  # ids start again at 0
        self._view = [] if self._filter else None
        self._current = None
        self.cancel_filter()
        self.flush()

    def _prune_view(self) -> None:
        view, first = self._view, self.dropped
        if view and view[0] < first:
            cut = 0
            while cut < len(view) and view[cut] < first:
                cut += 1
            del view[:cut]

    def _line(self, absolute: int) -> tuple[str, int]:
        """The line without escape sequences or control characters, and its meta.

        Lines are kept as they came and cleaned here, when one is shown, searched, filtered
        or saved: what a person sees is what the line says, never what it would make a
        terminal do, and taking in a flood of lines costs nothing more (most are never
        looked at; a coloured one costs ~2 µs to clean)."""
        position = absolute - self.dropped
        return clean(self._lines[position]), self._meta[position]

    def _absolute(self, row: int) -> int | None:
        """The absolute id of the visible row ``row`` (None past the end)."""
        if self._view is not None:
            return self._view[row] if 0 <= row < len(self._view) else None
        return self.dropped + row if 0 <= row < len(self._lines) else None

    # ---- filter and search ---------------------------------------------------------------

    def _keeps(self, raw: str) -> bool:
        assert self._filter is not None
        return self._filter.keep(clean(raw[raw.find(" ") + 1 :]))

    def set_filter(self, pattern: str | None) -> None:
        """Show only matching lines; a leading '!' inverts. Raises UsageError when invalid.

        A buffer of more than one chunk is filtered in a worker, a chunk per step, while the
        view goes on showing what it showed; the result replaces it in one go when done. A
        new filter (or :meth:`cancel_filter`) cancels the running one."""
        selector = None
        if pattern:
            invert = pattern.startswith("!")
            selector = LineSelector(LogFilter(pattern[1:] if invert else pattern, invert))
        self.cancel_filter()
        if selector is None:
            self._filter, self._view = None, None
        elif len(self._lines) <= CHUNK:
            self._filter = selector.filter
            self._view = selector.select(list(self._lines), self.dropped)
        else:
            fetch = partial(self.app.call_from_thread, self._slice)  # from the worker's thread
            self._job = FilterJob(selector, self.dropped, self._appended, fetch)
            # The worker starts once the screen has redrawn (the prompt closed, its styles
            # recomputed): started at once, it took the GIL from that redraw, and the key
            # pressed next waited ~100 ms.
            self.call_after_refresh(self._start_filter, self._job)
            self._filter_changed()
            return
        self._current = None
        self.flush()
        self._filter_changed()

    @property
    def filtering(self) -> int | None:
        """How far the running filter got (percent), None when none runs."""
        return None if self._job is None else self._job.percent

    @property
    def pending_filter_text(self) -> str:
        return "" if self._job is None else filter_text(self._job.selector.filter)

    def cancel_filter(self) -> bool:
        """Stop the running filter (the view stays as it was); False when none ran."""
        job, self._job = self._job, None
        if job is None:
            return False
        job.cancelled = True
        self.workers.cancel_group(self, "log-filter")
        self._filter_changed()
        return True

    def _slice(self, start: int, stop: int) -> tuple[int, list[str]]:
        """The raw lines with absolute ids in [start, stop) still held (on the UI thread)."""
        first = max(start, self.dropped)
        if first >= stop:
            return stop, []
        position = first - self.dropped
        return first, list(islice(self._lines, position, position + stop - first))

    def _start_filter(self, job: FilterJob) -> None:
        if job is self._job:  # not cancelled or replaced meanwhile
            self._run_filter(job)

    @work(thread=True, exclusive=True, group="log-filter", name="filter_logs", exit_on_error=False)
    def _run_filter(self, job: FilterJob) -> None:
        """In a thread: select a chunk at a time; only ``call_from_thread`` reaches the UI."""
        worker = get_current_worker()
        app = self.app

        def progressed(percent: int) -> None:
            app.call_from_thread(self._filter_progressed, job, percent)

        kept = run_job(job, lambda: worker.is_cancelled, progressed)
        if kept is not None:
            app.call_from_thread(self._filter_done, job, kept)

    def _filter_progressed(self, job: FilterJob, percent: int) -> None:
        if job is self._job:
            job.percent = percent
            self._filter_changed()

    def _filter_done(self, job: FilterJob, kept: list[int]) -> None:
        if job is not self._job:
            return  # cancelled meanwhile
        self._job = None
        kept.extend(job.tail)
        self._filter, self._view = job.selector.filter, kept
        self._prune_view()
        self._current = None
        self.flush()
        self._filter_changed()

    def _filter_changed(self) -> None:
        self.filter_state = (self.filter_text, self.filtering, self.pending_filter_text)

    @property
    def filter_text(self) -> str:
        return "" if self._filter is None else filter_text(self._filter)

    def set_search(self, pattern: str | None) -> None:
        """Highlight and find matches; raises UsageError when the pattern is invalid."""
        self._search = user_regex(pattern, "search") if pattern else None
        self._current = None
        self.refresh()

    def find(self, forward: bool = True) -> bool:
        """Move to the next (or previous) line matching the search; pauses following."""
        if self._search is None or not self.visible_count:
            return False
        rows = self.visible_count
        start = self._row_of(self._current) if self._current is not None else (
            int(self.scroll_y) - 1 if forward else int(self.scroll_y) + self.size.height
        )  # fmt: skip
        row = start + 1 if forward else min(start - 1, rows - 1)
        selector = LineSelector(LogFilter(self._search.pattern))
        found = next_hit(selector, rows, row, forward, self._raws)
        if found is None:
            return False
        self._current = self._absolute(found)
        self.following = False
        self.scroll_to(y=max(0, found - self.size.height // 2), animate=False)
        self.refresh()
        return True

    def _raws(self, rows: range) -> list[str]:
        """The raw lines of visible rows."""
        return [self._lines[i - self.dropped] for i in map(self._absolute, rows) if i is not None]

    def _row_of(self, absolute: int) -> int:
        if self._view is None:
            return absolute - self.dropped
        import bisect

        return bisect.bisect_left(self._view, absolute)

    # ---- saving --------------------------------------------------------------------------

    def export_lines(self) -> list[str]:
        """The visible lines as ``service | TIMESTAMP message`` (what a save writes)."""
        out = []
        for row in range(self.visible_count):
            absolute = self._absolute(row)
            assert absolute is not None
            raw, meta = self._line(absolute)
            out.append(f"{self._names[meta // 2]} | {raw}")
        return out

    # ---- following -----------------------------------------------------------------------

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        at_end = new >= self.max_scroll_y
        if at_end != self.following and (new < old or at_end):
            self.following = at_end

    def resume(self) -> None:
        self.following = True
        self._current = None
        self.flush()

    def watch_show_timestamps(self) -> None:
        self.refresh()

    def watch_wrap(self) -> None:
        self.refresh()

    # ---- rendering -----------------------------------------------------------------------

    def _segments(self, absolute: int) -> list[Segment]:
        raw, meta = self._line(absolute)
        return line_segments(
            raw, meta, self._names, timestamps=self.show_timestamps,
            search=None if absolute == self._current else self._search,
            current=absolute == self._current,
        )  # fmt: skip

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        style = self.rich_style
        if self.wrap:
            return self._wrapped_row(y, width, style)
        scroll_x, scroll_y = self.scroll_offset
        absolute = self._absolute(scroll_y + y)
        if absolute is None:
            return Strip.blank(width, style)
        strip = Strip(self._segments(absolute)).apply_style(style)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    def _strip(self, absolute: int, style: Style) -> Strip:
        """A line's strip; wrapped rows ask for the same lines many times per frame."""
        key = (self.show_timestamps, len(self._names), self._search, self._current, style)
        if key != self._strips_key or len(self._strips) > 4096:
            self._strips_key, self._strips = key, {}
        strip = self._strips.get(absolute)
        if strip is None:
            strip = Strip(self._segments(absolute)).apply_style(style)
            self._strips[absolute] = strip
        return strip

    def _wrapped_row(self, y: int, width: int, style: Style) -> Strip:
        def strip_of(row: int) -> Strip | None:
            absolute = self._absolute(row)
            return None if absolute is None else self._strip(absolute, style)

        first = None if self.following else int(self.scroll_y)  # following: from the end up
        return wrapped_row(y, width, style, self.size.height, self.visible_count, first, strip_of)
