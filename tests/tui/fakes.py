"""Fake services for TUI tests: fixed data, no engines. tests/integration/test_contract.py
runs the same checks against these and the real services, so they cannot drift."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from kgop_tui.errors import (
    ConfigInvalid,
    DatabaseUnavailable,
    DockerUnavailable,
    KgopError,
    OperationFailed,
    RefusedForSafety,
    UnknownService,
    UsageError,
)
from kgop_tui.models import (
    POINT_OF_NO_RETURN,
    UPGRADE_STEPS,
    AdminUser,
    AiProviderSetting,
    AppliedStep,
    ConfigStatus,
    ContainerState,
    Device,
    EmbeddingProfile,
    EncryptionStatus,
    Health,
    ImageChange,
    MigrationEntry,
    MigrationFailure,
    MigrationFile,
    MigrationRun,
    MigrationSource,
    MigrationState,
    MigrationStatus,
    PlannedMigration,
    PortBinding,
    ProjectStatus,
    Provider,
    RunState,
    ServiceStatus,
    StatusUpdate,
    StepState,
    StoredApiKey,
    UpgradePlan,
    UpgradeStatus,
    UpgradeStep,
    ValidationStatus,
)
from kgop_tui.ports import Services
from kgop_tui.services.logs import LogBatch, LogChunk, StreamEvent
from kgop_tui.services.provider_keys import check_format, mask

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def service(
    name: str,
    state: ContainerState = ContainerState.RUNNING,
    health: Health = Health.HEALTHY,
    **extra: object,
) -> ServiceStatus:
    values: dict[str, object] = {
        "service": name,
        "container_name": f"kg-{name}-1",
        "container_id": "0" * 12,
        "state": state,
        "health": health,
        "image": f"kg/{name}:0.6.0",
        "version": "0.6.0",
        "started_at": NOW - timedelta(hours=3, minutes=12),
        "uptime_seconds": 11520,
    }
    values.update(extra)
    return ServiceStatus.model_validate(values)


def sample_status() -> ProjectStatus:
    return ProjectStatus(
        project="kg",
        services=[
            service(
                "api",
                health=Health.UNHEALTHY,
                health_exit_code=7,
                health_output="curl: (7) Failed to connect to localhost port 8000",
                ports=[PortBinding(container_port=8000, host_ip="127.0.0.1", host_port=8000)],
            ),
            service("garage", health=Health.NONE),
            service("postgres"),
            service(
                "web",
                state=ContainerState.EXITED,
                health=Health.NONE,
                exit_code=137,
                started_at=None,
                uptime_seconds=None,
                restart_count=2,
            ),
        ],
    )


class _Handle:
    def __init__(self) -> None:
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()


class FakeLogSource:
    """Hands out prepared batches, then nothing; records that it was closed."""

    def __init__(self, batches: list[LogBatch]) -> None:
        self._batches = list(batches)
        self.closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        pass

    def get(self, timeout: float | None = None) -> LogBatch | None:
        with self._lock:
            if self._batches:
                return self._batches.pop(0)
        if timeout:
            threading.Event().wait(min(timeout, 0.05))
        return None

    def push(self, batch: LogBatch) -> None:
        with self._lock:
            self._batches.append(batch)

    def close(self) -> None:
        self.closed = True


def log_batch(lines: list[tuple[str, str]], start: int = 0) -> LogBatch:
    chunks = []
    for n, (svc, text) in enumerate(lines, start):
        stamp = f"2026-11-26T12:00:{n % 60:02d}.{n:09d}Z"
        chunks.append(LogChunk(svc, 2 if "ERROR" in text else 1, f"{stamp} {text}\n"))
    return LogBatch(items=list(chunks))


@dataclass
class FakeEngine:
    status: ProjectStatus = field(default_factory=sample_status)
    down: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)
    sources: list[FakeLogSource] = field(default_factory=list)
    log_lines: list[tuple[str, str]] = field(
        default_factory=lambda: [
            ("api", "GET /health 200"),
            ("postgres", "checkpoint starting: time"),
            ("api", "POST /v1/graph/query 200 12ms"),
            ("web", "ERROR upstream timed out"),
            ("api", "GET /health 200"),
            ("garage", "layout version 1 applied"),
        ]
    )
    _watchers: list[tuple[Callable[[StatusUpdate], None], Callable[[KgopError], None]]] = field(
        default_factory=list
    )

    def _check(self) -> None:
        if self.down:
            raise DockerUnavailable(
                "Cannot reach the Docker engine at unix:///var/run/docker.sock (connection "
                "refused)",
                hint="start Docker, or set DOCKER_HOST to the engine's socket",
            )

    def project_status(self) -> ProjectStatus:
        self._check()
        return self.status

    def watch(
        self, on_update: Callable[[StatusUpdate], None], on_error: Callable[[KgopError], None]
    ) -> _Handle:
        self._watchers.append((on_update, on_error))
        self.emit()
        return _Handle()

    def emit(self) -> None:
        """Deliver the current state (or the outage) to every watcher, from a thread."""
        for on_update, on_error in self._watchers:
            if self.down:
                error = DockerUnavailable("Cannot reach the Docker engine", hint="start Docker")
                threading.Thread(target=on_error, args=(error,)).start()
            else:
                update = StatusUpdate(status=self.status, changed=None, reason="snapshot")
                threading.Thread(target=on_update, args=(update,)).start()

    def follow_logs(self, services: list[str] | None, tail: int) -> FakeLogSource:
        self._check()
        known = {s.service for s in self.status.services}
        unknown = [s for s in services or [] if s not in known]
        if unknown:
            raise UnknownService(f"No service named {unknown[0]}", hint=", ".join(sorted(known)))
        lines = [(s, t) for s, t in self.log_lines if not services or s in services]
        source = FakeLogSource([log_batch(lines)])
        self.sources.append(source)
        return source

    def _lifecycle(self, verb: str, name: str) -> None:
        self._check()
        if name not in {s.service for s in self.status.services}:
            raise UnknownService(f"No service named {name}", hint="known: api, web")
        self.calls.append((verb, name))

    def restart(self, service: str) -> None:
        self._lifecycle("restart", service)

    def stop(self, service: str) -> None:
        self._lifecycle("stop", service)

    def start(self, service: str) -> None:
        self._lifecycle("start", service)


def _entry(
    version: int,
    name: str,
    state: MigrationState,
    minutes: int | None,
    source: MigrationSource = MigrationSource.MAIN,
) -> MigrationEntry:
    """One row; version 1 is the platform's own style: archived, self-managed, adopted."""
    applied = NOW - timedelta(days=2, minutes=minutes) if minutes is not None else None
    legacy = version == 1
    folder = "archived/" if legacy else ""
    return MigrationEntry(
        version=version,
        name=name,
        state=state,
        filename=f"{folder}{version:04d}_{name}.sql",
        applied_at=applied,
        duration_ms=12 if applied and not legacy else None,
        applied_by="root@host" if applied and not legacy else None,
        checksum="a" * 64 if applied else None,
        file_checksum="b" * 64 if state is MigrationState.DRIFTED else "a" * 64,
        source=MigrationSource.ARCHIVED if legacy else source,
        self_managed=legacy,
        adopted=legacy and applied is not None,
    )


