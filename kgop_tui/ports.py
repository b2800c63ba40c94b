"""What the TUI needs from the services, as protocols.

Screens talk only to these. The real implementations are in ``services/wiring.py``; the
TUI tests use fakes that a shared contract test holds to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kgop_tui.checks import DoctorReport
from kgop_tui.errors import KgopError
from kgop_tui.facts import HostFacts
from kgop_tui.logtypes import LogBatch
from kgop_tui.models import (
    AiProviderSetting,
    ConfigStatus,
    Device,
    EmbeddingProfile,
    MigrationFile,
    MigrationRun,
    MigrationStatus,
    PlannedMigration,
    ProjectStatus,
    Provider,
    StatusUpdate,
    StoredApiKey,
    StoredPlan,
    UpgradePlan,
    UpgradeStatus,
)
from kgop_tui.tls import CertificateStatus


class Stoppable(Protocol):
    def stop(self) -> None: ...


class StatsSource(Protocol):
    """Live resource figures of a set of containers (one engine stream each)."""

    def track(self, containers: dict[str, str]) -> None:
        """Follow exactly these containers (container id → service)."""
        ...

    def stop(self) -> None: ...


class LogSource(Protocol):
    """A follow in progress: ``get`` hands out batches, ``close`` ends it for good.

    ``get`` raises the :class:`KgopError` that stopped every stream, once the batches
    before it were handed out."""

    def start(self) -> None: ...

    def get(self, timeout: float | None = None) -> LogBatch | None: ...

    def close(self) -> None: ...


class EnginePort(Protocol):
    """Containers of the project: status, live updates, logs, lifecycle (blocking calls)."""

    def project_status(self) -> ProjectStatus: ...

    def watch(
        self, on_update: Callable[[StatusUpdate], None], on_error: Callable[[KgopError], None]
    ) -> Stoppable: ...

    def follow_logs(self, services: list[str] | None, tail: int) -> LogSource: ...

    def restart(self, service: str) -> None: ...

    def stop(self, service: str) -> None: ...

    def start(self, service: str) -> None: ...

    def certificate(self) -> CertificateStatus | None:
        """The TLS front's certificate; None without TLS."""
        ...

    def host_facts(self) -> HostFacts:
        """Disk left, database size, newest backup, certificate (blocking: a worker calls it)."""
        ...

    def follow_stats(self, on_sample: Callable[[str, dict[str, float]], None]) -> StatsSource:
        """Start following resource figures; ``on_sample(service, figures)`` on a thread."""
        ...


class MigrationsPort(Protocol):
    async def status(self) -> MigrationStatus: ...

    async def plan(self, to: int | None = None, warm: bool = False) -> list[PlannedMigration]: ...

    async def up(
        self,
        to: int | None = None,
        dry_run: bool = False,
        progress: Callable[[str, MigrationFile, int | None], None] | None = None,
        *,
        warm: bool = False,
    ) -> MigrationRun: ...


class ConfigPort(Protocol):
    async def status(self) -> ConfigStatus: ...

    async def set_admin(self, username: str, password: str) -> tuple[bool, str]: ...

    async def set_ai_provider(self, setting: AiProviderSetting) -> str | None: ...

    async def embeddings(self) -> list[EmbeddingProfile]: ...

    async def set_embedding(self, profile: str, device: Device | None) -> EmbeddingProfile: ...

    async def add_api_key(
        self, provider: Provider, key: str, validate: bool = True
    ) -> StoredApiKey: ...

    async def delete_api_key(self, provider: str) -> bool: ...


class UpgradePort(Protocol):
    """Upgrades: plan one, start it (it runs detached), follow or abort it."""

    def installed(self) -> str | None:
        """The platform version pinned in .env now."""
        ...

    def releases(self) -> list[str]:
        """Versions newer than the installed one, oldest first."""
        ...

    def plan(self, to: str | None) -> UpgradePlan:
        """Preflight and plan (blocking: call from a thread); raises KgopError."""
        ...

    def last_plan(self) -> StoredPlan | None:
        """The plan the last preflight made, without running one (blocking: a file)."""
        ...

    def start(self, to: str) -> UpgradeStatus:
        """Start the upgrade in the background; its first status (blocking)."""
        ...

    def status(self) -> UpgradeStatus | None: ...

    def read_log(self, status: UpgradeStatus, offset: int) -> tuple[list[str], int]: ...

    def abort(self) -> None:
        """Ask a running upgrade to stop before anything changed; raises if too late."""
        ...

    def recover(self) -> UpgradeStatus:
        """Roll back an interrupted upgrade (blocking); raises when there is none."""
        ...


class DoctorPort(Protocol):
    def run(self) -> DoctorReport:
        """Every check of ``kgop doctor`` (blocking: run it in a worker thread)."""
        ...


@dataclass
class Services:
    """Everything the app reaches: built once by the CLI, handed to the App."""

    engine: EnginePort
    migrations: MigrationsPort
    config: ConfigPort
    save_logs: Callable[[list[str]], str]
    """Write lines to a 0600 file under KG_HOME/logs; returns its path."""
    upgrades: UpgradePort
    doctor: DoctorPort
