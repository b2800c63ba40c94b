"""The Upgrade screen in a read-only session (`kgop serve`): the last plan, no preflight.

A preflight pulls images and writes under KG_HOME/upgrade; a read-only session shows what
the last one stored instead, and offers no key that would run one.
"""

from __future__ import annotations

from textual.widgets import Static

from kgop_tui.app import KgopApp
from kgop_tui.screens.upgrade import UpgradeScreen
from tests.support.tui import until
from tests.tui.fakes import NOW, Fakes


def summary(app: KgopApp) -> str:
    return str(app.screen.query_one("#upgrade-summary", Static).render())


def plan_text(app: KgopApp) -> str:
    return str(app.screen.query_one("#upgrade-plan", Static).render())


def footer(app: KgopApp) -> str:
    return " ".join(str(k.description) for k in app.screen.query("FooterKey"))


async def test_read_only_shows_the_last_plan_and_runs_no_preflight(fakes: Fakes) -> None:
    fakes.upgrades.plan("0.6.0")  # a preflight made earlier (kgop upgrade --dry-run)
    fakes.upgrades.preflights = 0
    app = KgopApp(fakes.services(), clock=lambda: NOW, read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: isinstance(app.screen, UpgradeScreen), "the upgrade screen")
        await until(pilot, lambda: "Last plan" in summary(app), "the stored plan")
        assert f"made {NOW:%Y-%m-%d %H:%M} UTC: 0.5.0 → 0.6.0" in summary(app)
        assert "0009_ingestion_jobs.sql" in plan_text(app)
        for key in ("Re-check", "Target", "Recover", "Abort"):
            assert key not in footer(app), footer(app)
        await pilot.press("r", "t", "enter", "R")
        await pilot.pause(0.2)
        assert fakes.upgrades.preflights == 0
        assert fakes.upgrades.started == []


async def test_read_only_without_a_plan_says_how_to_make_one(fakes: Fakes) -> None:
    app = KgopApp(fakes.services(), clock=lambda: NOW, read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: "planned" in summary(app), "the summary")
        assert "kgop upgrade --dry-run" in summary(app)
        assert plan_text(app) == ""
        assert fakes.upgrades.preflights == 0


async def test_with_actions_the_screen_still_runs_its_preflight(fakes: Fakes) -> None:
    app = KgopApp(fakes.services(), clock=lambda: NOW)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: "press Enter" in summary(app), "the plan")
        assert fakes.upgrades.preflights == 1
        assert fakes.upgrades.last_plan() is not None


async def test_read_only_watching_an_upgrade_to_its_end_runs_no_preflight(fakes: Fakes) -> None:
    fakes.upgrades.plan("0.6.0")
    fakes.upgrades.start("0.6.0")  # started elsewhere (kgop upgrade --yes); this one watches
    fakes.upgrades.preflights = 0
    app = KgopApp(fakes.services(), clock=lambda: NOW, read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: "succeeded" in summary(app), "the upgrade's end", limit=30)
        await until(pilot, lambda: "Last plan" in summary(app), "the stored plan again")
        assert fakes.upgrades.preflights == 0
