"""The real services behind the TUI's ports, built from settings."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kgop_tui.checks import DoctorReport
from kgop_tui.errors import KgopError
from kgop_tui.facts import HostFacts
from kgop_tui.models import ProjectStatus, StatusUpdate, StoredPlan, UpgradePlan, UpgradeStatus
from kgop_tui.ports import Services
from kgop_tui.services.database.connection import DatabaseTarget
from kgop_tui.services.database.migrations import MigrationService
from kgop_tui.services.docker.compose import ComposeService
from kgop_tui.services.docker.docker_engine import DockerService
from kgop_tui.services.docker.events import ProjectWatcher
from kgop_tui.services.docker.logs import LogFollower
from kgop_tui.services.files import save_log_lines
from kgop_tui.services.platform.config import ConfigService
from kgop_tui.settings import Settings, load_settings
from kgop_tui.tls import CertificateStatus

if TYPE_CHECKING:
    from kgop_tui.services.docker.stats import StatsFollower


class Engine:
    """The Docker engine side: one DockerService, compose for lifecycle."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.docker = DockerService(settings)
        self.compose = ComposeService(settings)

    def project_status(self) -> ProjectStatus:
        return self.docker.project_status()

    def watch(
        self, on_update: Callable[[StatusUpdate], None], on_error: Callable[[KgopError], None]
    ) -> ProjectWatcher:
        watcher = ProjectWatcher(self.docker, on_update, on_error, retry_seconds=2.0)
        watcher.start()
        return watcher

    def follow_logs(self, services: list[str] | None, tail: int) -> LogFollower:
        targets = self.docker.service_containers(services)
        return LogFollower(self.docker, targets, tail=tail)

    def restart(self, service: str) -> None:
        swarm = self.docker.swarm()
        if swarm.services():
            swarm.force_update(service)
        else:
            self.compose.restart([service])

    def stop(self, service: str) -> None:
        swarm = self.docker.swarm()
        if swarm.services():
            raise swarm.refuse_lifecycle("stop", service)
        self.compose.stop([service])

    def start(self, service: str) -> None:
        swarm = self.docker.swarm()
        if swarm.services():
            raise swarm.refuse_lifecycle("start", service)
        self.compose.start([service])

    def certificate(self) -> CertificateStatus | None:
        from kgop_tui.services.tls.certs import certificate_status

        return certificate_status(self.settings.kg_home)

    def host_facts(self) -> HostFacts:
        import shutil
        from datetime import UTC, datetime
        from os.path import isdir

        from kgop_tui.services.backups.backup import BackupService
        from kgop_tui.services.tls.certs import certificate_status

        facts: dict[str, int | float | None] = {}
        facts["kg_home_free"] = shutil.disk_usage(self.settings.kg_home).free
        with contextlib.suppress(KgopError):
            with self.docker.translate_errors():
                root = str(self.docker.client().info().get("DockerRootDir", ""))
            if root and isdir(root):  # not visible from the operator container
                facts["docker_root_free"] = shutil.disk_usage(root).free
        with contextlib.suppress(KgopError, OSError):  # the database is down: not shown
            facts["database_bytes"] = asyncio.run(_database_size(self.settings))
        backups = BackupService(self.settings).backups()
        if backups:
            age = datetime.now(UTC) - backups[-1].created_at
            facts["newest_backup_age"] = age.total_seconds()
        cert = certificate_status(self.settings.kg_home)
        days = cert.days_left if cert is not None else None
        return HostFacts(
            kg_home_free=_int(facts.get("kg_home_free")),
            docker_root_free=_int(facts.get("docker_root_free")),
            database_bytes=_int(facts.get("database_bytes")),
            newest_backup_age=facts.get("newest_backup_age"),
            certificate_days=days,
        )

    def follow_stats(self, on_sample: Callable[[str, dict[str, float]], None]) -> StatsFollower:
        from kgop_tui.services.docker.stats import StatsFollower

        return StatsFollower(DockerService(self.settings), on_sample)


def _int(value: int | float | None) -> int | None:
    return None if value is None else int(value)


async def _database_size(settings: Settings) -> int:
    from kgop_tui.services.database.connection import connect

    conn = await asyncio.wait_for(connect(DatabaseTarget.from_settings(settings), "tui"), 5)
    try:
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


class UpgradeControl:
    """The TUI's hold on upgrades (the UpgradePort): plan, start the detached runner, read its
    status and log, abort, recover."""

    def __init__(self, settings: Settings) -> None:
        from kgop_tui.services.upgrade import UpgradeFiles

        self.home = settings.kg_home
        self.files = UpgradeFiles.of(settings)

    def _settings(self) -> Settings:
        return load_settings(kg_home=self.home)  # fresh: an upgrade rewrites .env

    def installed(self) -> str | None:
        return self._settings().kg_version

    def releases(self) -> list[str]:
        from kgop_tui.releases import load_manifest, parse_version

        current = self.installed()
        versions = [r.version for r in load_manifest().releases]
        if current is None:
            return versions
        return [v for v in versions if parse_version(v) > parse_version(current)]

    def plan(self, to: str | None) -> UpgradePlan:
        from kgop_tui.services.upgrade import UpgradeSteps, preflight

        steps = UpgradeSteps(self._settings())
        try:
            return asyncio.run(preflight(steps, to)).plan
        finally:
            steps.docker.close()

    def last_plan(self) -> StoredPlan | None:
        from kgop_tui.services.upgrade import read_plan

        return read_plan(self.files)

    def start(self, to: str) -> UpgradeStatus:
        from kgop_tui.services.upgrade import spawn_runner, wait_started

        run_id, process = spawn_runner(self._settings(), to, no_backup=False, health_timeout=180)
        return wait_started(self.files, run_id, process)

    def status(self) -> UpgradeStatus | None:
        from kgop_tui.services.upgrade import read_status

        return read_status(self.files)

    def read_log(self, status: UpgradeStatus, offset: int) -> tuple[list[str], int]:
        from kgop_tui.services.upgrade import read_log

        return read_log(self.files, status, offset)

    def abort(self) -> None:
        from kgop_tui.services.upgrade import request_abort

        request_abort(self.files)

    def recover(self) -> UpgradeStatus:
        from kgop_tui.services.upgrade import recover

        return recover(self._settings())


def build_services(settings: Settings) -> Services:
    target = DatabaseTarget.from_settings(settings)

    def save_logs(lines: list[str]) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return str(save_log_lines(settings.kg_home, lines, stamp))

    return Services(
        engine=Engine(settings),
        migrations=MigrationService.of_install(settings),
        config=ConfigService(target, settings),
        save_logs=save_logs,
        upgrades=UpgradeControl(settings),
        doctor=DoctorControl(settings),
    )


class DoctorControl:
    """The TUI's Doctor view: one run of every check."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self) -> DoctorReport:
        from kgop_tui.services.diagnosis.doctor import Doctor

        return Doctor(self.settings).run()
