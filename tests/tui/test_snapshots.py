"""Every screen at 80x24 and 120x36, on fixed fake data and a frozen clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from kgop_tui.widgets.dialogs import ConfirmScreen
from kgop_tui.widgets.log_view import LogView
from tests.support.tui import make_app, until
from tests.tui.fakes import Fakes, swarm_status


def rows(selector: str, count: int) -> Callable[[Any], bool]:
    return lambda app: (
        bool(app.screen.query(selector))
        and (app.screen.query_one(selector, DataTable).row_count == count)
    )


def health_ready(app: Any) -> bool:
    """The services, the stats sample of each running one (api, garage, postgres), and the
    header line."""
    return (
        rows("#services", 4)(app)
        and len(getattr(app.screen, "figures", {})) == 3
        and "database" in str(app.screen.query_one("#host-facts", Static).render())
    )


READY: dict[str, Callable[[Any], bool]] = {
    "1": health_ready,
    "2": lambda app: bool(app.screen.query(LogView)) and app.screen.query_one(LogView).total == 6,
    "3": rows("#migrations", 5),
    "4": lambda app: (
        bool(app.screen.query("#config-summary"))
        and "Admins" in str(app.screen.query_one("#config-summary", Static).render())
    ),
    "5": lambda app: (
        bool(app.screen.query("#upgrade-plan"))
        and "0009" in str(app.screen.query_one("#upgrade-plan", Static).render())
    ),
}


@pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])
@pytest.mark.parametrize(
    "key", ["1", "2", "3", "4", "5"], ids=["health", "logs", "migrations", "config", "upgrade"]
)
def test_screen(snap_compare: Any, key: str, size: tuple[int, int]) -> None:
    app = make_app(Fakes())

    async def ready(pilot: Pilot[None]) -> None:
        await pilot.press(key)
        await until(pilot, lambda: READY[key](app), f"screen {key} to load")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=ready)


def test_upgrade_rolled_back(snap_compare: Any) -> None:
    """The walkthrough after a failed health gate: states, the marker, log and report."""
    fakes = Fakes()
    fakes.upgrades.fail_at = "health"
    app = make_app(fakes)

    def summary() -> str:
        return str(app.screen.query_one("#upgrade-summary", Static).render())

    async def ready(pilot: Pilot[None]) -> None:
        await pilot.press("5")
        await until(pilot, lambda: "press Enter" in summary(), "the plan")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await until(
            pilot,
            lambda: "rolled back" in summary() and "press Enter" in summary(),
            "the rollback and the new plan",
            limit=30,
        )
        app.clear_notifications()  # a toast that fades on its own clock
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=ready)


def test_health_on_a_swarm_stack_with_tasks_unfolded(snap_compare: Any) -> None:
    """A rolling update seen on Health: api at 1/2 replicas, its tasks unfolded (Enter)."""
    fakes = Fakes()
    fakes.engine.status = swarm_status()
    app = make_app(fakes)

    async def ready(pilot: Pilot[None]) -> None:
        await until(pilot, lambda: health_ready(app), "the services")
        await pilot.press("enter", "down", "down")
        await until(pilot, lambda: rows("#services", 6)(app), "api's tasks")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 36), run_before=ready)
