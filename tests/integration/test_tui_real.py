"""The real app, headless, on the real engines: every screen's actions do the real thing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from cryptography.fernet import Fernet
from textual.widgets import DataTable, Static

from kgop_tui.app import KgopApp
from kgop_tui.screens.logs import LogsScreen
from kgop_tui.services.wiring import build_services
from kgop_tui.settings import load_settings
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import ConfirmScreen
from kgop_tui.widgets.log_view import LogView
from tests.support.engines import ComposeProject, DockerEngine, compose_project, wait_for
from tests.support.helpers import fetch
from tests.support.proxy import EngineProxy
from tests.support.tui import until

KEY = "sk-" + "Q" * 40


@pytest.fixture(scope="module")
def project(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    home = tmp_path_factory.mktemp("tui-real")
    yaml = (
        f"  api:\n    image: {docker_engine.base_image}\n"
        "    command: [sh, -c, 'echo api started; while true; do echo api heartbeat; "
        "sleep 0.2; done']\n"
        "    stop_signal: SIGKILL\n    labels:\n      kgop.test: '1'\n"
        "    healthcheck:\n      test: [CMD, 'true']\n      interval: 1s\n      retries: 1\n"
    )
    proj = compose_project(docker_engine, home, yaml)
    proj.compose("up", "-d")
    wait_for(lambda: proj.state("api") == ("running", "healthy"), 60, "api healthy")
    yield proj
    proj.compose("down", "-v")


def install(project: ComposeProject, dsn: str) -> Path:
    env = project.home / ".env"
    lines = env.read_text().splitlines()
    lines = [ln for ln in lines if not ln.startswith(("ENCRYPTION_KEY", "KGOP_DATABASE_URL"))]
    lines += [f"ENCRYPTION_KEY={Fernet.generate_key().decode()}", f"KGOP_DATABASE_URL={dsn}"]
    env.write_text("\n".join(lines) + "\n")
    return project.home


def banner_text(app: KgopApp) -> str | None:
    return app.screen.query_one(Banner).visible_message


async def test_every_screen_does_the_real_thing(project: ComposeProject, postgres: str) -> None:
    settings = load_settings(kg_home=install(project, postgres), environ={})
    app = KgopApp(build_services(settings))
    before = project.inspect("api")["State"]["StartedAt"]  # type: ignore[index]
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 1, "the api container", 30)
        assert [str(c) for c in table.get_row_at(0)][:3] == ["api", "● running", "✔ healthy"]
        await pilot.press("r")  # the question comes from a worker: answer once it is asked
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question", 30)
        await pilot.press("y")
        await until(
            pilot,
            lambda: project.inspect("api")["State"]["StartedAt"] != before,  # type: ignore[index]
            "the restart",
            60,
        )
        await pilot.press("2")
        assert isinstance(app.screen, LogsScreen)
        view = app.screen.query_one(LogView)
        await until(
            pilot,
            lambda: any("api heartbeat" in ln for ln in view.export_lines()),
            "api's log lines",
            30,
        )
        await pilot.press("3")
        migrations = app.screen.query_one("#migrations", DataTable)
        summary = app.screen.query_one("#migration-summary", Static)
        await until(pilot, lambda: "baseline pending" in str(summary.render()),
                    "the packaged schema's baseline, pending", 30)  # fmt: skip
        assert migrations.row_count == 0  # the packaged schema is its baseline only
        await pilot.press("a")  # the plan is read first, then the question is asked
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question", 30)
        assert getattr(app.screen, "question", "") == "Apply the baseline 00_baseline.sql?"
        await pilot.press("y")
        await until(
            pilot,
            lambda: bool(
                fetch(postgres, "SELECT to_regclass('kg_api.system_api_keys') AS t")[0]["t"]
            ),
            "the schema",
            60,
        )
        await pilot.press("4")
        # key, then untick the online check, then Enter back in the key field
        await pilot.press("k", "tab", *KEY, "tab", "space", "shift+tab", "enter")
        await until(
            pilot,
            lambda: bool(fetch(postgres, "SELECT 1 FROM kg_api.system_api_keys")),
            "the stored key",
            30,
        )
        rows = fetch(postgres, "SELECT provider, encrypted_key FROM kg_api.system_api_keys")
        assert rows[0]["provider"] == "openai"
        assert KEY.encode() not in bytes(rows[0]["encrypted_key"])
        keys = app.screen.query_one("#api-keys", DataTable)
        await until(pilot, lambda: keys.row_count == 1, "the key listed", 30)
        assert str(keys.get_row_at(0)[1]) == "sk-…QQQQ"


async def test_starts_with_docker_and_postgres_down_and_recovers(
    project: ComposeProject, postgres: str, docker_engine: DockerEngine
) -> None:
    url = urlparse(postgres)
    docker_proxy = EngineProxy(docker_engine.host.removeprefix("unix://"), paused=True)
    pg_proxy = EngineProxy((url.hostname or "127.0.0.1", url.port or 5432), paused=True)
    behind_proxy = postgres.replace(f"@{url.hostname}:{url.port}", f"@127.0.0.1:{pg_proxy.port}")
    home = install(project, behind_proxy)
    settings = load_settings(kg_home=home, environ={"DOCKER_HOST": docker_proxy.url})
    app = KgopApp(build_services(settings))
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: banner_text(app) is not None, "the Docker banner", 30)
            assert "Docker engine" in (banner_text(app) or "")
            await pilot.press("3")
            await until(pilot, lambda: banner_text(app) is not None, "the Postgres banner", 30)
            assert "Postgres" in (banner_text(app) or "")
            docker_proxy.resume()
            pg_proxy.resume()
            summary = app.screen.query_one("#migration-summary", Static)
            await until(
                pilot,
                lambda: banner_text(app) is None and "baseline pending" in str(summary.render()),
                "Postgres to come back",
                30,
            )
            await pilot.press("1")
            table = app.screen.query_one("#services", DataTable)
            await until(
                pilot,
                lambda: banner_text(app) is None and table.row_count == 1,
                "Docker to come back",
                30,
            )
    finally:
        docker_proxy.close()
        pg_proxy.close()
