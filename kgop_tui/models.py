"""Pydantic models shared by services, the CLI and the TUI.

Services return these, never SDK objects. Their JSON form is the stable ``--json`` output
documented in the README: fields are only ever added, never renamed or removed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    """Base of kgop's models: each schema is built on first use, not at import (start-up)."""

    model_config = ConfigDict(defer_build=True)


class ContainerState(StrEnum):
    """Docker's container states."""

    CREATED = "created"
    RUNNING = "running"
    RESTARTING = "restarting"
    PAUSED = "paused"
    EXITED = "exited"
    REMOVING = "removing"
    DEAD = "dead"
    MISSING = "missing"


class Health(StrEnum):
    """Healthcheck status; ``none`` when the container has no healthcheck."""

    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    STARTING = "starting"
    NONE = "none"


class PortBinding(Model):
    """A published port: ``host_ip:host_port -> container_port/protocol``."""

    model_config = ConfigDict(frozen=True)

    container_port: int
    protocol: str = "tcp"
    host_ip: str
    host_port: int


class ServiceStatus(Model):
    """One container of the compose project, as the health screen and ``status`` show it."""

    model_config = ConfigDict(frozen=True)

    service: str = Field(description="Compose service name.")
    container_name: str
    container_id: str = Field(description="Short (12 characters) container id.")
    state: ContainerState
    health: Health = Health.NONE
    health_output: str | None = Field(default=None, description="Last healthcheck's output.")
    health_exit_code: int | None = Field(default=None, description="Exit code of that probe.")
    exit_code: int | None = Field(default=None, description="Exit code, when exited.")
    restart_count: int = 0
    image: str
    version: str | None = Field(default=None, description="The image's version label.")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    uptime_seconds: int | None = Field(default=None, description="Seconds running; None if not.")
    ports: list[PortBinding] = Field(default_factory=list)
    stats: dict[str, float] | None = Field(default=None, description="`status --stats` only")

    @property
    def ok(self) -> bool:
        """Running and not unhealthy: what a user would call fine."""
        return self.state is ContainerState.RUNNING and self.health in (Health.HEALTHY, Health.NONE)


class ProjectStatus(Model):
    """All services of a compose project at one moment."""

    model_config = ConfigDict(frozen=True)

    project: str
    services: list[ServiceStatus]


class StatusUpdate(Model):
    """The project's status after a change; ``changed`` is the service that changed."""

    model_config = ConfigDict(frozen=True)

    status: ProjectStatus
    changed: ServiceStatus | None
    reason: str


class MigrationState(StrEnum):
    """Where one migration stands."""

    APPLIED = "applied"
    PENDING = "pending"
    DRIFTED = "drifted"
    """Applied, but the file changed since (its checksum differs)."""
    MISSING = "missing"
    """Applied, but its file is no longer there."""
    BASELINE = "baseline"
    """Recorded by the initdb baseline, at or below the newest archived version; no file."""


class MigrationSource(StrEnum):
    """Which folder a migration file comes from."""

    ARCHIVED = "archived"
    """``archived/`` inside the migrations folder: history, scanned first."""
    MAIN = "main"
    WARM = "warm"
    """The warm folder: files that need the running application (``up --warm``)."""


class MigrationFile(Model):
    """A file ``NNN_name.sql`` of the migrations folder, its ``archived/`` or the warm folder."""

    model_config = ConfigDict(frozen=True)

    version: int
    name: str
    filename: str
    checksum: str = Field(description="SHA-256 of the file, line endings normalised.")
    transactional: bool = Field(
        default=True, description="False when the file opts out with `-- kgop:no-transaction`."
    )
    self_managed: bool = Field(
        default=False, description="Holds its own top-level BEGIN/COMMIT: run whole, as psql would."
    )
    source: MigrationSource = MigrationSource.MAIN
    path: str = Field(default="", description="Path relative to the migrations folder.")
    changes_session: bool = Field(default=True, exclude=True, repr=False)
    sql: str = Field(exclude=True, repr=False)


