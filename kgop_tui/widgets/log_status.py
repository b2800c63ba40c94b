"""The log view's status line, drawn from state: the screen's (whose logs, a stream that
ended) bound to it with ``data_bind``, and the view's reactives (lines, following, filter,
timestamps, wrap) watched. Nothing pushes text into it; it redraws when one of them changes.
"""

from __future__ import annotations

from textual.reactive import var
from textual.widgets import Static

from kgop_tui.widgets.log_view import LogView

# The view's reactives the line shows.
_WATCHED = ("counts", "following", "filter_state", "show_timestamps", "wrap")


class LogStatus(Static):
    """``all services · 6/6 lines · ▶ following · filter /x · times``."""

    chosen: var[list[str] | None] = var(None)
    """The services followed; None: every service."""
    ended: var[str | None] = var(None)
    """Why the stream stopped for good; None while it runs."""

    def __init__(self, view: LogView, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.view = view

    def on_mount(self) -> None:
        for name in _WATCHED:
            self.watch(self.view, name, self._redraw, init=False)
        self._redraw()

    def watch_chosen(self) -> None:
        self._redraw()

    def watch_ended(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        self.update(self.text())

    def text(self) -> str:
        view = self.view
        visible, total, dropped = view.counts
        who = ", ".join(self.chosen) if self.chosen else "all services"
        parts = [who, f"{visible:,}/{total:,} lines"]
        if self.ended is not None:
            parts.append("■ stream ended (End follows again)")
        else:
            parts.append("▶ following" if view.following else "⏸ paused (End resumes)")
        if dropped:
            parts.append(f"dropped {dropped:,}")
        applied, percent, pending = view.filter_state
        if percent is not None:
            parts.append(f"filtering /{pending}… {percent}%")
        elif applied:
            parts.append(f"filter /{applied}")
        if view.show_timestamps:
            parts.append("times")
        if view.wrap:
            parts.append("wrap")
        return "  ·  ".join(parts)
