"""Benchmark the TUI: first frame, plain-verb start-up, log view ingest and memory.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.tui [LINES]

- first frame: ``kgop tui`` in a pseudo-terminal, until the health screen is drawn;
- ``kgop status`` and ``kgop --version`` cold starts (plain verbs do not import Textual);
- log view: LINES (default 1,000,000) lines through the real logs screen, headless, while
  a key is pressed every 50 ms: lines/s, key latency, peak RSS of the process;
- filter (``python -m bench.tui filter`` runs only this): a 500,000-line buffer filtered
  with ``/`` (plain, then inverted) while a key is pressed every 20 ms: time until the view
  shows the result, and the latency of those keys (goals: 1 s each, 50 ms max);
- Health with 50 services on the real engine (one of them busy), the real app headless,
  every running container's stats streaming: key latency (cursor down/up every 50 ms)
  median and max, and the CPU kgop itself used meanwhile (its process, % of one core).
"""

from __future__ import annotations

import asyncio
import os
import pty
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kgop_tui.services.docker.logs import LogBatch, LogChunk
from tests.tui.fakes import NOW, Fakes

KGOP = [sys.executable, "-m", "kgop_tui.cli"]


def first_frame(home: Path) -> float:
    env = {
        **os.environ,
        "KG_HOME": str(home),
        "TERM": "xterm-256color",
        "COLUMNS": "120",
        "LINES": "36",
    }
    master, slave = pty.openpty()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*KGOP, "tui"], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    seen = b""
    elapsed = float("nan")
    deadline = started + 20
    while time.perf_counter() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
            if b"Restart" in seen and b"Health" in seen:
                elapsed = time.perf_counter() - started
                break
    os.write(master, b"q")
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    os.close(master)
    return elapsed


def cold_start(args: list[str], home: Path, runs: int = 7) -> float:
    env = {**os.environ, "KG_HOME": str(home)}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([*KGOP, *args], env=env, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


class FloodSource:
    """A log source that produces ``total`` lines in chunks, as fast as they are taken."""

    def __init__(self, total: int, chunk: int = 1000) -> None:
        self.total, self.chunk, self.made = total, chunk, 0
        self.closed = False

    def start(self) -> None:
        pass

    def get(self, timeout: float | None = None) -> LogBatch | None:
        if self.made >= self.total or self.closed:
            threading.Event().wait(timeout or 0)
            return None
        n = min(self.chunk, self.total - self.made)
        base = self.made
        text = "".join(
            f"2026-11-26T12:00:00.{(base + i) % 1_000_000_000:09d}Z GET /v1/graph/query?id="
            f"{base + i} status=200 ms=12 user=alice\n"
            for i in range(n)
        )
        self.made += n
        return LogBatch(items=[LogChunk("api" if base % 2000 else "web", 1, text)])

    def close(self) -> None:
        self.closed = True


async def ingest(lines: int) -> tuple[float, list[float], int, int]:
    """Feed ``lines`` through the logs screen while a key is pressed every 50 ms.

    Keys go through the driver, as a terminal's would, without waiting for the app to be
    idle; each latency is the time until the key's action (timestamps on/off) took effect.
    """
    from textual import events

    from kgop_tui.app import KgopApp
    from kgop_tui.widgets.log_view import LogView

    fakes = Fakes()
    source = FloodSource(lines)
    fakes.engine.follow_logs = lambda services, tail: source  # type: ignore[method-assign]
    app = KgopApp(fakes.services(), clock=lambda: NOW)
    latencies: list[float] = []
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        driver = app._driver
        assert driver is not None

        def press(name: str) -> None:
            key = events.Key(name, name)
            key.set_sender(app)
            driver.send_message(key)

        started = time.perf_counter()
        press("2")
        while not app.screen.query(LogView):  # noqa: ASYNC110 (polling is the measurement)
            await asyncio.sleep(0.001)
        view = app.screen.query_one(LogView)
        while view.total + view.dropped < lines:
            before = view.show_timestamps
            pressed = time.perf_counter()
            press("t")
            while view.show_timestamps == before:  # noqa: ASYNC110 (polling is the measurement)
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - pressed)
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
        kept, dropped = view.total, view.dropped
    return elapsed, latencies, kept, dropped


async def filter_case(lines: int = 500_000) -> list[tuple[str, float, list[float], int]]:
    """Filter a full buffer through the prompt, plain then inverted, pressing keys meanwhile."""
    from textual import events
    from textual.widgets import Input

    from kgop_tui.app import KgopApp
    from kgop_tui.widgets.log_view import LogView

    fakes = Fakes()
    source = FloodSource(0)
    fakes.engine.follow_logs = lambda services, tail: source  # type: ignore[method-assign]
    app = KgopApp(fakes.services(), clock=lambda: NOW)
    results = []
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("2")
        view = app.screen.query_one(LogView)
        feed = FloodSource(lines, chunk=50_000)
        while (batch := feed.get()) is not None:
            for chunk in batch.chunks:
                view.append_chunk(chunk.service, chunk.stream, chunk.text)
        view.flush()
        await pilot.pause()
        driver = app._driver
        assert driver is not None

        def press(name: str, character: str | None = None) -> None:
            key = events.Key(name, character or name)
            key.set_sender(app)
            driver.send_message(key)

        for pattern in ("status=500|id=1234", "!status=500|id=1234"):
            await pilot.press("slash")
            app.screen.query_one("#log-prompt", Input).value = pattern
            await pilot.pause()
            latencies: list[float] = []
            started = time.perf_counter()
            prompt = app.screen.query_one("#log-prompt", Input)
            press("enter", "\r")
            # Enter is the first key: it counts until the prompt closes (a filter on the UI
            # thread holds it back); then "t" every 20 ms until the view shows the lines.
            while not prompt.has_class("-hidden") or app.focused is prompt:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - started)
            while getattr(view, "filtering", None) is not None or view.filter_text != pattern:
                before = view.show_timestamps
                pressed = time.perf_counter()
                press("t")
                while view.show_timestamps == before:  # noqa: ASYNC110 (the measurement)
                    await asyncio.sleep(0.001)
                latencies.append(time.perf_counter() - pressed)
                await asyncio.sleep(0.02)
            results.append((pattern, time.perf_counter() - started, latencies, view.visible_count))
    return results


