"""The real Health screen on the real engine and Postgres: what each container costs, and
the header's room and database size."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from textual.widgets import DataTable, Static

from kgop_tui.app import KgopApp
from kgop_tui.screens.health import KEYS
from kgop_tui.services.wiring import build_services
from kgop_tui.settings import load_settings
from tests.support.engines import ComposeProject, DockerEngine, busy_and_idle
from tests.support.tui import until


@pytest.fixture(scope="module")
def project(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    with busy_and_idle(docker_engine, tmp_path_factory.mktemp("health-real")) as p:
        yield p


def cell(table: DataTable[object], row: str, column: str) -> str:
    return str(table.get_row(row)[KEYS.index(column)])


def mib(text: str) -> float:
    """``416K/23.5G`` → the used part in MiB."""
    match = re.match(r"([\d.]+)([BKMG])", text)
    assert match, text
    scale = {"B": 1 / 2**20, "K": 1 / 1024, "M": 1.0, "G": 1024.0}[match.group(2)]
    return float(match.group(1)) * scale


async def test_health_shows_cost_per_container_and_the_header(
    project: ComposeProject, postgres: str
) -> None:
    env = project.home / ".env"
    env.write_text(env.read_text() + f"KGOP_DATABASE_URL={postgres}\n")
    app = KgopApp(build_services(load_settings(kg_home=project.home, environ={})))
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 2, "both containers", 30)
        busy, idle = (f"{project.name}-{s}-1" for s in ("busy", "idle"))

        def busy_measured() -> bool:  # the first samples may still be ramping up
            text = cell(table, busy, "cpu")
            return text.endswith("%") and float(text[:-1]) > 5

        # Far less than a core on a loaded machine; far above the sleeping one everywhere.
        await until(pilot, busy_measured, "busy's CPU above 5 %", 30)
        idle_cpu = float(cell(table, idle, "cpu")[:-1])
        assert idle_cpu < 5
        assert float(cell(table, busy, "cpu")[:-1]) > 10 * max(idle_cpu, 0.1)
        assert mib(cell(table, busy, "memory")) > 0
        assert "/" in cell(table, busy, "memory")  # used / limit
        await until(pilot, lambda: cell(table, busy, "net") != "…", "a network rate", 30)
        assert "↓" in cell(table, busy, "net")

        header = app.screen.query_one("#host-facts", Static)
        await until(pilot, lambda: "database" in str(header.render()), "the header", 30)
        line = str(header.render())
        assert re.search(r"KG_HOME [\d.]+ \w+ free", line), line
        assert re.search(r"database [\d.]+ \w+", line), line
