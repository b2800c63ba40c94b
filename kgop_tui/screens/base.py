"""What every kgop screen shares: services, the clock, the banner, error reporting."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar, cast

from textual.screen import Screen

from kgop_tui.errors import DependencyUnavailable, KgopError
from kgop_tui.ports import Services
from kgop_tui.widgets.banner import Banner

if TYPE_CHECKING:
    from kgop_tui.app import KgopApp

T = TypeVar("T")


class KgopScreen(Screen[None]):
    """A screen of the operator: reaches services only through the app."""

    SCREEN_KEY = ""
    SCREEN_NAME = ""
    CHANGES: frozenset[str] = frozenset()
    """The actions of this screen that change something (a container, the database, a
    file, the configuration): disabled when the app is read-only (``kgop serve``)."""

    def on_mount(self) -> None:
        read_only = "  ·  read-only" if self.kgop.read_only else ""
        self.sub_title = f"{self.SCREEN_KEY} {self.SCREEN_NAME}{read_only}"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only: an action that changes something neither runs nor shows."""
        return not (action in self.CHANGES and self.kgop.read_only)

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

    async def guarded(self, fetch: Awaitable[T]) -> T | None:
        """Await a load; on failure show it in the banner (retrying if a dependency is down)."""
        try:
            value = await fetch
        except DependencyUnavailable as error:
            self.banner.show_error(error)
            return None
        except KgopError as error:
            self.banner.show_error(error, retrying=False)
            return None
        self.banner.clear()
        return value

    def keep_retrying(self, reload: Callable[[], object], seconds: float = 3.0) -> None:
        """While the banner shows a failure, call ``reload`` every few seconds."""

        def retry() -> None:
            if self.banner.visible_message and self.ready_to_reload():
                reload()

        self.set_interval(seconds, retry)

    def ready_to_reload(self) -> bool:
        return True

    def from_thread(self, callback: Callable[..., object], *args: object) -> None:
        """Run ``callback`` on the app's loop from a worker thread (no-op once closing)."""
        with contextlib.suppress(RuntimeError):  # the app is shutting down
            self.app.call_from_thread(callback, *args)
