"""The log view's filter over a large buffer runs in a worker; wrap keeps following."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from textual.widgets import Input, Static

from kgop_tui.widgets import log_filtering
from kgop_tui.widgets.log_filtering import LineSelector
from kgop_tui.widgets.log_view import LogView
from tests.support.tui import make_app, until
from tests.tui.fakes import Fakes, log_batch

LINES = 60_000  # more than one chunk: filtered in a worker


def status(app: object) -> str:
    return str(app.screen.query_one("#log-status", Static).render())  # type: ignore[attr-defined]


def fill(view: LogView, count: int) -> None:
    text = "".join(
        f"2026-11-26T12:00:00.{i:09d}Z GET /q?id={i} status={500 if i % 7 == 0 else 200}\n"
        for i in range(count)
    )
    view.append_chunk("api", 1, text)
    view.flush()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Holds every filter step until the test opens it, so "meanwhile" is deterministic."""
    opened = threading.Event()
    select = LineSelector.select

    def held(self: LineSelector, raws: Sequence[str], base: int = 0) -> list[int]:
        if (
            len(raws) == log_filtering.BLOCK
            and threading.current_thread() is not threading.main_thread()
        ):
            opened.wait(10)
        return select(self, raws, base)

    monkeypatch.setattr(LineSelector, "select", held)
    return opened


async def logs_holding(pilot: object, app: object, count: int) -> LogView:
    """The Logs screen, its view filled to ``count`` lines after the fakes' first six."""
    await pilot.press("2")  # type: ignore[attr-defined]
    view: LogView = app.screen.query_one(LogView)  # type: ignore[attr-defined]
    await until(pilot, lambda: view.total == 6, "the first lines")  # type: ignore[arg-type]
    fill(view, count)
    return view


async def submit(pilot: object, app: object, pattern: str) -> None:
    await pilot.press("slash")  # type: ignore[attr-defined]
    app.screen.query_one("#log-prompt", Input).value = pattern  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]


async def test_a_large_filter_runs_in_a_worker_and_keys_still_work(
    fakes: Fakes, gate: threading.Event
) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await logs_holding(pilot, app, LINES - 6)
        await submit(pilot, app, "status=500")
        assert view.filtering is not None
        assert "filtering /status=500" in status(app)
        assert view.visible_count == LINES  # still the whole buffer until the result is in
        await pilot.press("t")  # keys work meanwhile
        assert view.show_timestamps
        late = log_batch([("api", "late status=500"), ("api", "late ok")], 99)
        app.screen.ingest(late)  # type: ignore[attr-defined]
        gate.set()
        await until(pilot, lambda: view.filtering is None, "the filter")
        kept = [line.split(" ", 3)[-1] for line in view.export_lines()]
        expected = [f"GET /q?id={i} status=500" for i in range(LINES - 6) if i % 7 == 0]
        assert kept == expected + ["late status=500"]
        await until(pilot, lambda: "filtering" not in status(app), "the status line")
        assert "filter /status=500" in status(app)

        gate.clear()
        await submit(pilot, app, "!status=500")
        gate.set()
        await until(pilot, lambda: view.filtering is None, "the inverted filter")
        assert view.visible_count == view.total - len(expected) - 1
        assert all("status=500" not in line for line in view.export_lines())


async def test_a_new_filter_cancels_the_running_one_and_escape_stops_it(
    fakes: Fakes, gate: threading.Event
) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await logs_holding(pilot, app, LINES)
        await submit(pilot, app, "status=500")
        first = view._job
        await submit(pilot, app, "id=12345 ")
        assert first is not None
        assert first.cancelled
        assert "filtering /id=12345 " in status(app)
        gate.set()
        await until(pilot, lambda: view.filtering is None, "the second filter")
        assert [line.split(" ", 3)[-1] for line in view.export_lines()] == [
            "GET /q?id=12345 status=200"
        ]
        gate.clear()
        await submit(pilot, app, "status=500")
        assert view.filtering is not None
        await pilot.press("escape")
        assert view.filtering is None
        await until(pilot, lambda: "filtering" not in status(app), "the status line")
        assert view.filter_text == "id=12345 "
        assert view.visible_count == 1
        gate.set()
        filters = [w for w in app.workers if w.group == "log-filter"]
        await until(pilot, lambda: all(w.is_finished for w in filters), "the cancelled worker")
        assert view.filter_text == "id=12345 "


def uncoloured(text: str) -> str:
    return text.replace("\x1b[31m", "").replace("\x1b[0m", "")


def test_the_block_filter_keeps_what_line_by_line_keeps() -> None:
    from kgop_tui.logtypes import LogFilter

    raws = [f"2026-11-26T12:00:00Z {text}" for text in (
        "alpha", "beta \x1b[31mred\x1b[0m", "", "no-stamp", "gamma\tdelta", "ünïcode beta",
        "alphabet",
    )] + ["nospace"]  # fmt: skip
    for pattern in ("beta", "^a", "a$", "^$", "\\Aalpha", "[^x]+", "(?-m)^g", "red", "e\\s*$"):
        for invert in (False, True):
            log_filter = LogFilter(pattern, invert)
            expected = [
                i for i, raw in enumerate(raws, 10)
                if log_filter.keep(uncoloured(raw[raw.find(" ") + 1 :]))
            ]  # fmt: skip
            assert LineSelector(log_filter).select(raws, 10) == expected, (pattern, invert)


async def test_wrapped_lines_keep_the_newest_in_view_while_following(fakes: Fakes) -> None:
    fakes.engine.log_lines = [("api", f"line {i} " + "x" * 300) for i in range(40)]
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: view.total == 40, "the lines")
        await pilot.press("w")
        app.screen.ingest(log_batch([("api", "the newest line")], 40))  # type: ignore[attr-defined]
        await until(pilot, lambda: view.total == 41, "the newest line")
        await pilot.pause()
        rows = [view.render_line(y).text for y in range(view.size.height)]
        assert view.following
        assert any("the newest line" in row for row in rows[-2:]), rows[-3:]


async def test_find_scans_a_large_buffer_both_ways(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await logs_holding(pilot, app, LINES)
        await pilot.press("f", *f"id={LINES - 10} ", "enter")
        assert view._current == 6 + LINES - 10  # six lines from the fake engine first
        view.set_search("id=3 ")
        assert view.find(False)
        assert view._current == 6 + 3
        assert not view.find(False)
        view.set_search("id=30 ")
        assert view.find(True)
        assert view._current == 6 + 30


async def test_the_footer_keeps_its_keys_when_the_prompt_opens_and_closes(fakes: Fakes) -> None:
    """The prompt hides the keys it takes and closing it shows them again, without the
    footer being rebuilt (a rebuild held the next key press ~100 ms)."""
    from textual.widgets._footer import FooterKey

    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await logs_holding(pilot, app, 10)
        await pilot.pause()
        before = list(app.screen.query(FooterKey))
        assert "Filter" in [key.description for key in before]
        await pilot.press("slash")
        await pilot.pause()
        keys = app.screen.query(FooterKey)
        shown = [k.description for k in keys if k.display and not k.has_class("-command-palette")]
        assert shown == ["Filter", "Save"]  # what the prompt leaves to keys; typing takes the rest
        await pilot.press("enter")
        await pilot.pause()
        assert list(app.screen.query(FooterKey)) == before
        assert all(key.display for key in before)
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert list(app.screen.query(FooterKey)) == before
