"""Fakes of every port (kgop_tui/ports.py), one module per port, with fixed data.

The contract test (tests/integration/test_contract.py) holds each to its real service.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kgop_tui.ports import Services
from tests.tui.fakes.clock import NOW
from tests.tui.fakes.config import FakeConfig
from tests.tui.fakes.doctor import FakeDoctor
from tests.tui.fakes.engine import (
    FakeEngine,
    FakeLogSource,
    log_batch,
    sample_status,
    service,
    swarm_status,
)
from tests.tui.fakes.migrations import FakeMigrations
from tests.tui.fakes.upgrades import FakeUpgrades

__all__ = [
    "NOW",
    "FakeConfig",
    "FakeDoctor",
    "FakeEngine",
    "FakeLogSource",
    "FakeMigrations",
    "FakeUpgrades",
    "Fakes",
    "log_batch",
    "sample_status",
    "service",
    "swarm_status",
]


@dataclass
class Fakes:
    engine: FakeEngine = field(default_factory=FakeEngine)
    migrations: FakeMigrations = field(default_factory=FakeMigrations)
    config: FakeConfig = field(default_factory=FakeConfig)
    upgrades: FakeUpgrades = field(default_factory=FakeUpgrades)
    doctor: FakeDoctor = field(default_factory=FakeDoctor)
    saved: list[list[str]] = field(default_factory=list)

    def services(self) -> Services:
        def save(lines: list[str]) -> str:
            self.saved.append(lines)
            return "/srv/kg/logs/kgop-logs-20261126-120000.log"

        return Services(
            engine=self.engine,
            migrations=self.migrations,
            config=self.config,
            save_logs=save,
            upgrades=self.upgrades,
            doctor=self.doctor,
        )