class MigrationEntry(Model):
    """One version as ``kgop migrate status`` lists it: the file and the tracking row."""

    model_config = ConfigDict(frozen=True)

    version: int
    name: str
    state: MigrationState
    filename: str | None = None
    applied_at: datetime | None = None
    duration_ms: int | None = None
    applied_by: str | None = None
    kgop_version: str | None = None
    checksum: str | None = Field(default=None, description="Checksum recorded when applied.")
    file_checksum: str | None = Field(default=None, description="Checksum of the file now.")
    transactional: bool = True
    self_managed: bool = False
    source: MigrationSource | None = Field(
        default=None, description="archived, main or warm; None when there is no file."
    )
    adopted: bool = Field(
        default=False,
        description="Applied by the platform's earlier runner (or its baseline) and taken over.",
    )

    @property
    def runs(self) -> str | None:
        """``own tx`` (its BEGIN/COMMIT), ``kgop tx``, ``no tx``; None without a file."""
        if self.source is None:
            return None
        if self.self_managed:
            return "own tx"
        return "kgop tx" if self.transactional else "no tx"

    @property
    def label(self) -> str:
        """The state as a person reads it (adopted: applied by another runner)."""
        if self.adopted and self.state is MigrationState.APPLIED:
            return "adopted"
        return self.state.value


class MigrationStatus(Model):
    """Every known migration, applied or not, in version order."""

    model_config = ConfigDict(frozen=True)

    database: str
    migrations_dir: str
    warm_migrations_dir: str | None = None
    current_version: int | None
    entries: list[MigrationEntry]

    def by_state(self, state: MigrationState) -> list[MigrationEntry]:
        return [e for e in self.entries if e.state is state]

    def summary(self) -> str:
        """``3 baseline, 2 adopted, 5 applied, 1 pending``: the counts that are not zero."""
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.label] = counts.get(entry.label, 0) + 1
        order = ["baseline", "adopted"] + [s.value for s in MigrationState if s != "baseline"]
        return ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k)) or "no migrations"


class PlannedMigration(Model):
    """A pending file with a preview of its SQL."""

    model_config = ConfigDict(frozen=True)

    version: int
    name: str
    filename: str
    transactional: bool
    preview: str
    self_managed: bool = False
    source: MigrationSource = MigrationSource.MAIN


class AppliedStep(Model):
    """One file applied (or, in a dry run, applied and rolled back)."""

    model_config = ConfigDict(frozen=True)

    version: int
    name: str
    duration_ms: int


class MigrationFailure(Model):
    """Why a file failed: where in the file, and Postgres's own explanation."""

    model_config = ConfigDict(frozen=True)

    version: int
    filename: str
    message: str
    sqlstate: str | None = None
    detail: str | None = None
    hint: str | None = None
    line: int | None = None
    column: int | None = None


class MigrationRun(Model):
    """The result of ``kgop migrate up`` (or its dry run)."""

    model_config = ConfigDict(frozen=True)

    dry_run: bool
    applied: list[AppliedStep] = Field(default_factory=list)
    skipped: list[str] = Field(
        default_factory=list, description="Files a dry run could not try (no-transaction)."
    )
    adopted: int = Field(default=0, description="Legacy rows given a checksum on this run.")
    failure: MigrationFailure | None = None
    current_version: int | None = None


class Provider(StrEnum):
    """AI providers the platform can use."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    OLLAMA = "ollama"
    OPENROUTER = "openrouter"


class Device(StrEnum):
    """Where embeddings are computed."""

    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class ValidationStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNTESTED = "untested"


class AdminUser(Model):
    model_config = ConfigDict(frozen=True)

    username: str
    disabled: bool
    updated_at: datetime


class AiProviderSetting(Model):
    """The active extraction provider: validated before anything is written."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    model: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")
    max_tokens: int = Field(default=4096, ge=1, le=1_000_000)


class EmbeddingProfile(Model):
    model_config = ConfigDict(frozen=True)

    name: str
    provider: str
    model: str
    dimensions: int
    device: Device
    active: bool