@dataclass
class FakeMigrations:
    applied: list[tuple[int, str]] = field(
        default_factory=lambda: [(1, "schemas"), (2, "auth_users"), (3, "platform_config")]
    )
    pending: list[tuple[int, str]] = field(
        default_factory=lambda: [(4, "ai_extraction_config"), (5, "embedding_profile")]
    )
    warm: list[tuple[int, str]] = field(default_factory=list)
    fail_version: int | None = None
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise DatabaseUnavailable(
                "Cannot reach Postgres at postgres:5432/knowledge_graph (connection refused)",
                hint="start it",
            )

    async def status(self) -> MigrationStatus:
        self._check()
        entries = [_entry(v, n, MigrationState.APPLIED, v) for v, n in self.applied]
        entries += [_entry(v, n, MigrationState.PENDING, None) for v, n in self.pending]
        entries += [
            _entry(v, n, MigrationState.PENDING, None, MigrationSource.WARM) for v, n in self.warm
        ]
        entries.sort(key=lambda e: e.version)
        return MigrationStatus(
            database="postgres:5432/knowledge_graph",
            migrations_dir="/srv/kg/sql/migrations",
            current_version=max((v for v, _ in self.applied), default=None),
            entries=entries,
        )

    async def plan(self, to: int | None = None, warm: bool = False) -> list[PlannedMigration]:
        self._check()
        chosen = self.warm if warm else self.pending
        return [
            PlannedMigration(
                version=v,
                name=n,
                filename=f"{v:04d}_{n}.sql",
                transactional=True,
                preview=f"CREATE TABLE kg_api.{n} (\n    id bigint PRIMARY KEY\n);",
            )
            for v, n in chosen
            if to is None or v <= to
        ]

    async def up(
        self,
        to: int | None = None,
        dry_run: bool = False,
        progress: Callable[[str, MigrationFile, int | None], None] | None = None,
        *,
        warm: bool = False,
    ) -> MigrationRun:
        self._check()
        steps: list[AppliedStep] = []
        chosen = self.warm if warm else self.pending
        for version, name in list(chosen):
            if to is not None and version > to:
                continue
            file = MigrationFile(
                version=version,
                name=name,
                filename=f"{version:04d}_{name}.sql",
                checksum="c" * 64,
                sql="SELECT 1;",
            )
            if progress:
                progress("start", file, None)
            if version == self.fail_version:
                failure = MigrationFailure(
                    version=version,
                    filename=file.filename,
                    line=3,
                    column=13,
                    message='relation "missing_table" does not exist',
                    sqlstate="42P01",
                    hint=None,
                )
                return MigrationRun(
                    dry_run=dry_run,
                    applied=steps,
                    failure=failure,
                    current_version=max(v for v, _ in self.applied),
                )
            if progress:
                progress("done", file, 5)
            steps.append(AppliedStep(version=version, name=name, duration_ms=5))
        if not dry_run:
            done = {s.version for s in steps}
            self.applied += [(s.version, s.name) for s in steps]
            self.pending = [p for p in self.pending if p[0] not in done]
            self.warm = [p for p in self.warm if p[0] not in done]
        current = max(v for v, _ in self.applied) if self.applied else None
        return MigrationRun(dry_run=dry_run, applied=steps, current_version=current)


