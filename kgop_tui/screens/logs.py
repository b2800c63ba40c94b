"""Logs: live, merged logs of the chosen services, with filter, search and save."""

from __future__ import annotations

import time

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.widgets import Header, Input, SelectionList
from textual.worker import get_current_worker

from kgop_tui.errors import KgopError, UsageError, describe_unexpected
from kgop_tui.logtypes import LogBatch
from kgop_tui.ports import LogSource
from kgop_tui.screens.base import KgopScreen
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import FormScreen
from kgop_tui.widgets.footer import SteadyFooter
from kgop_tui.widgets.log_status import LogStatus
from kgop_tui.widgets.log_view import LogView

TAIL = 500


class LogsScreen(KgopScreen):
    """Follows the logs of all (or the chosen) services."""

    SCREEN_KEY = "2"
    SCREEN_NAME = "Logs"
    CHANGES = frozenset({"save"})  # writes a file on the server

    BINDINGS = [
        Binding(
            "slash",
            "prompt('filter')",
            "Filter",
            tooltip="Filter the logs (regular expression, ! inverts)",
        ),
        Binding("f", "prompt('search')", "Find", tooltip="Find in the logs (then n / N)"),
        Binding("n", "find(True)", "Next", show=False),
        Binding("N", "find(False)", "Prev", show=False),
        Binding("t", "flip('show_timestamps')", "Times", tooltip="Show or hide log timestamps"),
        Binding("w", "flip('wrap')", "Wrap", tooltip="Wrap long log lines"),
        Binding("c", "choose", "Services", tooltip="Choose the services whose logs to follow"),
        Binding("ctrl+s", "save", "Save", tooltip="Save the logs to a file"),
        Binding("end,G", "resume", "Follow", tooltip="Resume following the logs"),
        Binding("escape", "close_prompt", "Close", show=False),
    ]

    chosen: var[list[str] | None] = var(None)
    """The services followed; None: every service."""
    ended: var[str | None] = var(None)
    """Why the stream stopped for good (End follows again); None while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self._prompt_for = "filter"

    def compose(self) -> ComposeResult:
        view = LogView(id="log-view")
        yield Header()
        yield Banner(id="logs-banner")
        yield LogStatus(view, id="log-status").data_bind(LogsScreen.chosen, LogsScreen.ended)
        yield view
        yield Input(id="log-prompt", classes="-hidden")
        yield SteadyFooter()

    @property
    def view(self) -> LogView:
        return self.query_one(LogView)

    def on_mount(self) -> None:
        self.follow()

    # ---- following -----------------------------------------------------------------------

    def follow(self) -> None:
        self.ended = None
        self.view.clear()
        self._follow_logs(list(self.chosen) if self.chosen else None)

    @work(thread=True, exclusive=True, group="logs", name="follow_logs", exit_on_error=False)
    def _follow_logs(self, services: list[str] | None) -> None:
        try:
            self._open_and_stream(services)
        except Exception as error:
            if not get_current_worker().is_cancelled:
                self.from_thread(self.stream_died, describe_unexpected(error))
            raise  # a bug to report too: the screen's worker handler opens the error dialog

    def _open_and_stream(self, services: list[str] | None) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            try:
                source = self.services.engine.follow_logs(services, TAIL)
            except KgopError as error:
                self.from_thread(self.banner.show_error, error)
                retry_at = time.monotonic() + 2.0  # back off, staying cancellable
                while time.monotonic() < retry_at and not worker.is_cancelled:
                    time.sleep(0.1)
                continue
            self.from_thread(self.banner.clear)
            self._stream(source)
            return

    def _stream(self, source: LogSource) -> None:
        """Hand the source's batches to the view until cancelled or the stream dies."""
        worker = get_current_worker()
        try:
            source.start()
            while not worker.is_cancelled:
                batch = source.get(timeout=0.1)
                if batch is not None:
                    # Waits for the UI to take it: a slow screen slows the reader down.
                    self.app.call_from_thread(self.ingest, batch)
        except KgopError as error:
            if not worker.is_cancelled:
                self.from_thread(self.stream_died, error.message)
        finally:
            source.close()

    def stream_died(self, reason: str) -> None:
        self.ended = reason
        self.banner.show_failure(f"log stream ended: {reason} — End follows again")

    def ingest(self, batch: LogBatch) -> None:
        view = self.view
        for chunk in batch.chunks:
            view.append_chunk(chunk.service, chunk.stream, chunk.text)
        view.flush()
        for event in batch.events:
            if event.kind == "failed":  # this one will not come back by itself
                self.stream_died(f"{event.service}: {event.detail}")
            elif event.kind == "ended":
                self.banner.show_info(f"{event.service}: log stream ended (container stopped)")
            else:
                self.banner.show_info(f"{event.service}: log stream reattached")

    # ---- keys ----------------------------------------------------------------------------

    def action_flip(self, attribute: str) -> None:
        view = self.view
        setattr(view, attribute, not getattr(view, attribute))

    def action_resume(self) -> None:
        if self.ended is not None:
            self.follow()  # the stream died: a new one, from the last lines again
        self.view.resume()

    def action_prompt(self, purpose: str) -> None:
        self._prompt_for = purpose
        prompt = self.query_one("#log-prompt", Input)
        prompt.placeholder = (
            "filter: regular expression, '!' first to invert, empty to clear"
            if purpose == "filter"
            else "find: regular expression, then n / N"
        )
        prompt.value = self.view.filter_text if purpose == "filter" else ""
        prompt.remove_class("-hidden")
        prompt.focus()

    def action_close_prompt(self) -> None:
        prompt = self.query_one("#log-prompt", Input)
        if prompt.has_class("-hidden"):
            self.view.cancel_filter()  # Escape stops a running filter; the view stays as it was
        prompt.add_class("-hidden")
        self.view.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "log-prompt":
            return
        try:
            if self._prompt_for == "filter":
                self.view.set_filter(event.value)
            else:
                self.view.set_search(event.value)
                if event.value and not self.view.find(True):
                    self.notify(f"No line matches {event.value!r}.", severity="warning")
        except UsageError as exc:  # an invalid filter or search explains itself
            self.notify(exc.one_line(), severity="error")
            return
        self.action_close_prompt()

    def action_find(self, forward: bool) -> None:
        if not self.view.find(forward):
            self.notify("No more matches.", severity="warning")

    def action_save(self) -> None:
        lines = self.view.export_lines()
        self._save(lines)

    @work(thread=True, group="save", name="save_logs", exit_on_error=False)
    def _save(self, lines: list[str]) -> None:
        try:
            path = self.services.save_logs(lines)
        except KgopError as error:
            self.from_thread(self.report, error)
            return
        self.from_thread(self.notify, f"Saved {len(lines):,} lines to {path} (mode 0600).")

    @work(exclusive=True, group="choose", name="choose_services", exit_on_error=False)
    async def action_choose(self) -> None:
        status = self.kgop.last_status
        names = sorted({s.service for s in status.services}) if status else []
        if not names:
            self.notify("No services known yet.", severity="warning")
            return
        current = set(self.chosen or names)
        picker: SelectionList[str] = SelectionList(*[(n, n, n in current) for n in names])
        form = FormScreen("Services to follow (space toggles)", [("services", "", picker)])
        values = await self.app.push_screen_wait(form)
        if values is None:
            return
        picked = [str(v) for v in values.get("services") or []]
        self.chosen = None if not picked or len(picked) == len(names) else sorted(picked)
        self.follow()