def print_filter_case() -> None:
    for pattern, elapsed, latencies, shown in asyncio.run(filter_case()):
        lat = sorted(latencies) or [float("nan")]
        print(
            f"  filter /{pattern} over 500,000 lines: {elapsed:.2f} s (goal 1.0 s), "
            f"{shown:,} shown; {len(latencies)} key presses meanwhile: median "
            f"{statistics.median(lat) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms (goal 50 ms)"
        )


def health_with_stats(services: int = 50, seconds: float = 20.0) -> tuple[list[float], float]:
    """The real Health screen on ``services`` containers of the engine at DOCKER_HOST."""
    from bench.common import bench_project, run_service

    with tempfile.TemporaryDirectory() as tmp, bench_project(Path(tmp)) as (project, network):
        run_service(project, network, "s00", "sh", "-c", "while :; do :; done")
        for n in range(1, services):
            run_service(project, network, f"s{n:02d}", "sleep", "infinity")
        return asyncio.run(_health_keys(Path(tmp), services, seconds))


async def _health_keys(home: Path, services: int, seconds: float) -> tuple[list[float], float]:
    from textual import events
    from textual.widgets import DataTable

    from kgop_tui.app import KgopApp
    from kgop_tui.screens.health import HealthScreen
    from kgop_tui.services.wiring import build_services
    from kgop_tui.settings import load_settings

    app = KgopApp(build_services(load_settings(kg_home=home)))
    latencies: list[float] = []
    async with app.run_test(size=(160, 60)) as pilot:
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        table = screen.query_one("#services", DataTable)
        deadline = time.monotonic() + 120
        while len(screen.figures) < services:  # noqa: ASYNC110 (every stream is up)
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(screen.figures)} stats streams after 120 s")
            await pilot.pause(0.1)
        driver = app._driver
        assert driver is not None
        # kgop's own CPU while the screen only streams (no keys): the steady cost of watching
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before, idle_from = usage.ru_utime + usage.ru_stime, time.perf_counter()
        await pilot.pause(10.0)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (usage.ru_utime + usage.ru_stime - cpu_before) / (time.perf_counter() - idle_from)
        started = time.perf_counter()
        step = 0
        while time.perf_counter() - started < seconds:
            before = table.cursor_row
            key = "down" if (step // 10) % 2 == 0 else "up"
            step += 1
            event = events.Key(key, None)
            event.set_sender(app)
            pressed = time.perf_counter()
            driver.send_message(event)
            while table.cursor_row == before:  # noqa: ASYNC110 (polling is the measurement)
                await asyncio.sleep(0.001)
            latencies.append(time.perf_counter() - pressed)
            await asyncio.sleep(0.05)
    return latencies, cpu * 100


def main() -> None:
    if sys.argv[1:] == ["filter"]:
        print("log view filter:")
        print_filter_case()
        return
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / ".env").write_text("COMPOSE_PROJECT_NAME=kgopbench\n")
        frames = [first_frame(home) for _ in range(5)]
        status = cold_start(["status"], home)
        version = cold_start(["--version"], home)
    print(
        "tui: first frame of `kgop tui` in a pseudo-terminal (median of 5): "
        f"{statistics.median(frames):.2f} s"
    )
    print(
        f"  `kgop status` cold start (median of 7): {status:.3f} s; "
        f"`kgop --version`: {version:.3f} s"
    )
    elapsed, latencies, kept, dropped = asyncio.run(ingest(lines))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lat = sorted(latencies) or [float("nan")]
    print(
        f"  log view: {lines:,} lines in {elapsed:.2f} s = {lines / elapsed:,.0f} lines/s "
        f"(kept {kept:,}, dropped {dropped:,})"
    )
    print(
        f"  key presses during ingest: {len(lat)}, median {statistics.median(lat) * 1000:.0f} "
        f"ms, max {lat[-1] * 1000:.0f} ms"
    )
    print(f"  peak RSS of the process: {rss:.0f} MB")
    print_filter_case()
    latencies, cpu = health_with_stats()
    lat = sorted(latencies)
    print(
        f"health, 50 services with live stats: kgop's own CPU while it watches (10 s, no keys) "
        f"{cpu:.1f} % of one core; {len(lat)} key presses over 20 s: latency median "
        f"{statistics.median(lat) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
