"""Upgrades: preflight, plan, backup, pull, then stop → migrate → start → health → verify.

Nothing changes the platform before the ``stop`` step (the point of no return); until
then an upgrade can be aborted and leaves everything as it was. From ``stop`` on, any
failure rolls back on its own: the previous image tags go back into ``.env``, the
database is restored from the backup taken minutes before (when migrations ran), and the
previous api and web are started and health-checked again.

An upgrade runs as its own process (see :func:`spawn_runner`), detached from the session
that started it, so a dropped SSH connection does not stop it half-way. It writes its
progress to ``KG_HOME/upgrade/status.json`` (an :class:`~kgop_tui.models.UpgradeStatus`)
and its log to ``KG_HOME/upgrade/runs/<id>.log``; ``kgop upgrade --status`` and the TUI
read both. One upgrade at a time: the runner holds an exclusive lock on
``KG_HOME/upgrade/lock`` for its whole life (released by the kernel if it dies).

The new release's manifest and migration files come from the target operator image
(``/opt/kgop/share``): only the newer release knows its own schema and required stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from kgop_tui import __version__
from kgop_tui.errors import (
    ConfigInvalid,
    KgopError,
    LockHeld,
    MigrationFailed,
    OperationFailed,
    RefusedForSafety,
)
from kgop_tui.models import (
    POINT_OF_NO_RETURN,
    UPGRADE_STEPS,
    BackupInfo,
    ImageChange,
    MigrationState,
    RunState,
    StepState,
    UpgradePlan,
    UpgradeStatus,
    UpgradeStep,
)
from kgop_tui.releases import ROLES, Manifest, Release, load_manifest, parse_version
from kgop_tui.services.database import DatabaseTarget
from kgop_tui.services.migrations import MigrationService
from kgop_tui.settings import Settings, read_env_file

IMAGE_SHARE = "/opt/kgop/share"
DEFAULT_REPOSITORY = "ghcr.io/knowledge-graph/kg-{role}"
APP_SERVICES = ("api", "web")
ROLLBACK = ("rollback", "Roll back to the previous version")


def now() -> datetime:
    return datetime.now(UTC)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, KgopError):
        return exc.one_line()
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def retag(ref: str, tag: str) -> str:
    """``registry:5000/kg-api:0.5.0`` → ``registry:5000/kg-api:TAG`` (digests dropped)."""
    ref = ref.split("@", 1)[0]
    slash, colon = ref.rfind("/"), ref.rfind(":")
    repository = ref[:colon] if colon > slash else ref
    return f"{repository}:{tag}"


def image_variable(role: str) -> str:
    return f"KG_{role.upper()}_IMAGE"


def pinned_images(env: Mapping[str, str | None], version: str) -> dict[str, str]:
    """Each role's image as .env pins it (KG_<ROLE>_IMAGE, else the default at ``version``)."""
    return {
        role: env.get(image_variable(role)) or f"{DEFAULT_REPOSITORY.format(role=role)}:{version}"
        for role in ROLES
    }


def _extract_plain_files(archive: tarfile.TarFile, target: Path) -> None:
    """Folders and regular files only, inside ``target`` (no links, devices or ``..``)."""
    root = target.resolve()
    for member in archive.getmembers():
        path = (root / member.name).resolve()
        if path != root and root not in path.parents:
            continue
        if member.isdir():
            path.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            path.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            if source is not None:
                path.write_bytes(source.read())


