"""What every kgop screen shares: services, the clock, the banner, error reporting."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, cast

from textual.screen import Screen

from kgop_tui.errors import KgopError
from kgop_tui.ports import Services
from kgop_tui.widgets.banner import Banner

if TYPE_CHECKING:
    from kgop_tui.app import KgopApp


class KgopScreen(Screen[None]):
    """A screen of the operator: reaches services only through the app."""

    SCREEN_KEY = ""
    SCREEN_NAME = ""

    def on_mount(self) -> None:
        self.sub_title = f"{self.SCREEN_KEY} {self.SCREEN_NAME}"

    @property
    def kgop(self) -> KgopApp:
        return cast("KgopApp", self.app)

    @property
    def services(self) -> Services:
        return self.kgop.services

    def now(self) -> datetime:
        return self.kgop.clock()

    @property
    def banner(self) -> Banner:
        return self.query_one(Banner)

    def report(self, error: KgopError) -> None:
        """An expected failure of an action: a notification with the hint."""
        hint = f"\n{error.hint}" if error.hint else ""
        self.notify(f"{error.message}{hint}", title=error.title, severity="error", timeout=8)

    def from_thread(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback`` on the app's loop from a worker thread (no-op once closing)."""
        with contextlib.suppress(RuntimeError):  # the app is shutting down
            self.app.call_from_thread(callback, *args)