def _profiles() -> list[EmbeddingProfile]:
    return [
        EmbeddingProfile(
            name="local-minilm",
            provider="local",
            model="all-MiniLM-L6-v2",
            dimensions=384,
            device=Device.CPU,
            active=True,
        ),
        EmbeddingProfile(
            name="openai-small",
            provider="openai",
            model="text-embedding-3-small",
            dimensions=1536,
            device=Device.CPU,
            active=False,
        ),
    ]


@dataclass
class FakeConfig:
    admins: dict[str, str] = field(default_factory=dict)
    ai: AiProviderSetting | None = None
    profiles: list[EmbeddingProfile] = field(default_factory=_profiles)
    keys: dict[Provider, StoredApiKey] = field(default_factory=dict)
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise DatabaseUnavailable(
                "Cannot reach Postgres at postgres:5432/knowledge_graph", hint="start it"
            )

    async def status(self) -> ConfigStatus:
        self._check()
        active = next((p for p in self.profiles if p.active), None)
        return ConfigStatus(
            admins=[AdminUser(username=u, disabled=False, updated_at=NOW) for u in self.admins],
            ai_provider=self.ai,
            embedding=active,
            api_keys=sorted(self.keys.values(), key=lambda k: k.provider.value),
            encryption=EncryptionStatus(
                env_fingerprint="3f9c2a7d1b0e4c55",
                database_fingerprint="3f9c2a7d1b0e4c55" if self.keys else None,
                match=True if self.keys else None,
            ),
        )

    async def set_admin(self, username: str, password: str) -> bool:
        from kgop_tui.services.config import check_password

        self._check()
        check_password(username, password)
        created = username not in self.admins
        self.admins[username] = password
        return created

    async def set_ai_provider(self, setting: AiProviderSetting) -> None:
        self._check()
        self.ai = setting

    async def embeddings(self) -> list[EmbeddingProfile]:
        self._check()
        return list(self.profiles)

    async def set_embedding(self, name: str, device: Device | None) -> EmbeddingProfile:
        self._check()
        if name not in {p.name for p in self.profiles}:
            raise UsageError(f"No embedding profile named {name!r}", hint="see the list")
        self.profiles = [
            p.model_copy(
                update={
                    "active": p.name == name,
                    **({"device": device} if device and p.name == name else {}),
                }
            )
            for p in self.profiles
        ]
        return next(p for p in self.profiles if p.active)

    async def add_api_key(
        self, provider: Provider, key: str, validate: bool = True
    ) -> StoredApiKey:
        self._check()
        key = check_format(provider, key)
        stored = StoredApiKey(
            provider=provider,
            key_hint=mask(key),
            validation_status=ValidationStatus.UNTESTED,
            validated_at=None,
            updated_at=NOW,
        )
        self.keys[provider] = stored
        return stored

    async def delete_api_key(self, provider: Provider) -> bool:
        self._check()
        return self.keys.pop(provider, None) is not None