@dataclass(frozen=True)
class UpgradeFiles:
    """Where an install keeps its upgrade state."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> UpgradeFiles:
        return cls(settings.kg_home / "upgrade")

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def abort(self) -> Path:
        return self.root / "abort"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def release(self, version: str) -> Path:
        return self.root / "releases" / version

    def prepare(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runs.mkdir(mode=0o700, exist_ok=True)


def _write_json(path: Path, data: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def lock_is_free(files: UpgradeFiles) -> bool:
    """True when no upgrade runner holds the lock."""
    if not files.lock.exists():
        return True
    with open(files.lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def read_status(files: UpgradeFiles) -> UpgradeStatus | None:
    """The last upgrade's status; a ``running`` one whose runner is gone is ``interrupted``."""
    try:
        status = UpgradeStatus.model_validate_json(files.status.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        raise ConfigInvalid(
            f"{files.status} is damaged", hint="move it away; the backups are untouched"
        ) from None
    if status.state is RunState.RUNNING and lock_is_free(files):
        # Read again: the runner may have finished between the two reads.
        status = UpgradeStatus.model_validate_json(files.status.read_text(encoding="utf-8"))
        if status.state is RunState.RUNNING:
            status.state = RunState.INTERRUPTED
            status.hint = (
                "the upgrade process stopped mid-way (operator container restarted?); "
                f"`kgop upgrade --recover` rolls back to {status.from_version}"
                if status.passed_point_of_no_return
                else "the upgrade process stopped before changing anything; "
                "`kgop upgrade --recover` closes it"
            )
    return status


def read_log(files: UpgradeFiles, status: UpgradeStatus, offset: int) -> tuple[list[str], int]:
    """Lines of the run's log from byte ``offset``; the new offset (whole lines only)."""
    try:
        with open(status.log_file, "rb") as handle:
            handle.seek(offset)
            data = handle.read(1 << 20)
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    chunk = data[: end + 1]
    return chunk.decode("utf-8", "replace").splitlines(), offset + len(chunk)


@dataclass
class Context:
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


class Upgrader:
    """The steps of an upgrade; the runner calls them in order and records each."""

    def __init__(self, settings: Settings, log: Callable[[str], None] = lambda _: None) -> None:
        from kgop_tui.services.backup import BackupService
        from kgop_tui.services.compose import ComposeService
        from kgop_tui.services.docker_engine import DockerService

        self.settings = settings
        self.files = UpgradeFiles.of(settings)
        self.log = log
        self.docker = DockerService(settings)
        self.compose = ComposeService(settings, timeout=300)
        self.backups = BackupService(settings)

    # ---- images -------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        path = self.settings.kg_home / ".env"
        return {k: e.value for k, e in read_env_file(path).items()} if path.exists() else {}

    def current_images(self) -> dict[str, str]:
        return pinned_images(self._env(), self.settings.kg_version or "latest")

    def image_present(self, ref: str) -> bool:
        import docker

        client = self.docker.client()
        with self.docker.translate_errors():
            try:
                client.images.get(ref)
                return True
            except docker.errors.ImageNotFound:
                return False

    def pullable(self, ref: str) -> str | None:
        """None when the registry knows ``ref``; otherwise why not."""
        import docker

        client = self.docker.client()
        try:
            client.images.get_registry_data(ref)
            return None
        except docker.errors.APIError as exc:
            return str(exc.explanation or exc).splitlines()[0][:200]
        except Exception as exc:  # transport errors: the registry is unreachable
            return str(exc).splitlines()[0][:200] or type(exc).__name__

    def pull(self, ref: str) -> None:
        client = self.docker.client()
        repository, _, tag = ref.rpartition(":")
        self.log(f"pulling {ref}")
        with self.docker.translate_errors():
            client.images.pull(repository, tag=tag)

    def fetch_release(self, operator_ref: str, version: str) -> tuple[Manifest, Path]:
        """The manifest and migrations of the operator image ``operator_ref``."""
        if not self.image_present(operator_ref):
            why = self.pullable(operator_ref)
            if why is not None:
                raise OperationFailed(
                    f"The operator image {operator_ref} is not here and cannot be pulled ({why})",
                    hint="load it (`docker load`) or check the registry and KG_OPERATOR_IMAGE",
                )
            self.pull(operator_ref)
        target = self.files.release(version)
        partial = target.with_name(f".{version}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        client = self.docker.client()
        with self.docker.translate_errors():
            container = client.containers.create(operator_ref, command=["true"], entrypoint=[])
            try:
                try:
                    stream, _ = container.get_archive(IMAGE_SHARE)
                except Exception:
                    raise OperationFailed(
                        f"The operator image {operator_ref} has no release manifest "
                        f"({IMAGE_SHARE})",
                        hint="it predates guided upgrades; upgrade by re-running install.sh",
                    ) from None
                data = io.BytesIO(b"".join(stream))
            finally:
                container.remove(force=True)
        with tarfile.open(fileobj=data) as archive:
            _extract_plain_files(archive, partial)
        shutil.rmtree(target, ignore_errors=True)
        os.rename(partial, target)
        share = target / Path(IMAGE_SHARE).name
        return load_manifest(share / "releases.toml"), share / "sql" / "migrations"

    # ---- preflight and plan -------------------------------------------------------------

    def _migration_service(self, directory: Path) -> MigrationService:
        return MigrationService(
            DatabaseTarget.from_settings(self.settings), directory, kgop_version=__version__
        )

    def _stage_migrations(self, source: Path, release: Release) -> Path:
        """The target's migration files up to its last version, in their own folder."""
        staged = self.files.release(release.version) / "migrations"
        staged.mkdir(exist_ok=True)
        for path in sorted(source.glob("*.sql")):
            number = path.name.split("_", 1)[0]
            if number.isdigit() and int(number) <= release.migrations[1]:
                shutil.copy2(path, staged / path.name)
        return staged

    async def preflight(self, to: str | None, no_backup: bool = False) -> Context:
        """Everything checked, nothing changed. Raises with the first problem found."""
        current = self.settings.kg_version
        if not current:
            raise ConfigInvalid(
                "KG_VERSION is not set in .env",
                hint="install.sh writes it; set it to the version that runs now",
            )
        parse_version(current)
        own = load_manifest()
        version = to or own.latest.version
        parse_version(version)
        self.log(f"engine: {self.docker.engine_address}")
        with self.docker.translate_errors():
            self.docker.client().ping()
        current_images = self.current_images()
        operator_target = retag(current_images["operator"], version)
        manifest, shipped = self.fetch_release(operator_target, version)
        release = manifest.check_path(current, version)
        self.log(f"release {release.version}: migrations up to {release.migrations[1]:04d}")
        target_images = {role: retag(current_images[role], release.images[role]) for role in ROLES}
        staged = self._stage_migrations(shipped, release)
        migrations = self._migration_service(staged)
        status = await migrations.status()
        drifted = status.by_state(MigrationState.DRIFTED)
        if drifted:
            raise RefusedForSafety(
                f"Applied migration {drifted[0].filename} differs from the target's copy",
                hint="resolve the drift (`kgop migrate status`) before upgrading",
            )
        schema = status.current_version
        if schema is not None and schema > release.migrations[1]:
            raise RefusedForSafety(
                f"The database is at migration {schema}, newer than {version} knows "
                f"({release.migrations[1]})",
                hint="this looks like a downgrade; restore a backup instead",
            )
        pending = await migrations.plan()
        size, free = await self.backups.estimate()
        if not no_backup and free < size + (64 << 20):
            raise RefusedForSafety(
                f"Not enough disk for the backup: {free >> 20} MiB free, database {size >> 20} MiB",
                hint="free space in KG_HOME/backups, or pass --no-backup (no rollback of data)",
            )
        changes = []
        for role in ROLES:
            ref = target_images[role]
            present = self.image_present(ref)
            if not present:
                why = self.pullable(ref)
                if why is not None:
                    raise OperationFailed(
                        f"Image {ref} is not here and cannot be pulled ({why})",
                        hint=f"load it or check the registry and {image_variable(role)} in .env",
                    )
            changes.append(
                ImageChange(service=role, current=current_images[role], target=ref, present=present)
            )
        notes = []
        if own.get(current) is None and manifest.get(current) is None:
            notes.append(f"{current} is not in the release manifest; no required stop is known")
        if no_backup:
            notes.append("--no-backup: a failed upgrade cannot restore the database")
        plan = UpgradePlan(
            from_version=current,
            to_version=version,
            images=changes,
            pending_migrations=pending,
            schema_version=schema,
            target_schema=release.migrations[1],
            backup_estimate_bytes=size,
            free_bytes=free,
            notes=notes,
        )
        return Context(
            current=current,
            release=release,
            migrations_dir=staged,
            current_images=current_images,
            target_images=target_images,
            plan=plan,
        )

    async def dry_run_migrations(self, ctx: Context) -> Any:
        return await self._migration_service(ctx.migrations_dir).up(dry_run=True)

    # ---- the changing steps -------------------------------------------------------------

    def app_services(self) -> list[str]:
        known = self.compose.services()
        return [name for name in APP_SERVICES if name in known]

    def stop_app(self, ctx: Context) -> None:
        ctx.services = self.app_services()
        self.compose.stop(ctx.services, grace_seconds=20)

    async def migrate(self, ctx: Context) -> str:
        run = await self._migration_service(ctx.migrations_dir).up()
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

    def pin(self, ctx: Context, images: dict[str, str], version: str) -> None:
        from kgop_tui.services.files import update_env_file

        env = self._env()
        updates: dict[str, str | None] = {"KG_VERSION": version}
        for role in ROLES:
            updates[image_variable(role)] = images[role]
        if not ctx.env_before:
            ctx.env_before = {key: env.get(key) for key in updates}
        update_env_file(self.settings.kg_home / ".env", updates)

    def start_app(self, ctx: Context) -> None:
        self.start_services(ctx.services)

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

    def verify(self, ctx: Context) -> str:
        status = {s.service: s for s in self.docker.project_status().services}
        for name in ctx.services:
            current = status.get(name)
            wanted = ctx.target_images[name]
            if current is None or current.image != wanted:
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

    async def verify_schema(self, ctx: Context) -> int | None:
        status = await self._migration_service(ctx.migrations_dir).status()
        if status.current_version != ctx.release.migrations[1]:
            raise OperationFailed(
                f"The database is at migration {status.current_version}, expected "
                f"{ctx.release.migrations[1]}",
                hint="see `kgop migrate status`",
            )
        return status.current_version

    def install_migrations(self, ctx: Context) -> None:
        """Make KG_HOME/sql/migrations the new release's (a folder swap)."""
        live = self.settings.kg_home / "sql" / "migrations"
        if self.settings.kgop_migrations_dir is not None or not live.parent.is_dir():
            return
        incoming = live.with_name(".migrations.new")
        outgoing = live.with_name(".migrations.old")
        shutil.rmtree(incoming, ignore_errors=True)
        shutil.rmtree(outgoing, ignore_errors=True)
        shutil.copytree(ctx.migrations_dir, incoming)
        if live.exists():
            os.rename(live, outgoing)
        os.rename(incoming, live)
        shutil.rmtree(outgoing, ignore_errors=True)


# ---- the runner ---------------------------------------------------------------------------


class Recorder:
    """Writes the status file and the run's log as the upgrade goes."""

    def __init__(self, files: UpgradeFiles, status: UpgradeStatus, log: IO[str]) -> None:
        self.files = files
        self.status = status
        self._log = log

    def line(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            self._log.write(f"{datetime.now(UTC):%H:%M:%S} {part}\n")
        self._log.flush()

    def save(self) -> None:
        _write_json(self.files.status, self.status.model_dump_json(indent=2))

    @contextlib.contextmanager
    def step(self, key: str) -> Iterator[UpgradeStep]:
        step = self.status.step(key)
        step.state, step.started_at = StepState.RUNNING, now()
        self.line(f"== {step.title}")
        self.save()
        try:
            yield step
        except BaseException as exc:
            step.state, step.finished_at = StepState.FAILED, now()
            message = describe_error(exc)
            step.detail = step.detail or message[:300]
            self.line(f"   failed: {message}")
            self.save()
            raise
        if step.state is StepState.RUNNING:
            step.state = StepState.DONE
        step.finished_at = now()
        if step.detail:
            self.line(f"   {step.state.value}: {step.detail}")
        self.save()

    def finish(self) -> None:
        """The run has ended: steps never reached are skipped; the end is recorded."""
        for step in self.status.steps:
            if step.state is StepState.PENDING:
                step.state = StepState.SKIPPED
        self.status.finished_at = now()
        self.line(f"== {self.status.state.value}")
        self.save()

    def skip(self, key: str, why: str) -> None:
        step = self.status.step(key)
        step.state, step.detail = StepState.SKIPPED, why
        self.line(f"== {step.title}: skipped ({why})")
        self.save()


class Aborted(KgopError):
    """The user aborted the upgrade before anything changed."""


def _check_abort(files: UpgradeFiles) -> None:
    if files.abort.exists():
        raise Aborted(
            "The upgrade was aborted before anything changed", hint="run it again when ready"
        )


@contextlib.contextmanager
def hold_lock(files: UpgradeFiles) -> Iterator[None]:
    files.prepare()
    handle = open(files.lock, "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(
                "An upgrade or a restore is running",
                hint="follow an upgrade with `kgop upgrade --status`",
            ) from None
        yield
    finally:
        handle.close()


def run_upgrade(
    settings: Settings,
    run_id: str,
    to: str | None,
    no_backup: bool = False,
    health_timeout: float = 180.0,
) -> UpgradeStatus:
    """The whole upgrade, recorded step by step; never raises for an upgrade failure."""
    files = UpgradeFiles.of(settings)
    with hold_lock(files):
        with contextlib.suppress(FileNotFoundError):
            files.abort.unlink()
        log_path = files.runs / f"{run_id}.log"
        with open(log_path, "a", encoding="utf-8") as log:
            os.chmod(log_path, 0o600)
            status = UpgradeStatus(
                id=run_id,
                from_version=settings.kg_version or "?",
                to_version=to or load_manifest().latest.version,
                state=RunState.RUNNING,
                pid=os.getpid(),
                steps=[UpgradeStep(key=k, title=t) for k, t in UPGRADE_STEPS],
                point_of_no_return=POINT_OF_NO_RETURN,
                log_file=str(log_path),
                started_at=now(),
            )
            recorder = Recorder(files, status, log)
            recorder.save()
            _run(settings, recorder, to, no_backup, health_timeout)
            return status


def _run(
    settings: Settings, rec: Recorder, to: str | None, no_backup: bool, health_timeout: float
) -> None:
    status = rec.status
    upgrader = Upgrader(settings, log=rec.line)
    ctx: Context | None = None
    down_since: float | None = None
    try:
        with rec.step("preflight") as step:
            ctx = asyncio.run(upgrader.preflight(to, no_backup=no_backup))
            step.detail = f"{ctx.current} → {ctx.release.version}: path and images ok"
        with rec.step("plan") as step:
            for line in ctx.plan.lines():
                rec.line("   " + line)
            step.detail = (
                f"{len(ctx.plan.pending_migrations)} migration(s), "
                f"{sum(1 for c in ctx.plan.images if not c.present)} image(s) to pull"
            )
        if ctx.plan.up_to_date:
            for key, _ in UPGRADE_STEPS[2:]:
                rec.skip(key, f"already at {ctx.current}")
            status.state = RunState.SUCCEEDED
            status.report = [f"The platform is already at {ctx.current}."]
            return
        _check_abort(rec.files)
        if no_backup:
            rec.skip("backup", "--no-backup")
        else:
            with rec.step("backup") as step:
                ctx.backup = asyncio.run(
                    upgrader.backups.create(
                        reason=f"before upgrade {ctx.current} → {ctx.release.version}"
                    )
                )
                status.backup = ctx.backup.path
                step.detail = (
                    f"{ctx.backup.path} ({ctx.backup.dump_bytes / 1024:.0f} KiB, "
                    f"{sum(ctx.backup.tables.values())} rows, {ctx.backup.seconds:.1f} s)"
                )
        _check_abort(rec.files)
        with rec.step("pull") as step:
            pulled = 0
            for change in ctx.plan.images:
                _check_abort(rec.files)
                if not upgrader.image_present(change.target):
                    upgrader.pull(change.target)
                    pulled += 1
            step.detail = f"{pulled} pulled, {len(ctx.plan.images) - pulled} already here"
        _check_abort(rec.files)
        status.passed_point_of_no_return = True
        rec.line("-- point of no return: from here a failure rolls back automatically")
        with rec.step("stop") as step:
            down_since = time.monotonic()
            upgrader.stop_app(ctx)
            step.detail = ", ".join(ctx.services) + " stopped"
        with rec.step("migrate") as step:
            step.detail = asyncio.run(upgrader.migrate(ctx))
        with rec.step("start") as step:
            upgrader.pin(ctx, ctx.target_images, ctx.release.version)
            upgrader.start_app(ctx)
            step.detail = (
                "KG_VERSION="
                + ctx.release.version
                + "; "
                + ", ".join(ctx.target_images[s] for s in ctx.services)
            )
        with rec.step("health") as step:
            step.detail = wait_app(upgrader, ctx, health_timeout)
            status.api_downtime_seconds = round(time.monotonic() - down_since, 2)
            rec.line("   " + upgrader.reload_front())
        with rec.step("verify") as step:
            images = upgrader.verify(ctx)
            schema = asyncio.run(upgrader.verify_schema(ctx))
            upgrader.install_migrations(ctx)
            step.detail = f"{images}; schema {schema}"
        status.state = RunState.SUCCEEDED
        status.report = [
            f"Upgraded {ctx.current} → {ctx.release.version} in "
            f"{(now() - status.started_at).total_seconds():.1f} s; api and web were down "
            f"{status.api_downtime_seconds:.1f} s.",
            f"Backup: {status.backup}" if status.backup else "No backup was taken (--no-backup).",
            "The operator container moves to the new image when `./operator.sh` next runs.",
        ]
    except BaseException as exc:  # noqa: BLE001 - every failure is recorded, then handled
        error = describe_error(exc)
        status.error = error[:500]
        rec.line(f"!! {error}")
        if isinstance(exc, Aborted):
            status.state = RunState.ABORTED
            status.report = ["Aborted before anything changed; the platform runs as before."]
        elif not status.passed_point_of_no_return or ctx is None:
            status.state = RunState.FAILED
            status.hint = getattr(exc, "hint", None) or "nothing was changed"
            status.report = ["The upgrade stopped before changing anything.", error]
        else:
            rollback(upgrader, rec, Undo.of(ctx, status), error, health_timeout)
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
    finally:
        rec.finish()
        upgrader.docker.close()


def wait_app(upgrader: Upgrader, ctx: Context, timeout: float) -> str:
    from kgop_tui.services.health import wait_healthy

    wanted = {s: ctx.target_images[s] for s in ctx.services}
    return wait_healthy(upgrader.docker, ctx.services, timeout, wanted)


@dataclass
class Undo:
    """What a rollback needs: where to go back to, and what to restore."""

    current: str
    target: str
    services: list[str]
    previous_images: dict[str, str]
    env_before: dict[str, str | None]
    backup: BackupInfo | None
    restore_database: bool

    @classmethod
    def of(cls, ctx: Context, status: UpgradeStatus) -> Undo:
        migrate = status.step("migrate").state
        return cls(
            current=ctx.current,
            target=ctx.release.version,
            services=ctx.services,
            previous_images=ctx.current_images,
            env_before=ctx.env_before,
            backup=ctx.backup,
            restore_database=ctx.migrations_ran or migrate is StepState.FAILED,
        )


def rollback(upgrader: Upgrader, rec: Recorder, undo: Undo, error: str, timeout: float) -> None:
    from kgop_tui.services.health import wait_healthy

    status = rec.status
    status.steps.append(UpgradeStep(key=ROLLBACK[0], title=ROLLBACK[1]))
    report = [f"The upgrade to {undo.target} failed: {error}"]
    try:
        with rec.step("rollback") as step:
            services = undo.services or upgrader.app_services()
            upgrader.compose.stop(services, grace_seconds=10)
            if undo.restore_database:
                if undo.backup is not None:
                    rec.line(f"   restoring the database from {undo.backup.path}")
                    asyncio.run(upgrader.backups.restore_database(undo.backup))
                    report.append(f"Database restored from {undo.backup.path}.")
                else:
                    report.append("The database was NOT restored: no backup (--no-backup).")
            else:
                report.append("The database was not changed.")
            if undo.env_before:
                from kgop_tui.services.files import update_env_file

                update_env_file(upgrader.settings.kg_home / ".env", undo.env_before)
            upgrader.start_services(services)
            images = {s: undo.previous_images[s] for s in services}
            step.detail = wait_healthy(upgrader.docker, services, timeout, images)
            rec.line("   " + upgrader.reload_front())
            report.append(f"Back on {undo.current}: {step.detail}.")
        for step in status.steps:
            if step.key in ("stop", "migrate", "start", "health", "verify") and step.state in (
                StepState.DONE,
                StepState.FAILED,
                StepState.RUNNING,
            ):
                step.state = StepState.ROLLED_BACK
        status.state = RunState.ROLLED_BACK
        status.hint = "see the log for the cause; the platform runs the previous version"
    except BaseException as exc:  # noqa: BLE001
        message = describe_error(exc)
        report.append(f"The rollback failed too: {message}")
        status.state = RunState.FAILED
        status.hint = (
            f"restore by hand: `kgop restore {undo.backup.path} --yes`, then `kgop start`"
            if undo.backup
            else "check `kgop status` and `kgop migrate status`"
        )
    status.report = report


def recover(settings: Settings, health_timeout: float = 180.0) -> UpgradeStatus:
    """Finish an interrupted upgrade by rolling it back (or closing it, if nothing changed)."""
    from kgop_tui.services.backup import BackupService

    files = UpgradeFiles.of(settings)
    with hold_lock(files):
        try:
            status = UpgradeStatus.model_validate_json(files.status.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise OperationFailed("No upgrade has run here", hint="nothing to recover") from None
        if status.state is not RunState.RUNNING:  # the lock is ours: RUNNING means interrupted
            raise OperationFailed(
                f"The last upgrade is {status.state.value}, not interrupted",
                hint="nothing to recover; `kgop upgrade --status` shows it",
            )
        with open(status.log_file, "a", encoding="utf-8") as log:
            rec = Recorder(files, status, log)
            rec.line(f"== recovering the interrupted upgrade (was process {status.pid})")
            status.pid = os.getpid()
            error = "the upgrade process stopped mid-way"
            status.error = error
            for step in status.steps:
                if step.state is StepState.RUNNING:
                    step.state, step.detail = StepState.FAILED, "interrupted"
            upgrader = Upgrader(settings, log=rec.line)
            try:
                if not status.passed_point_of_no_return:
                    status.state = RunState.FAILED
                    status.report = [f"{error.capitalize()}, before changing anything."]
                else:
                    backup = (
                        BackupService(settings).load(Path(status.backup)) if status.backup else None
                    )
                    env_before = _env_of_backup(backup)
                    version = env_before.get("KG_VERSION") or status.from_version
                    previous = pinned_images(env_before, version)
                    migrate = status.step("migrate").state
                    undo = Undo(
                        current=status.from_version,
                        target=status.to_version,
                        services=upgrader.app_services(),
                        previous_images=previous,
                        env_before=env_before,
                        backup=backup,
                        restore_database=migrate in (StepState.DONE, StepState.FAILED),
                    )
                    rollback(upgrader, rec, undo, error, health_timeout)
            finally:
                rec.finish()
                upgrader.docker.close()
        return status


def _env_of_backup(backup: BackupInfo | None) -> dict[str, str | None]:
    """KG_VERSION and the image variables as the backup's copy of .env had them."""
    from kgop_tui.services.backup import ENV_COPY

    keys = ["KG_VERSION", *(image_variable(role) for role in ROLES)]
    if backup is None or not (Path(backup.path) / ENV_COPY).exists():
        return {}
    values = read_env_file(Path(backup.path) / ENV_COPY)
    return {key: values[key].value if key in values else None for key in keys}


# ---- detaching ----------------------------------------------------------------------------


def new_run_id() -> str:
    return f"{now():%Y%m%dT%H%M%SZ}-{os.getpid()}"


def spawn_runner(
    settings: Settings, to: str, no_backup: bool, health_timeout: float
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start the runner in its own session: it outlives the terminal that started it."""
    files = UpgradeFiles.of(settings)
    files.prepare()
    if not lock_is_free(files):
        raise LockHeld("Another upgrade is running", hint="follow it with `kgop upgrade --status`")
    run_id = new_run_id()
    cmd = [
        sys.executable,
        "-m",
        "kgop_tui",
        "--home",
        str(settings.kg_home),
        "upgrade",
        "--run",
        run_id,
        "--to",
        to,
        "--health-timeout",
        f"{health_timeout:g}",
    ]
    if no_backup:
        cmd.append("--no-backup")
    out = open(files.runs / f"{run_id}.out", "wb")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=settings.kg_home,
        )
    finally:
        out.close()
    return run_id, process


def wait_started(
    files: UpgradeFiles, run_id: str, process: subprocess.Popen[bytes], timeout: float = 60
) -> UpgradeStatus:
    """The runner's first status, or why it did not start."""
    deadline = time.monotonic() + timeout
    while True:
        status = read_status(files)
        if status is not None and status.id == run_id:
            return status
        code = process.poll()
        if code is not None:
            out = files.runs / f"{run_id}.out"
            text = out.read_text(errors="replace").strip() if out.exists() else ""
            last = text.splitlines()[-1] if text else f"exit {code}"
            raise OperationFailed(f"The upgrade did not start: {last.removeprefix('kgop: ')}")
        if time.monotonic() > deadline:
            raise OperationFailed(
                "The upgrade process did not report within a minute",
                hint=f"see {files.runs / (run_id + '.out')}",
            )
        time.sleep(0.1)


def request_abort(files: UpgradeFiles) -> UpgradeStatus:
    status = read_status(files)
    if status is None or status.state is not RunState.RUNNING:
        raise OperationFailed(
            "No upgrade is running", hint="`kgop upgrade --status` shows the last one"
        )
    if status.passed_point_of_no_return:
        raise RefusedForSafety(
            "The upgrade has passed the point of no return; it finishes or rolls back on its own",
            hint="follow it with `kgop upgrade --status`",
        )
    files.abort.touch()
    return status
