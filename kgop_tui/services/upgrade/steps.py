"""The steps of an upgrade that change the platform: stop, migrate, pin, start, verify."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgop_tui import __version__
from kgop_tui.errors import (
    MigrationFailed,
    OperationFailed,
)
from kgop_tui.models import (
    BackupInfo,
    UpgradePlan,
)
from kgop_tui.releases import ROLES, Release
from kgop_tui.services.database.baseline import BASELINE_FILE
from kgop_tui.services.database.connection import DatabaseTarget
from kgop_tui.services.database.migrations import MigrationService
from kgop_tui.services.upgrade.images import (
    ImageStore,
    image_variable,
    pinned_images,
    without_digest,
)
from kgop_tui.services.upgrade.state import UpgradeFiles
from kgop_tui.settings import Settings, read_env_file

APP_SERVICES = ("api", "web")


@dataclass
class UpgradeContext:
    """What preflight found, carried through the run."""

    current: str
    release: Release
    migrations_dir: Path
    current_images: dict[str, str]
    target_images: dict[str, str]
    plan: UpgradePlan
    backup: BackupInfo | None = None
    env_before: dict[str, str | None] = field(default_factory=dict)
    migrations_ran: bool = False
    services: list[str] = field(default_factory=list)
    swarm: bool = False
    """The platform is a Swarm stack: services are updated, not stopped and started."""
    scaled: dict[str, int] = field(default_factory=dict)
    """Swarm, a release that is not rolling: the replicas api and web had before scaling
    to zero for the migrations."""

    @property
    def rolling(self) -> bool:
        """A Swarm stack and a rolling release: api and web are updated replica by replica
        and keep serving; nothing stops."""
        return self.swarm and self.release.rolling


class UpgradeSteps:
    """The steps of an upgrade, and what they share (engine, compose, backups, images);
    the runner calls them in order and records each."""

    def __init__(self, settings: Settings, log: Callable[[str], None] = lambda _: None) -> None:
        from kgop_tui.services.backups.backup import BackupService
        from kgop_tui.services.docker.compose import ComposeService
        from kgop_tui.services.docker.docker_engine import DockerService

        self.settings = settings
        self.files = UpgradeFiles.of(settings)
        self.log = log
        self.docker = DockerService(settings)
        self.compose = ComposeService(settings, timeout=300)
        self.backups = BackupService(settings)
        self.images = ImageStore(self.docker, self.files, log)

    # ---- images -------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        path = self.settings.kg_home / ".env"
        return {k: e.value for k, e in read_env_file(path).items()} if path.exists() else {}

    def current_images(self) -> dict[str, str]:
        return pinned_images(
            self._env(), self.settings.kg_version or "latest", self.settings.compose_files()[0]
        )

    def migration_service(self, directory: Path) -> MigrationService:
        """The release's migrations, its warm files beside them (applied ones are checked
        too, never applied here: the app applies them once it runs)."""
        warm = directory.parent / "migrations-warm"
        return MigrationService(
            DatabaseTarget.from_settings(self.settings),
            directory,
            kgop_version=__version__,
            warm_directory=warm if warm.is_dir() else None,
        )

    async def dry_run_migrations(self, ctx: UpgradeContext) -> Any:
        return await self.migration_service(ctx.migrations_dir).up(dry_run=True)

    # ---- the changing steps -------------------------------------------------------------

    def app_services(self) -> list[str]:
        known = self.compose.services()
        return [name for name in APP_SERVICES if name in known]

    def stop_app(self, ctx: UpgradeContext) -> str:
        ctx.services = self.app_services()
        if ctx.rolling:
            return "nothing stops: the replicas are replaced one by one (rolling)"
        if ctx.swarm:
            swarm = self.docker.swarm()
            ctx.scaled = {s: swarm.scale(s, 0) for s in ctx.services}
            return ", ".join(ctx.services) + " scaled to zero (this release is not rolling)"
        self.compose.stop(ctx.services, grace_seconds=20)
        return ", ".join(ctx.services) + " stopped"

    async def migrate(self, ctx: UpgradeContext) -> str:
        run = await self.migration_service(ctx.migrations_dir).up()
        ctx.migrations_ran = bool(run.applied)
        for step in run.applied:
            self.log(f"   applied {step.version:04d}_{step.name} ({step.duration_ms} ms)")
        if run.failure:
            failure = run.failure
            where = f" at line {failure.line}, column {failure.column}" if failure.line else ""
            state = f" (sqlstate {failure.sqlstate})" if failure.sqlstate else ""
            raise MigrationFailed(
                f"Migration {failure.filename} failed{where}: {failure.message}{state}",
                hint="the file was rolled back; the upgrade rolls back too",
            )
        return f"{len(run.applied)} applied, schema at {run.current_version}"

    def pin(self, ctx: UpgradeContext, images: dict[str, str], version: str) -> None:
        from kgop_tui.services.files import update_env_file

        env = self._env()
        updates: dict[str, str | None] = {"KG_VERSION": version}
        for role in ROLES:
            updates[image_variable(role)] = images[role]
        if not ctx.env_before:
            ctx.env_before = {key: env.get(key) for key in updates}
        update_env_file(self.settings.kg_home / ".env", updates)

    def start_app(self, ctx: UpgradeContext) -> None:
        if ctx.swarm:
            self.update_stack(ctx.services, ctx.target_images, ctx.scaled)
        else:
            self.start_services(ctx.services)

    def update_stack(
        self, services: list[str], images: dict[str, str], scaled: dict[str, int]
    ) -> None:
        """``service update --image`` each service (and scale back what was scaled down)."""
        swarm = self.docker.swarm()
        for service in services:
            self.log(f"   updating {service} to {images[service]}")
            swarm.update_image(service, images[service])
            if service in scaled:
                swarm.scale(service, scaled[service])

    def start_services(self, services: list[str]) -> None:
        """Recreate api and web on the pinned images and start them.

        ``compose up`` would block on web's ``depends_on: api healthy`` with no deadline of
        ours; creating with compose and starting through the engine leaves the waiting to
        the health gate, which has one.
        """
        self.compose.run("up", "--no-start", "--no-deps", *services)
        client = self.docker.client()
        with self.docker.translate_errors():
            for service, container_id in self.docker.service_containers(services):
                self.log(f"   starting {service}")
                client.containers.get(container_id).start()

    def reload_front(self) -> str:
        """nginx re-resolves api and web, which may have new addresses now."""
        return "nginx reloaded" if self.docker.reload_nginx() else "nginx is not running"

    def verify(self, ctx: UpgradeContext) -> str:
        status = {s.service: s for s in self.docker.project_status().services}
        for name in ctx.services:
            current = status.get(name)
            wanted = ctx.target_images[name]
            if current is None or current.image not in (wanted, without_digest(wanted)):
                raise OperationFailed(
                    f"{name} runs {current.image if current else 'nothing'}, not {wanted}",
                    hint="see `kgop status`",
                )
            label = current.version
            if label and label != ctx.release.images[name]:
                raise OperationFailed(
                    f"{name}'s image reports version {label}, expected {ctx.release.images[name]}",
                    hint=f"the image tagged {wanted} holds another build",
                )
        return ", ".join(f"{n} {status[n].version or status[n].image}" for n in ctx.services)

    async def verify_schema(self, ctx: UpgradeContext) -> int | None:
        status = await self.migration_service(ctx.migrations_dir).status()
        if status.current_version != ctx.release.migrations[1]:
            raise OperationFailed(
                f"The database is at migration {status.current_version}, expected "
                f"{ctx.release.migrations[1]}",
                hint="see `kgop migrate status`",
            )
        return status.current_version

    def install_migrations(self, ctx: UpgradeContext) -> None:
        """Make KG_HOME/sql/migrations the new release's (a folder swap); for the platform's
        schema, KG_HOME/sql whole (its baseline, migrations and warm files)."""
        live = self.settings.kg_home / "sql" / "migrations"
        if self.settings.kgop_migrations_dir is not None or not live.parent.is_dir():
            return
        source = ctx.migrations_dir
        if (source.parent / BASELINE_FILE).is_file():  # the platform's whole schema folder
            live, source = live.parent, source.parent
        incoming = live.with_name(f".{live.name}.new")
        outgoing = live.with_name(f".{live.name}.old")
        shutil.rmtree(incoming, ignore_errors=True)
        shutil.rmtree(outgoing, ignore_errors=True)
        shutil.copytree(source, incoming)
        if live.exists():
            os.rename(live, outgoing)
        os.rename(incoming, live)
        shutil.rmtree(outgoing, ignore_errors=True)

    # ---- the runner ---------------------------------------------------------------------------

    def wait_app(self, ctx: UpgradeContext, timeout: float) -> str:
        from kgop_tui.services.docker.health import wait_healthy

        wanted = {s: ctx.target_images[s] for s in ctx.services}
        if ctx.swarm:
            return self.docker.swarm().wait_updated(wanted, timeout, self.log)
        return wait_healthy(self.docker, ctx.services, timeout, wanted)
