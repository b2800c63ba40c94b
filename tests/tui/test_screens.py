"""Each screen driven by keys on fake services: what a user sees and what gets done."""

from __future__ import annotations

import re
from typing import Any

from textual.binding import Binding
from textual.widgets import DataTable, Input, OptionList, Sparkline, Static

from kgop_tui.models import ContainerState, Provider
from kgop_tui.screens.config import ConfigScreen
from kgop_tui.screens.health import HealthScreen
from kgop_tui.screens.logs import LogsScreen
from kgop_tui.screens.migrations import MigrationsScreen
from kgop_tui.screens.upgrade import UpgradeScreen
from kgop_tui.services.docker.logs import LogBatch, StreamEvent
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import ConfirmScreen
from kgop_tui.widgets.log_view import LogView
from tests.support.tui import make_app, until
from tests.tui.fakes import NOW, Fakes, log_batch, swarm_status


def text_of(app: object, selector: str) -> str:
    widget = app.screen.query_one(selector, Static)  # type: ignore[attr-defined]
    return str(widget.render())


def banner(app: object) -> str | None:
    return app.screen.query_one(Banner).visible_message  # type: ignore[attr-defined]


# ---- health ------------------------------------------------------------------------------


async def refuse_the_upgrade(pilot: Any, app: Any, fakes: Fakes) -> None:
    """The upgrade's question is asked; answered no, nothing starts."""
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
    assert "Upgrade 0.5.0 → 0.6.0?" in text_of(app, "#confirm-question")
    await pilot.press("n")
    await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the answer")
    await pilot.pause()
    assert fakes.upgrades.started == []


async def run_from_palette(pilot: Any, app: Any, words: str) -> None:
    """Open the command palette, type ``words`` and take its first match."""
    await pilot.press("ctrl+p", *words)
    await until(
        pilot,
        lambda: (
            bool(app.screen.query("CommandList"))
            and app.screen.query_one("CommandList", OptionList).option_count > 0
        ),
        "the palette's matches",
    )
    await pilot.press("enter")


async def test_health_lists_services_and_explains_the_unhealthy_one(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(4)]
        assert rows[0][:4] == ["api", "● running", "✖ unhealthy", "3h12m"]
        assert rows[3][:3] == ["web", "✖ exited (137)", "–"]
        detail = text_of(app, "#service-detail")
        assert "last healthcheck: exit 7" in detail
        assert "Failed to connect to localhost port 8000" in detail
        await pilot.press("down", "down", "down")
        assert "exited with code 137" in text_of(app, "#service-detail")


async def test_health_shows_days_to_certificate_expiry(fakes: Fakes) -> None:
    from datetime import UTC, datetime

    from kgop_tui.tls import CertificateStatus

    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(
            pilot, lambda: app.screen.query_one("#services", DataTable).row_count == 4, "rows"
        )
        assert not app.screen.query_one("#tls-status").display  # no TLS: no line
        fakes.engine.tls = CertificateStatus(
            "letsencrypt", days_left=12, not_after=datetime(2027, 1, 14, tzinfo=UTC)
        )
        app.screen.refresh_certificate()
        await pilot.pause()
        line = text_of(app, "#tls-status")
        assert "certificate valid 12 more days (until 2027-01-14)" in line
        assert "renews under 30 days" in line
        fakes.engine.tls = CertificateStatus("self-signed", problem="kg.crt has expired")
        app.screen.refresh_certificate()
        await pilot.pause()
        assert "TLS (self-signed): kg.crt has expired" in text_of(app, "#tls-status")