class StoredApiKey(Model):
    """A stored provider key as shown to people: masked, never the key itself."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    key_hint: str
    validation_status: ValidationStatus
    validated_at: datetime | None
    updated_at: datetime


class EncryptionStatus(Model):
    """Whether the key in .env is the one the stored secrets were encrypted with."""

    model_config = ConfigDict(frozen=True)

    env_fingerprint: str | None
    database_fingerprint: str | None
    match: bool | None = Field(description="None when the database has no canary yet.")
    rotation_in_progress: bool = False


class ConfigStatus(Model):
    model_config = ConfigDict(frozen=True)

    admins: list[AdminUser]
    ai_provider: AiProviderSetting | None
    embedding: EmbeddingProfile | None
    api_keys: list[StoredApiKey]
    encryption: EncryptionStatus


class BackupInfo(Model):
    """One backup under ``KG_HOME/backups``: its manifest (never a secret in plaintext)."""

    path: str = Field(description="the backup folder")
    created_at: datetime
    reason: str = Field(description="why it was taken: manual, upgrade to V, before restore")
    kg_version: str | None = Field(description="platform version when it was taken")
    kgop_version: str
    images: dict[str, str] = Field(default_factory=dict, description="KG_*_IMAGE pins then")
    database: str = Field(description="database name")
    schema_version: int | None = Field(description="highest applied migration")
    dump_bytes: int
    dump_sha256: str
    key_fingerprint: str | None = Field(description="fingerprint of ENCRYPTION_KEY (not the key)")
    secrets_sha256: str | None = Field(default=None, description="the sealed .env copy, if any")
    tables: dict[str, int] = Field(default_factory=dict, description="row count per table")
    seconds: float = Field(default=0.0, description="time the dump took")


class RestoreResult(Model):
    """What ``kgop restore`` did."""

    restored_from: str
    safety_backup: str | None = Field(description="the backup taken just before restoring")
    schema_version: int | None
    tables: dict[str, int]
    restarted: list[str] = Field(default_factory=list)
    seconds: float
    downtime_seconds: float = Field(default=0.0, description="api and web stopped for this long")


UPGRADE_STEPS: list[tuple[str, str]] = [
    ("preflight", "Preflight: engine, database, disk, images, upgrade path"),
    ("plan", "Plan: images and migrations"),
    ("backup", "Backup: database dump, image pins, key fingerprint"),
    ("pull", "Pull every image before anything stops"),
    ("stop", "Stop api and web"),
    ("migrate", "Apply the new migrations"),
    ("start", "Start api and web on the new version"),
    ("health", "Health gate"),
    ("verify", "Verify versions and schema"),
]
"""The steps of an upgrade, in order; nothing changes before ``POINT_OF_NO_RETURN``."""
POINT_OF_NO_RETURN = "stop"


class StepState(StrEnum):
    """A step of the upgrade walkthrough."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled back"


class RunState(StrEnum):
    """An upgrade run as a whole."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"

    @property
    def final(self) -> bool:
        return self is not RunState.RUNNING


class ImageChange(Model):
    """current → target image of one service."""

    service: str
    current: str
    target: str
    present: bool = Field(description="the target image is already on this engine")


class UpgradePlan(Model):
    """What an upgrade will do; printed before anything changes."""

    from_version: str
    to_version: str
    images: list[ImageChange]
    pending_migrations: list[PlannedMigration]
    schema_version: int | None = Field(description="database schema now")
    target_schema: int = Field(description="database schema after the upgrade")
    backup_estimate_bytes: int
    free_bytes: int
    notes: list[str] = Field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return self.from_version == self.to_version and not self.pending_migrations

    def lines(self) -> list[str]:
        """The plan as a user reads it (``kgop upgrade``, its log, the TUI)."""
        lines = [f"version {self.from_version} → {self.to_version}"]
        for change in self.images:
            where = "here" if change.present else "to pull"
            lines.append(f"{change.service:9} {change.current} → {change.target} ({where})")
        lines += [f"migration {m.filename}" for m in self.pending_migrations] or [
            "no pending migrations"
        ]
        lines.append(
            f"schema {self.schema_version or '-'} → {self.target_schema}; backup ~"
            f"{max(self.backup_estimate_bytes >> 20, 1)} MiB of {self.free_bytes >> 20} MiB free"
        )
        return lines + [f"note: {n}" for n in self.notes]


class UpgradeStep(Model):
    """One row of the walkthrough."""

    key: str
    title: str
    state: StepState = StepState.PENDING
    detail: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


class UpgradeStatus(Model):
    """The status file of an upgrade run (``KG_HOME/upgrade/status.json``)."""

    id: str
    from_version: str
    to_version: str
    state: RunState
    pid: int
    steps: list[UpgradeStep]
    point_of_no_return: str = Field(description="the first step that changes the platform")
    passed_point_of_no_return: bool = False
    backup: str | None = None
    log_file: str
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    hint: str | None = None
    report: list[str] = Field(default_factory=list, description="what happened, for the user")
    api_downtime_seconds: float | None = None

    def step(self, key: str) -> UpgradeStep:
        return next(s for s in self.steps if s.key == key)

    @property
    def current(self) -> UpgradeStep | None:
        running = [s for s in self.steps if s.state is StepState.RUNNING]
        return running[-1] if running else None
