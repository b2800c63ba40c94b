"""A container's log and its healthcheck's output cannot act on the operator's terminal:
the escape sequences in them are gone from what the TUI draws."""

from __future__ import annotations

from textual.widgets import DataTable, Static

from kgop_tui.screens.logs import LogsScreen
from kgop_tui.widgets.log_view import LogView
from tests.support.hostile import HOSTILE, SHOWN, is_inert
from tests.support.tui import make_app, until
from tests.tui.fakes import Fakes, swarm_status


def drawn(view: LogView) -> list[str]:
    """The rows the log view draws, as text."""
    return [view.render_line(y).text for y in range(view.size.height)]


async def test_log_lines_arrive_without_their_escape_sequences(fakes: Fakes) -> None:
    fakes.engine.log_lines = [("api", f"GET {HOSTILE}"), ("web", "ERROR\x1b]52;c;QQ==\x07 x")]
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        assert isinstance(app.screen, LogsScreen)
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: view.total == 2, "the log lines")
        await pilot.pause()
        rows = drawn(view)
        assert any(f"GET {SHOWN}" in row for row in rows), rows
        assert any("ERROR x" in row for row in rows), rows
        assert all(is_inert(row) for row in rows)
        assert [line.split(" ", 3)[-1] for line in view.export_lines()] == [
            f"GET {SHOWN}",
            "ERROR x",
        ]  # what a save writes
        await pilot.press("t", "w")  # timestamps, wrapping: drawn another way, as clean
        await pilot.pause()
        assert all(is_inert(row) for row in drawn(view))


async def test_healthcheck_output_and_task_messages_arrive_clean(fakes: Fakes) -> None:
    status = swarm_status()
    api = status.services[0]
    tasks = list(api.tasks or [])
    tasks[1] = tasks[1]._replace(message=f"failed {HOSTILE}", health_output=f"probe {HOSTILE}")
    unhealthy = status.services[1].replace(health_output=f"out {HOSTILE}", health_exit_code=1)
    fakes.engine.status = status.replace(
        services=[api.replace(tasks=tasks), unhealthy, *status.services[2:]]
    )
    app = make_app(fakes)
    async with app.run_test(size=(140, 40)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        await pilot.press("enter")  # api's tasks as rows; the second one chosen
        await until(pilot, lambda: table.row_count == 6, "the tasks")
        await pilot.press("down", "down")
        detail = str(app.screen.query_one("#service-detail", Static).render())
        assert f"failed {SHOWN}" in detail
        assert f"last healthcheck: probe {SHOWN}" in detail
        assert is_inert(detail.replace("\n", ""))
        await pilot.press("down")  # the next service: its healthcheck's output
        detail = str(app.screen.query_one("#service-detail", Static).render())
        assert f"out {SHOWN}" in detail
        assert is_inert(detail.replace("\n", ""))
