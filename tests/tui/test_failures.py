"""Failures nobody caught: a worker that raises is shown, never silent, never a crash."""

from __future__ import annotations

import ast
from pathlib import Path

from textual.widgets import DataTable, Static

import kgop_tui
from kgop_tui.app import KgopApp
from kgop_tui.checks import DoctorReport
from kgop_tui.errors import DockerUnavailable
from kgop_tui.logtypes import LogBatch, StreamEvent
from kgop_tui.migration_types import MigrationStatus
from kgop_tui.models import UpgradeStatus
from kgop_tui.screens.doctor import DoctorScreen
from kgop_tui.screens.health import HealthScreen
from kgop_tui.screens.logs import LogsScreen
from kgop_tui.screens.migrations import MigrationsScreen
from kgop_tui.screens.upgrade import UpgradeScreen
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import ErrorScreen
from kgop_tui.widgets.log_view import LogView
from tests.support.tui import make_app, until
from tests.tui.fakes import Fakes, log_batch


def error_text(app: KgopApp) -> str:
    screen = app.screen
    assert isinstance(screen, ErrorScreen)
    title = str(screen.query_one("#error-title", Static).render())
    return f"{title}\n{screen.query_one('#error-text', Static).render()}"


def shows_error(app: KgopApp) -> bool:
    return isinstance(app.screen, ErrorScreen) and bool(app.screen.query("#error-text"))


def notifications(app: KgopApp) -> list[tuple[str, str]]:
    return [(n.title, str(n.message)) for n in app._notifications]


def banner(app: KgopApp) -> str:
    return app.screen.query_one(Banner).visible_message or ""


async def open_doctor(app: KgopApp, pilot: object) -> None:
    table = app.screen.query_one("#services", DataTable)
    await until(pilot, lambda: table.row_count == 4, "the services")  # type: ignore[arg-type]
    await pilot.press("d")  # type: ignore[attr-defined]
    opened = lambda: any(isinstance(s, DoctorScreen) for s in app.screen_stack)  # noqa: E731
    await until(pilot, opened, "the doctor view")  # type: ignore[arg-type]


async def test_a_load_that_raises_opens_the_error_dialog_and_the_app_goes_on(
    fakes: Fakes,
) -> None:
    async def status() -> MigrationStatus:
        raise RuntimeError("catalog read failed for postgresql://kg:hunter22secret@db/kg")

    fakes.migrations.status = status  # type: ignore[method-assign]
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        await until(pilot, lambda: shows_error(app), "the error dialog")
        text = error_text(app)
        assert "load_migrations" in text
        assert "Migrations screen" in text
        assert "RuntimeError: catalog read failed for postgresql://kg:[redacted]@db/kg" in text
        assert "hunter22secret" not in text
        assert "Traceback" not in text
        await pilot.press("c")
        assert "RuntimeError: catalog read failed" in (app.clipboard or "")
        await pilot.press("escape")
        assert isinstance(app.screen, MigrationsScreen)
        summary = str(app.screen.query_one("#migration-summary", Static).render())
        assert summary == "The migrations could not be read; r tries again."
        await pilot.press("1")  # still usable: the other screens work
        assert isinstance(app.screen, HealthScreen)
        table = app.screen.query_one("#services", DataTable)
        await until(pilot, lambda: table.row_count == 4, "the services")
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_run_that_raises_leaves_the_screen_usable(fakes: Fakes) -> None:
    async def up(*_: object, **__: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'version'")

    fakes.migrations.up = up  # type: ignore[method-assign,assignment]
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, MigrationsScreen)
        await until(pilot, lambda: screen.status is not None, "the migrations")
        await pilot.press("d")
        await until(pilot, lambda: shows_error(app), "the error dialog")
        assert "run_migrations (Migrations screen)" in error_text(app)
        await pilot.press("escape")
        assert not screen.busy  # reloads are not blocked for ever
        result = str(screen.query_one("#migration-result", Static).render())
        assert result.startswith("✖ The run stopped on an error")


async def test_a_progress_read_that_raises_once_does_not_freeze_the_upgrade_view(
    fakes: Fakes,
) -> None:
    fakes.upgrades.start("0.6.0")  # running, started elsewhere
    real_read_log, reads = fakes.upgrades.read_log, []

    def read_log(status: UpgradeStatus, offset: int) -> tuple[list[str], int]:
        reads.append(offset)
        if len(reads) == 2:
            raise RuntimeError("log file rotated under the reader")
        return real_read_log(status, offset)

    fakes.upgrades.read_log = read_log  # type: ignore[method-assign]
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("5")
        await until(pilot, lambda: shows_error(app), "the error dialog")
        assert "read_upgrade (Upgrade screen)" in error_text(app)
        await pilot.press("escape")
        screen = app.screen
        assert isinstance(screen, UpgradeScreen)
        state = lambda: screen.run.state.value if screen.run else None  # noqa: E731
        await until(pilot, lambda: state() == "succeeded", "the end of the run", limit=30)
        assert not shows_error(app)  # one failure, one dialog


