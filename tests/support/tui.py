"""The TUI harness: the app on fake services, and waiting on conditions (never sleeping)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from kgop_tui.app import KgopApp
from tests.tui.fakes import NOW, Fakes


def make_app(fakes: Fakes) -> KgopApp:
    return KgopApp(fakes.services(), clock=lambda: NOW)


async def until(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, limit: float = 10.0
) -> None:
    """Let the app process messages until ``condition`` holds; fail after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await pilot.pause(0.02)
