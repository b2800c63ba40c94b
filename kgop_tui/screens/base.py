"""What every kgop screen shares: services, the clock, the banner, error reporting.

A worker's ``StateChanged`` is posted to the node that started it and does not bubble, so
the app never hears of a worker that died: each screen handles its own, through
:class:`WorkerFailures`, the one place a failure nobody caught becomes visible.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from kgop_tui.errors import DependencyUnavailable, KgopError, describe_unexpected
from kgop_tui.ports import Services
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import ErrorScreen

if TYPE_CHECKING:
    from kgop_tui.app import KgopApp

T = TypeVar("T")


def notify_failure(node: MessagePump, error: KgopError) -> None:
    """An expected failure: a notification titled by its class, with the hint."""
    hint = f"\n{error.hint}" if error.hint else ""
    node.app.notify(f"{error.message}{hint}", title=error.title, severity="error", timeout=8)


def where(error: BaseException) -> str:
    """The innermost frame of the traceback, as ``module.py:line in function``."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}"


class WorkerFailures(MessagePump):
    """Mixed into a screen: a worker of it that raised is shown, never silent, never a crash.

    A :class:`KgopError` is a notification with its hint; anything else opens the
    :class:`ErrorScreen` with what failed, the exception's type and message (no
    traceback, credentials masked). Workers are started with ``exit_on_error=False``.
    """

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        error = event.worker.error
        if event.state is not WorkerState.ERROR or error is None or not self.is_attached:
            return
        self.worker_failed(event.worker)
        if isinstance(error, KgopError):
            notify_failure(self, error)
            return
        what = event.worker.name or "a background task"
        location = where(error)
        title = f"Unexpected error in {what} ({self.failure_context()})"
        text = (
            f"{describe_unexpected(error)}\n"
            + (f"at {location}\n" if location else "")
            + "\nThis is a bug in kgop; the rest of the app keeps working."
            "\nc copies this text for a report · Esc closes"
        )
        shown = self.app.screen
        if isinstance(shown, ErrorScreen) and (shown.title_text, shown.text) == (title, text):
            return  # a poll failing again: one dialog, not a pile of them
        self.app.push_screen(ErrorScreen(title, text))

    def failure_context(self) -> str:
        """Where a failure happened, for its dialog: the screen's name."""
        return type(self).__name__

    def worker_failed(self, worker: Worker[Any]) -> None:
        """Put right what a failed worker left half done (a busy flag, a "Loading…")."""


class KgopScreen(WorkerFailures, Screen[None]):
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

    def failure_context(self) -> str:
        return f"{self.SCREEN_NAME} screen"

    def report(self, error: KgopError) -> None:
        """An expected failure of an action: a notification with the hint."""
        notify_failure(self, error)

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