class FakeUpgrades:
    """An upgrade that advances one step each time its status is read.

    ``fail_at`` makes that step fail; from the point of no return on, the run then rolls
    back, as the real runner does.
    """

    def __init__(
        self, installed: str | None = "0.5.0", newer: tuple[str, ...] = ("0.6.0",)
    ) -> None:
        self.current = installed
        self.newer = list(newer)
        self.fail_at: str | None = None
        self.run: UpgradeStatus | None = None
        self.log: list[str] = []
        self.abort_requested = False
        self.started: list[str] = []

    def installed(self) -> str | None:
        return self.current

    def releases(self) -> list[str]:
        return list(self.newer)

    def plan(self, to: str | None) -> UpgradePlan:
        if self.current is None:
            raise ConfigInvalid("KG_VERSION is not set in .env", hint="install.sh writes it")
        target = to or (self.newer[-1] if self.newer else self.current)
        if target != self.current and target not in self.newer:
            raise UsageError(f"Version {target} is not a release", hint="see `kgop releases`")
        images = [
            ImageChange(
                service=role,
                current=f"kg-{role}:{self.current}",
                target=f"kg-{role}:{target}",
                present=True,
            )
            for role in ("api", "web", "operator")
        ]
        pending = (
            []
            if target == self.current
            else [
                PlannedMigration(
                    version=9,
                    name="ingestion_jobs",
                    filename="0009_ingestion_jobs.sql",
                    transactional=True,
                    preview="CREATE TABLE kg_api.ingestion_jobs (...);",
                )
            ]
        )
        return UpgradePlan(
            from_version=self.current,
            to_version=target,
            images=images,
            pending_migrations=pending,
            schema_version=8,
            target_schema=9 if pending else 8,
            backup_estimate_bytes=8 << 20,
            free_bytes=40 << 30,
        )

    def start(self, to: str) -> UpgradeStatus:
        if self.run is not None and not self.run.state.final:
            raise RefusedForSafety("Another upgrade is running", hint="`kgop upgrade --status`")
        self.started.append(to)
        self.abort_requested = False
        self.log = [f"12:00:00 upgrade {self.current} → {to}"]
        self.run = UpgradeStatus(
            id=f"run-{len(self.started)}",
            from_version=self.current or "?",
            to_version=to,
            state=RunState.RUNNING,
            pid=4242,
            steps=[UpgradeStep(key=k, title=t) for k, t in UPGRADE_STEPS],
            point_of_no_return=POINT_OF_NO_RETURN,
            log_file="/srv/kg/upgrade/runs/run.log",
            started_at=NOW,
        )
        return self.run.model_copy(deep=True)

    def _advance(self, run: UpgradeStatus) -> None:
        running = run.current
        if running is not None:
            if running.key == self.fail_at:
                running.state, running.detail = StepState.FAILED, "api is not healthy after 180s"
                self.log.append(f"12:00:01    failed: {running.detail}")
                self._finish_failed(run, running.key)
                return
            running.state, running.detail = StepState.DONE, f"{running.key} ok"
            self.log.append(f"12:00:01    done: {running.key} ok")
        pending = [s for s in run.steps if s.state is StepState.PENDING]
        if not pending:
            run.state, run.finished_at = RunState.SUCCEEDED, NOW + timedelta(seconds=30)
            run.report = [f"Upgraded {run.from_version} → {run.to_version}."]
            self.current = run.to_version
            self.newer = [v for v in self.newer if v != run.to_version]
            return
        step = pending[0]
        if step.key == POINT_OF_NO_RETURN:
            if self.abort_requested:
                for s in pending:
                    s.state = StepState.SKIPPED
                run.state = RunState.ABORTED
                run.report = ["Aborted before anything changed; the platform runs as before."]
                return
            run.passed_point_of_no_return = True
            self.log.append("12:00:01 -- point of no return")
        step.state = StepState.RUNNING
        self.log.append(f"12:00:01 == {step.title}")

    def _finish_failed(self, run: UpgradeStatus, key: str) -> None:
        for s in run.steps:
            if s.state is StepState.PENDING:
                s.state = StepState.SKIPPED
        if not run.passed_point_of_no_return:
            run.state = RunState.FAILED
            run.report = ["The upgrade stopped before changing anything."]
            return
        for s in run.steps:
            if s.key in ("stop", "migrate", "start", "health", "verify") and s.state in (
                StepState.DONE,
                StepState.FAILED,
            ):
                s.state = StepState.ROLLED_BACK
        run.steps.append(
            UpgradeStep(key="rollback", title="Roll back", state=StepState.DONE, detail="ok")
        )
        run.state = RunState.ROLLED_BACK
        run.report = [
            f"The upgrade to {run.to_version} failed: {key}",
            "Database restored from /srv/kg/backups/20261126T120000Z-0.5.0.",
        ]

    def status(self) -> UpgradeStatus | None:
        if self.run is None:
            return None
        if not self.run.state.final:
            self._advance(self.run)
        return self.run.model_copy(deep=True)

    def read_log(self, status: UpgradeStatus, offset: int) -> tuple[list[str], int]:
        return self.log[offset:], len(self.log)

    def interrupt(self) -> None:
        """The runner dies past the point of no return (as read_status then reports it)."""
        assert self.run is not None
        self.run.passed_point_of_no_return = True
        self.run.state = RunState.INTERRUPTED
        self.run.hint = f"`kgop upgrade --recover` rolls back to {self.run.from_version}"

    def recover(self) -> UpgradeStatus:
        if self.run is None:
            raise OperationFailed("No upgrade has run here", hint="nothing to recover")
        if self.run.state is not RunState.INTERRUPTED:
            raise OperationFailed(
                f"The last upgrade is {self.run.state.value}, not interrupted",
                hint="nothing to recover; `kgop upgrade --status` shows it",
            )
        self._finish_failed(self.run, "the upgrade process stopped mid-way")
        self.log.append("12:00:05 == rolled back")
        return self.run.model_copy(deep=True)

    def abort(self) -> None:
        if self.run is None or self.run.state.final:
            raise OperationFailed(
                "No upgrade is running", hint="`kgop upgrade --status` shows the last one"
            )
        if self.run.passed_point_of_no_return:
            raise RefusedForSafety(
                "The upgrade has passed the point of no return",
                hint="follow it with `kgop upgrade --status`",
            )
        self.abort_requested = True


@dataclass
class Fakes:
    engine: FakeEngine = field(default_factory=FakeEngine)
    migrations: FakeMigrations = field(default_factory=FakeMigrations)
    config: FakeConfig = field(default_factory=FakeConfig)
    upgrades: FakeUpgrades = field(default_factory=FakeUpgrades)
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
        )


__all__ = ["NOW", "Fakes", "StreamEvent", "log_batch"]
