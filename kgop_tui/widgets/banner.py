"""Banner: a one-line notice at the top of a screen (dependency down, stream ended)."""

from __future__ import annotations

from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Static

from kgop_tui.errors import KgopError


class Banner(Static):
    """Hidden until :meth:`show`; ``-error`` or ``-info`` set its colour."""

    message: reactive[str] = reactive("", layout=True)

    def show_error(self, error: KgopError, retrying: bool = True) -> None:
        suffix = " — retrying…" if retrying else ""
        hint = f"  Hint: {error.hint}" if error.hint else ""
        self.set_classes("-error -visible")
        self.message = f"✖ {error.message}{suffix}{hint}"

    def show_failure(self, text: str) -> None:
        """Something stopped and will not restart by itself (the text says what to press)."""
        self.set_classes("-error -visible")
        self.message = f"✖ {text}"

    def show_info(self, text: str) -> None:
        self.set_classes("-info -visible")
        self.message = f"ℹ {text}"

    def clear(self) -> None:
        self.set_classes("")
        self.message = ""

    @property
    def visible_message(self) -> str | None:
        return self.message if self.has_class("-visible") else None

    def watch_message(self, message: str) -> None:
        self.update(Content(message))  # plain text: messages quote errors and log lines