async def test_an_expected_failure_of_a_worker_is_a_notification_with_its_hint(
    fakes: Fakes,
) -> None:
    def run() -> DoctorReport:
        raise DockerUnavailable("Cannot reach the Docker engine", hint="start Docker")

    fakes.doctor.run = run  # type: ignore[method-assign]
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_doctor(app, pilot)
        await until(pilot, lambda: bool(notifications(app)), "the notification")
        assert ("Docker engine unreachable", "Cannot reach the Docker engine\nstart Docker") in (
            notifications(app)
        )
        assert isinstance(app.screen, DoctorScreen)  # no error dialog for an expected one
        hint = str(app.screen.query_one("#doctor-hint", Static).render())
        assert "The checks did not run" in hint


async def test_a_bug_in_the_doctor_worker_does_not_end_the_app(fakes: Fakes) -> None:
    def run() -> DoctorReport:
        raise KeyError("mount.nginx")

    fakes.doctor.run = run  # type: ignore[method-assign]
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_doctor(app, pilot)
        await until(pilot, lambda: shows_error(app), "the error dialog")
        assert "KeyError: 'mount.nginx'" in error_text(app)
        assert "run_doctor (Doctor view)" in error_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, DoctorScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, HealthScreen)
        assert app.is_running
        await pilot.press("q")
    assert app.return_code == 0


async def open_logs(fakes: Fakes, app: KgopApp, pilot: object) -> LogView:
    await pilot.press("2")  # type: ignore[attr-defined]
    assert isinstance(app.screen, LogsScreen)
    view = app.screen.query_one(LogView)
    await until(pilot, lambda: view.total == 6, "the log lines")  # type: ignore[arg-type]
    return view


async def test_a_log_stream_that_dies_says_why_and_end_follows_again(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        view = await open_logs(fakes, app, pilot)
        source = fakes.engine.sources[-1]
        source.push(log_batch([("api", "GET /health 200")], start=6))
        source.fail(DockerUnavailable("The engine closed the log stream (connection reset)"))
        await until(pilot, lambda: "stream ended" in banner(app), "the banner")
        assert banner(app) == (
            "✖ log stream ended: The engine closed the log stream (connection reset) — "
            "End follows again"
        )
        assert view.total == 7  # what came before the failure is kept
        status = str(app.screen.query_one("#log-status", Static).render())
        assert "stream ended (End follows again)" in status
        await until(pilot, lambda: source.closed, "the dead stream closed")
        assert not isinstance(app.screen, ErrorScreen)  # expected: the banner says it all
        await pilot.press("end")
        await until(pilot, lambda: len(fakes.engine.sources) == 2, "a new stream")
        await until(pilot, lambda: view.total == 6 and not banner(app), "following again")
        assert "following" in str(app.screen.query_one("#log-status", Static).render())


async def test_one_service_whose_stream_failed_is_named_and_end_follows_again(
    fakes: Fakes,
) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_logs(fakes, app, pilot)
        event = StreamEvent("web", "failed", "Cannot reach the Docker engine (connection reset)")
        fakes.engine.sources[-1].push(LogBatch(items=[event]))
        await until(pilot, lambda: "stream ended" in banner(app), "the banner")
        assert banner(app) == (
            "✖ log stream ended: web: Cannot reach the Docker engine (connection reset) — "
            "End follows again"
        )
        await pilot.press("G")
        await until(pilot, lambda: len(fakes.engine.sources) == 2, "a new stream")
        await until(pilot, lambda: not banner(app), "following again")


async def test_a_bug_in_the_log_stream_ends_it_visibly_and_is_reported(fakes: Fakes) -> None:
    app = make_app(fakes)
    async with app.run_test(size=(120, 36)) as pilot:
        await open_logs(fakes, app, pilot)
        fakes.engine.sources[-1].fail(ValueError("bad frame header [stream 7]"))
        await until(pilot, lambda: shows_error(app), "the error dialog")
        assert "follow_logs (Logs screen)" in error_text(app)
        assert "ValueError: bad frame header [stream 7]" in error_text(app)
        await pilot.press("escape")
        assert banner(app) == (
            "✖ log stream ended: ValueError: bad frame header [stream 7] — End follows again"
        )


def test_no_worker_of_a_screen_can_end_the_app() -> None:
    """Every @work of the TUI leaves its failures to the screen (WorkerFailures): none has
    Textual's default exit_on_error=True, which closes the whole app."""
    root = Path(kgop_tui.__file__).parent
    fatal = []
    for path in [*root.glob("screens/*.py"), *root.glob("widgets/*.py"), root / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "work":
                options = {k.arg: k.value for k in node.keywords}
                flag = options.get("exit_on_error")
                if not (isinstance(flag, ast.Constant) and flag.value is False):
                    fatal.append(f"{path.name}:{node.lineno}")
    assert fatal == []
