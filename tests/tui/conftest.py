"""Fixtures of the TUI tier: fake services with fixed data."""

from __future__ import annotations

import pytest

from tests.tui.fakes import Fakes


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()