async def test_doctor_view_from_health_lists_checks_and_the_hint(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(
            pilot, lambda: app.screen.query_one("#services", DataTable).row_count == 4, "rows"
        )
        await pilot.press("d")
        await until(pilot, lambda: bool(app.screen.query("#doctor-checks")), "the doctor view")
        table = app.screen.query_one("#doctor-checks", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the checks")
        assert [str(table.get_row_at(i)[0]) for i in range(4)] == [
            "✔ ok", "✖ fail", "! warn", "– skip",
        ]  # fmt: skip
        assert "1 ok · 1 warning(s) · 1 failed · 1 skipped" in text_of(app, "#doctor-hint")
        await pilot.press("down")
        assert "rmdir /srv/kg/nginx/kg.conf" in text_of(app, "#doctor-hint")
        await pilot.press("r")
        await until(pilot, lambda: fakes.doctor.runs == 2, "a second run")
        await pilot.press("escape")
        await until(pilot, lambda: bool(app.screen.query("#services")), "back on Health")


async def test_health_shows_live_resources_with_cpu_and_memory_trends(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(160, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        screen = app.screen
        await until(pilot, lambda: len(getattr(screen, "figures", {})) == 3, "the samples")
        row = [str(c) for c in table.get_row("kg-api-1")]
        # CPU, memory used/limit, network rate (needs two samples), block read/written
        assert row[4:8] == ["12.5%", "180M/2.0G", "…", "0B/0B"]
        assert [str(c) for c in table.get_row("kg-web-1")][4:8] == ["–"] * 4
        source = fakes.engine.stats_sources[-1]
        assert sorted(source.tracked.values()) == ["api", "garage", "postgres"]  # running only
        trends = screen.query_one("#trends")
        assert not trends.display  # one sample is not a trend
        later = {**fakes.engine.stats["api"], "cpu_percent": 41.0, "memory_bytes": 200 * 2**20,
                 "net_rx_bytes": 50 * 2**20, "block_write_bytes": 3 * 2**30}  # fmt: skip
        source.emit("api", later)
        await until(pilot, lambda: str(table.get_row("kg-api-1")[4]) == "41.0%", "the new sample")
        row = [str(c) for c in table.get_row("kg-api-1")]
        assert row[5] == "200M/2.0G"
        # 50 MiB since the last sample, per second: M or G by how soon the sample came.
        assert re.fullmatch(r"[0-9.]+[MG]↓ 0B↑", row[6]), row[6]
        assert row[7] == "0B/3.0G"
        assert trends.display
        assert list(screen.query_one("#cpu-history", Sparkline).data or []) == [12.5, 41.0]
        memory = screen.query_one("#memory-history", Sparkline).data or []
        assert list(memory) == [180 * 2**20, 200 * 2**20]
        assert "CPU 12–41%" in text_of(app, "#trend-caption")


async def test_health_header_shows_room_database_and_backup(fakes: Fakes) -> None:
    from kgop_tui.facts import HostFacts

    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: "database" in text_of(app, "#host-facts"), "the header")
        line = text_of(app, "#host-facts")
        assert "KG_HOME 37.0 GiB free" in line
        assert "database 412.0 MiB" in line
        assert "newest backup 5 h old" in line
        fakes.engine.facts = HostFacts(kg_home_free=2**30, certificate_days=12)
        app.screen.refresh_facts()
        await until(pilot, lambda: "no backup yet" in text_of(app, "#host-facts"), "the update")
        assert "certificate 12 days left" in text_of(app, "#host-facts")


async def test_restart_asks_first_and_then_restarts(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        await pilot.press("r", "n")
        assert fakes.engine.calls == []
        await pilot.press("down", "r", "y")
        await until(pilot, lambda: fakes.engine.calls == [("restart", "garage")], "restart")
        await pilot.press("s", "y")
        await until(pilot, lambda: ("stop", "garage") in fakes.engine.calls, "stop")
        await pilot.press("u", "y")
        await until(pilot, lambda: ("start", "garage") in fakes.engine.calls, "start")
        said = [str(n.message) for n in app._notifications]
        assert {"Restarting garage…", "Stopping garage…", "Starting garage…"} <= set(said)


async def test_the_watcher_never_waits_for_the_ui_and_bursts_coalesce(fakes: Fakes) -> None:
    """A burst of 200 updates from the watcher's thread while the UI loop is busy: the
    thread is done at once (nothing waits for the screen), and the screen shows the last."""
    import threading

    from kgop_tui.project import StatusUpdate

    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        shown: list[int] = []
        original = screen.watch_status
        screen.watch_status = lambda status: (shown.append(1), original(status))  # type: ignore[method-assign]
        base = fakes.engine.status
        updates = [
            StatusUpdate(
                status=base.replace(
                    services=[base.services[0].replace(restart_count=n), *base.services[1:]]
                ),
                changed=None,
                reason="burst",
            )
            for n in range(1, 201)
        ]
        burst = threading.Thread(target=lambda: [screen._updated_from_thread(u) for u in updates])
        burst.start()
        burst.join(timeout=5)  # on the UI loop itself: it runs nothing meanwhile
        assert not burst.is_alive(), "the watcher's thread waited for the UI"
        await until(pilot, lambda: str(table.get_row("kg-api-1")[8]) == "200", "the last update")
        assert len(shown) < 200  # older snapshots were replaced by newer ones in the queue


async def test_health_follows_updates(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        api = fakes.engine.status.services[0].replace(state=ContainerState.EXITED, exit_code=1)
        fakes.engine.status = fakes.engine.status.replace(
            services=[api, *fakes.engine.status.services[1:]]
        )
        fakes.engine.emit()
        await until(pilot, lambda: str(table.get_row_at(0)[1]) == "✖ exited (1)", "the change")


async def test_a_swarm_service_expands_to_its_tasks(fakes: Fakes) -> None:
    fakes.engine.status = swarm_status()
    app = make_app(fakes)
    async with app.run_test(size=(140, 40)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        assert str(table.get_row_at(0)[1]) == "● running 1/2"
        assert "Enter or t: the tasks" in text_of(app, "#service-detail")
        await pilot.press("enter")
        await until(pilot, lambda: table.row_count == 6, "api's two tasks as rows")
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(3)]
        assert rows[1][:4] == [" └ api.1", "● running on node-a", "✔ healthy", "5m"]
        assert rows[2][:3] == [" └ api.2", "… starting on node-b", "… starting"]
        assert rows[2][9] == "kg/api:0.6.0"
        await pilot.press("down", "down")
        detail = text_of(app, "#service-detail")
        assert "▸ api.2  starting  on node-b  … starting\n" in detail
        assert "last healthcheck: curl: (7) Failed to connect" in detail
        # Restart on a task's row restarts its service (Swarm replaces the tasks).
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert app.screen.question == "Restart api?"  # type: ignore[attr-defined]
        await pilot.press("n")
        # A status update keeps the cursor on the same task; t there folds them away.
        fakes.engine.emit()
        await pilot.pause()
        assert table.cursor_row == 2
        await pilot.press("t")
        await until(pilot, lambda: table.row_count == 4, "the tasks folded")
        assert table.cursor_row == 0


async def test_enter_or_t_on_a_compose_service_changes_nothing(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        await pilot.press("enter", "t")
        await pilot.pause()
        assert table.row_count == 4
        assert app.screen.check_action("toggle_tasks", ()) is False  # not in the footer


async def test_docker_down_shows_a_banner_and_recovers(fakes: Fakes) -> None:
    fakes.engine.down = True
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: banner(app) is not None, "the banner")
        assert "Cannot reach the Docker engine" in (banner(app) or "")
        assert "start Docker" in (banner(app) or "")
        fakes.engine.down = False
        fakes.engine.emit()
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4 and banner(app) is None, "recovery")


# ---- logs --------------------------------------------------------------------------------


async def open_logs(fakes: Fakes, pilot: object, app: object) -> LogView:
    await pilot.press("2")  # type: ignore[attr-defined]
    assert isinstance(app.screen, LogsScreen)  # type: ignore[attr-defined]
    view = app.screen.query_one(LogView)  # type: ignore[attr-defined]
    await until(pilot, lambda: view.total == 6, "the log lines")  # type: ignore[arg-type]
    return view


async def test_a_hostile_filter_over_a_long_line_does_not_freeze_the_screen(
    fakes: Fakes,
) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await open_logs(fakes, pilot, app)
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        screen.ingest(log_batch([("api", "a" * 100_000 + "!")], start=6))
        await until(pilot, lambda: view.total == 7, "the long line")
        await pilot.press("slash")
        app.screen.query_one("#log-prompt", Input).value = r"(\w+\s?)*$"
        await pilot.press("enter")  # Python's re would backtrack here for ages
        assert view.visible_count == 7
        assert r"filter /(\w+\s?)*$" in text_of(app, "#log-status")
        await pilot.press("slash", "home", "ctrl+k")
        app.screen.query_one("#log-prompt", Input).value = r"(a)\1"
        await pilot.press("enter")
        await until(pilot, lambda: any("backreferences" in str(n.message)
                                       for n in app._notifications), "the refusal")  # fmt: skip


async def test_logs_filter_invert_find_and_timestamps(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await open_logs(fakes, pilot, app)
        assert "6/6 lines" in text_of(app, "#log-status")
        await pilot.press("slash")
        prompt = app.screen.query_one("#log-prompt", Input)
        assert prompt.has_focus
        await pilot.press(*"health", "enter")
        assert view.visible_count == 2
        assert "2/6 lines" in text_of(app, "#log-status")
        assert "filter /health" in text_of(app, "#log-status")
        await pilot.press("slash", "home", "ctrl+k", *"!health", "enter")
        assert view.visible_count == 4
        await pilot.press("slash", "home", "ctrl+k", "enter")
        assert view.visible_count == 6
        await pilot.press("f", *"ERROR", "enter")
        assert view._current is not None
        assert "paused" in text_of(app, "#log-status")
        await pilot.press("n")  # no second match
        await pilot.press("end")
        assert "following" in text_of(app, "#log-status")
        await pilot.press("t")
        assert "times" in text_of(app, "#log-status")
        assert view.show_timestamps
        await pilot.press("w")
        assert view.wrap


async def test_logs_show_one_timeline_and_rebuild_it_for_the_chosen_services(
    fakes: Fakes,
) -> None:
    # The engine hands the history over merged by time (the contract test holds the real
    # one to it); the view keeps that order, appends live lines after it, and rebuilds it
    # in order when other services are chosen.
    fakes.engine.log_lines = [
        ("api", "one"), ("web", "two"), ("postgres", "three"),
        ("api", "four"), ("postgres", "five"), ("web", "six"),
    ]  # fmt: skip
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await open_logs(fakes, pilot, app)
        screen = app.screen
        assert isinstance(screen, LogsScreen)

        async def saved_texts() -> list[str]:
            count = len(fakes.saved)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: len(fakes.saved) == count + 1, "the save")
            return [line.rsplit(" ", 1)[-1] for line in fakes.saved[-1]]

        assert await saved_texts() == ["one", "two", "three", "four", "five", "six"]
        fakes.engine.sources[-1].push(log_batch([("web", "seven"), ("api", "eight")], start=6))
        await until(pilot, lambda: view.total == 8, "the live lines")
        assert (await saved_texts())[-2:] == ["seven", "eight"]
        screen.chosen = ["api", "web"]
        screen.follow()
        await until(pilot, lambda: view.total == 4, "the rebuilt view")
        assert await saved_texts() == ["one", "two", "four", "six"]


async def test_logs_save_writes_the_buffer(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_logs(fakes, pilot, app)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(fakes.saved) == 1, "the save")
        assert fakes.saved[0][0] == "api | 2026-11-26T12:00:00.000000000Z GET /health 200"
        assert len(fakes.saved[0]) == 6


async def test_logs_show_stream_events_and_drop_counts(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_logs(fakes, pilot, app)
        source = fakes.engine.sources[-1]
        source.push(LogBatch(items=[StreamEvent("api", "ended", "container stopped")]))
        await until(pilot, lambda: banner(app) is not None, "the stream banner")
        assert "api: log stream ended" in (banner(app) or "")
        source.push(LogBatch(items=[StreamEvent("api", "reattached")]))
        await until(pilot, lambda: "reattached" in (banner(app) or ""), "reattached")


async def test_log_view_counts_dropped_lines() -> None:
    view = LogView(capacity=3)
    batch = log_batch([("api", f"line {i}") for i in range(5)])
    for chunk in batch.chunks:
        view.append_chunk(chunk.service, chunk.stream, chunk.text)
    assert view.total == 3
    assert view.dropped == 2
    assert [line.split(" | ", 1)[1].split(" ", 1)[1] for line in view.export_lines()] == [
        "line 2",
        "line 3",
        "line 4",
    ]


async def test_scrolling_up_pauses_following(fakes: Fakes) -> None:
    fakes.engine.log_lines = [("api", f"request {i}") for i in range(200)]
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        view = app.screen.query_one(LogView)
        await until(pilot, lambda: view.total == 200, "200 lines")
        await until(pilot, lambda: 0 < view.scroll_y == view.max_scroll_y, "the end in view")
        assert view.following
        await pilot.press("pageup")
        await until(pilot, lambda: not view.following, "paused")
        assert "paused" in text_of(app, "#log-status")
        await pilot.press("G")
        assert view.following


# ---- migrations --------------------------------------------------------------------------


async def test_migrations_preview_dry_run_and_apply(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        assert isinstance(app.screen, MigrationsScreen)
        table = app.screen.query_one("#migrations", DataTable)
        await until(pilot, lambda: table.row_count == 5, "the migrations")
        assert "1 adopted, 2 applied, 2 pending" in text_of(app, "#migration-summary")
        await pilot.press("down", "down", "down")
        assert "CREATE TABLE kg_api.ai_extraction_config" in text_of(app, "#sql-preview")
        await pilot.press("d")
        await until(pilot, lambda: "Dry run" in text_of(app, "#migration-result"), "dry run")
        assert "nothing was changed" in text_of(app, "#migration-result")
        assert len(fakes.migrations.pending) == 2
        await pilot.press("a", "y")
        await until(pilot, lambda: not fakes.migrations.pending, "apply")
        await until(pilot, lambda: "4 applied" in text_of(app, "#migration-summary"), "reload")


async def test_migrations_show_folders_styles_and_apply_warm_files(fakes: Fakes) -> None:
    fakes.migrations.warm = [(58, "precreate_graph_labels")]
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        table = app.screen.query_one("#migrations", DataTable)
        await until(pilot, lambda: table.row_count == 6, "the migrations")
        first = [str(cell) for cell in table.get_row_at(0)]
        assert first[2:5] == ["✔ adopted", "archived", "own tx"]
        assert "its own BEGIN/COMMIT" not in text_of(app, "#sql-preview")  # applied: no plan
        warm = [str(cell) for cell in table.get_row_at(5)]
        assert warm[0] == "0058"
        assert warm[3] == "warm"
        await pilot.press("a", "y")
        await until(pilot, lambda: not fakes.migrations.pending, "the main files")
        assert fakes.migrations.warm == [(58, "precreate_graph_labels")]  # `a` leaves warm ones
        await pilot.press("w", "y")
        await until(pilot, lambda: not fakes.migrations.warm, "the warm file")
        await until(pilot, lambda: "0 pending" not in text_of(app, "#migration-summary")
                    and "pending" not in text_of(app, "#migration-summary"), "reload")  # fmt: skip


async def test_migration_failure_shows_file_position_and_hint(fakes: Fakes) -> None:
    fakes.migrations.fail_version = 5
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        table = app.screen.query_one("#migrations", DataTable)
        await until(pilot, lambda: table.row_count == 5, "the migrations")
        await pilot.press("a", "y")
        await until(pilot, lambda: "✖" in text_of(app, "#migration-result"), "the failure")
        result = text_of(app, "#migration-result")
        assert "0005_embedding_profile.sql line 3, column 13" in result
        assert "sqlstate 42P01" in result
        assert "hint:" in result


async def test_database_down_banner_and_recovery(fakes: Fakes) -> None:
    fakes.migrations.down = True
    fakes.config.down = True
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await until(pilot, lambda: banner(app) is not None, "the banner")
        assert "Cannot reach Postgres" in (banner(app) or "")
        fakes.migrations.down = False
        table = app.screen.query_one("#migrations", DataTable)
        await until(pilot, lambda: table.row_count == 5 and banner(app) is None, "recovery")
        await pilot.press("4")
        await until(pilot, lambda: banner(app) is not None, "the config banner")
        fakes.config.down = False
        await until(pilot, lambda: banner(app) is None, "config recovery")


# ---- configuration -----------------------------------------------------------------------


async def test_config_admin_provider_embedding_and_keys(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4")
        assert isinstance(app.screen, ConfigScreen)
        await until(pilot, lambda: "Admins" in text_of(app, "#config-summary"), "the summary")
        await pilot.press("p")
        await pilot.press("tab", *"a long admin password", "tab", *"a long admin password")
        await pilot.press("enter")
        await until(pilot, lambda: "admin" in fakes.config.admins, "the admin")
        await pilot.press("k")
        await pilot.press("tab", *("sk-" + "x" * 30), "enter")
        await until(pilot, lambda: Provider.OPENAI.value in fakes.config.keys, "the key")
        table = app.screen.query_one("#api-keys", DataTable)
        await until(pilot, lambda: table.row_count == 1, "the key row")
        assert str(table.get_row_at(0)[1]) == "sk-…xxxx"
        fakes.config.ai = None  # the form is prefilled from the status shown
        await pilot.press("a", "tab", "enter")  # provider (a list), then Enter in the model
        await until(pilot, lambda: fakes.config.ai is not None, "the provider")
        await pilot.press("x", "y")
        await until(pilot, lambda: not fakes.config.keys, "the deletion")


async def test_config_rejects_a_short_password_with_a_message(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("4", "p", "tab", *"short", "tab", *"short", "enter")
        await until(pilot, lambda: bool(app._notifications), "the notification")
        assert any("too short" in n.message for n in app._notifications)
        assert fakes.config.admins == {}


# ---- app-wide ----------------------------------------------------------------------------


async def test_number_keys_switch_and_q_quits(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, HealthScreen)
        for key, kind in (
            ("2", LogsScreen),
            ("3", MigrationsScreen),
            ("4", ConfigScreen),
            ("5", UpgradeScreen),
            ("1", HealthScreen),
        ):
            await pilot.press(key)
            assert isinstance(app.screen, kind)
        await pilot.press("question_mark")
        assert app.screen.query("HelpPanel")
        await pilot.press("q")
    assert app.return_code == 0


def test_every_key_of_a_screen_is_a_palette_command() -> None:
    """The palette is built from the screens' BINDINGS: a key in the footer without a
    palette text would be an action the palette cannot find."""
    from textual.binding import Binding

    from kgop_tui.app import SCREEN_CLASSES, palette_actions

    actions = palette_actions()
    for mode, screen in SCREEN_CLASSES.items():
        for binding in screen.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.show and binding.action not in ("close_prompt",):
                assert (mode, binding.action, binding.tooltip) in actions, (mode, binding)


async def test_command_palette_lists_every_action(fakes: Fakes) -> None:
    from kgop_tui.app import palette_actions

    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for _, action, text in palette_actions():
            # Tasks applies to a Swarm stack only: on compose the palette leaves it out.
            assert (text in titles) == (action != "toggle_tasks"), text
        await run_from_palette(pilot, app, "apply the pending")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: not fakes.migrations.pending, "the migrations applied")


async def test_the_palette_offers_tasks_on_a_swarm_stack(fakes: Fakes) -> None:
    fakes.engine.status = swarm_status()
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count > 0, "the services")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Show or hide the service's tasks (or Enter)" in titles


# ---- upgrade -----------------------------------------------------------------------------


def step_states(app: object) -> dict[str, str]:
    table = app.screen.query_one("#upgrade-steps", DataTable)  # type: ignore[attr-defined]
    states = {}
    for row in table.ordered_rows:
        key = str(row.key.value)
        states[key] = str(table.get_row(row.key)[1])
    return states


def run_state(app: object) -> str | None:
    screen = app.screen  # type: ignore[attr-defined]
    return screen.run.state.value if getattr(screen, "run", None) is not None else None


async def start(pilot: Any, app: Any) -> None:
    """Enter on the Upgrade screen, then yes to its question."""
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
    await pilot.press("y")


async def test_upgrade_walkthrough_plans_then_enter_runs_it(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: "press Enter" in text_of(app, "#upgrade-summary"), "the plan")
        assert "Upgrade 0.5.0 → 0.6.0" in text_of(app, "#upgrade-summary")
        plan = text_of(app, "#upgrade-plan")
        assert "kg-api:0.5.0 → kg-api:0.6.0" in plan
        assert "0009_ingestion_jobs.sql" in plan
        states = step_states(app)
        assert list(states)[:5] == ["preflight", "plan", "backup", "pull", "no-return"]
        assert states["stop"] == "· pending"
        assert fakes.upgrades.started == []  # nothing runs before Enter

        await pilot.press("enter")  # asks first, as the CLI does without --yes
        await refuse_the_upgrade(pilot, app, fakes)
        await start(pilot, app)
        await until(pilot, lambda: run_state(app) == "succeeded", "the upgrade", limit=30)
        assert fakes.upgrades.started == ["0.6.0"]
        states = step_states(app)
        assert all(states[k] == "✔ done" for k in ("backup", "stop", "migrate", "health"))
        assert states["no-return"] == "passed"
        await until(pilot, lambda: "succeeded" in text_of(app, "#upgrade-summary"), "summary")
        assert "Upgraded 0.5.0 → 0.6.0." in text_of(app, "#upgrade-report")
        log = app.screen.query_one("#upgrade-log").lines
        assert any("point of no return" in str(line.text) for line in log)
        await pilot.press("enter")  # a finished run is not started again by accident
        await pilot.pause()
        assert fakes.upgrades.started == ["0.6.0"]


async def test_the_palettes_upgrade_asks_first(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: "press Enter" in text_of(app, "#upgrade-summary"), "the plan")
        await run_from_palette(pilot, app, "start the planned upgrade")
        await refuse_the_upgrade(pilot, app, fakes)


async def test_esc_aborts_before_the_point_of_no_return(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: "press Enter" in text_of(app, "#upgrade-summary"), "the plan")
        await start(pilot, app)
        await until(pilot, lambda: run_state(app) == "running", "the run")
        await pilot.press("escape")
        await until(pilot, lambda: run_state(app) == "aborted", "the abort", limit=30)
        states = step_states(app)
        assert states["stop"] == "– skipped"
        assert states["migrate"] == "– skipped"
        assert fakes.upgrades.current == "0.5.0"
        assert "runs as before" in text_of(app, "#upgrade-report")


async def test_a_failed_health_gate_rolls_back_and_esc_is_refused_past_the_point(
    fakes: Fakes,
) -> None:
    fakes.upgrades.fail_at = "health"
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: "press Enter" in text_of(app, "#upgrade-summary"), "the plan")
        await start(pilot, app)
        await until(
            pilot,
            lambda: app.screen.run is not None and app.screen.run.passed_point_of_no_return,
            "the point of no return",
            limit=30,
        )
        notes = len(app._notifications)
        await pilot.press("escape")
        await until(pilot, lambda: len(app._notifications) > notes, "the refusal")
        assert "point of no return" in list(app._notifications)[-1].message
        await until(pilot, lambda: run_state(app) == "rolled back", "the rollback", limit=30)
        states = step_states(app)
        assert states["health"] == "↺ rolled back"
        assert states["migrate"] == "↺ rolled back"
        assert states["rollback"] == "✔ done"
        assert "Database restored" in text_of(app, "#upgrade-report")
        assert fakes.upgrades.current == "0.5.0"


async def test_the_screen_reattaches_to_a_running_upgrade(fakes: Fakes) -> None:
    fakes.upgrades.start("0.6.0")  # started elsewhere: the CLI, or a session that dropped
    fakes.upgrades.status()
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: run_state(app) is not None, "the running upgrade")
        await until(pilot, lambda: run_state(app) == "succeeded", "its end", limit=30)
        assert fakes.upgrades.started == ["0.6.0"]  # followed, not started twice


async def test_a_failing_preflight_is_shown_and_nothing_starts(fakes: Fakes) -> None:
    fakes.upgrades.current = None
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: banner(app) is not None, "the banner")
        assert "KG_VERSION is not set" in (banner(app) or "")
        await pilot.press("enter")
        await pilot.pause()
        assert fakes.upgrades.started == []


async def test_an_interrupted_upgrade_is_recovered_from_the_screen(fakes: Fakes) -> None:
    fakes.upgrades.start("0.6.0")
    fakes.upgrades.interrupt()
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: run_state(app) == "interrupted", "the interrupted run")
        assert "--recover" in text_of(app, "#upgrade-report")
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: run_state(app) == "rolled back", "the rollback", limit=20)
        assert "Database restored" in text_of(app, "#upgrade-report")


READS = {
    "health": {"doctor", "toggle_tasks"},
    "logs": {"prompt('filter')", "prompt('search')", "find(True)", "find(False)",
             "flip('show_timestamps')", "flip('wrap')", "choose", "resume", "close_prompt"},
    "migrations": {"refresh"},
    "config": {"refresh"},
    "upgrade": set(),
}  # fmt: skip
"""What each screen may do in a read-only session: every other key is in its CHANGES."""


def test_every_key_is_either_a_read_or_a_change() -> None:
    """A new key has to be declared one or the other: read-only sessions depend on it."""
    from kgop_tui.app import SCREEN_CLASSES

    for mode, screen in SCREEN_CLASSES.items():
        actions = {b.action for b in screen.BINDINGS if isinstance(b, Binding)}
        changes = getattr(screen, "CHANGES", frozenset())
        assert actions == READS[mode] | changes, mode
        assert not READS[mode] & changes, mode


async def test_read_only_session_changes_nothing(fakes: Fakes) -> None:
    from kgop_tui.app import KgopApp

    app = KgopApp(fakes.services(), clock=lambda: NOW, read_only=True)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        assert "read-only" in app.screen.sub_title
        await pilot.press("r", "s", "u")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)  # nothing asked, nothing done
        assert fakes.engine.calls == []
        footer = " ".join(str(k.description) for k in app.screen.query("FooterKey"))
        assert "Restart" not in footer
        assert "Doctor" in footer
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Restart the selected service" not in titles
        assert "Apply the pending migrations" not in titles
        assert "Run the upgrade preflight again" not in titles  # it pulls and writes
        pending = list(fakes.migrations.pending)
        await pilot.press("3")
        await until(pilot, lambda: isinstance(app.screen, MigrationsScreen), "migrations")
        await pilot.press("a", "d")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen)
        assert fakes.migrations.pending == pending
        assert "Dry run" not in text_of(app, "#migration-result")


async def test_health_rests_while_another_screen_is_shown(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        watcher, stats = fakes.engine.watch_handles[-1], fakes.engine.stats_sources[-1]
        assert not watcher.stopped.is_set()
        assert not stats.stopped
        await pilot.press("3")  # Migrations: Health's event watcher and stats streams stop
        await until(pilot, lambda: watcher.stopped.is_set() and stats.stopped, "the streams")
        await pilot.press("1")  # back: followed again, from a fresh snapshot
        await until(pilot, lambda: len(fakes.engine.watch_handles) == 2, "a new watcher")
        assert not fakes.engine.watch_handles[-1].stopped.is_set()
        assert not fakes.engine.stats_sources[-1].stopped
        assert fakes.engine.stats_sources[-1] is not stats
        await until(pilot, lambda: table.row_count == 4, "the services again")
