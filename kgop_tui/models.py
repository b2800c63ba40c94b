"""Pydantic models shared by services, the CLI and the TUI.

Services return these, never SDK objects. Their JSON form is the stable ``--json`` output
documented in the README: fields are only ever added, never renamed or removed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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


class PortBinding(BaseModel):
    """A published port: ``host_ip:host_port -> container_port/protocol``."""

    model_config = ConfigDict(frozen=True)

    container_port: int
    protocol: str = "tcp"
    host_ip: str
    host_port: int


class ServiceStatus(BaseModel):
    """One container of the compose project, as the health screen and ``status`` show it."""

    model_config = ConfigDict(frozen=True)

    service: str = Field(description="Compose service name.")
    container_name: str
    container_id: str = Field(description="Short (12 characters) container id.")
    state: ContainerState
    health: Health = Health.NONE
    health_output: str | None = Field(
        default=None, description="Output of the last healthcheck probe (why it is unhealthy)."
    )
    health_exit_code: int | None = Field(default=None, description="Exit code of that probe.")
    exit_code: int | None = Field(default=None, description="Exit code, when exited.")
    restart_count: int = 0
    image: str
    version: str | None = Field(default=None, description="The image's version label.")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    uptime_seconds: int | None = Field(default=None, description="Seconds running; None if not.")
    ports: list[PortBinding] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Running and not unhealthy: what a user would call fine."""
        return self.state is ContainerState.RUNNING and self.health in (
            Health.HEALTHY,
            Health.NONE,
        )


class ProjectStatus(BaseModel):
    """All services of a compose project at one moment."""

    model_config = ConfigDict(frozen=True)

    project: str
    services: list[ServiceStatus]


class StatusUpdate(BaseModel):
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


class MigrationFile(BaseModel):
    """A file ``NNNN_name.sql`` of the migrations folder."""

    model_config = ConfigDict(frozen=True)

    version: int
    name: str
    filename: str
    checksum: str = Field(description="SHA-256 of the file, line endings normalised.")
    transactional: bool = Field(
        default=True, description="False when the file opts out with `-- kgop:no-transaction`."
    )
    sql: str = Field(exclude=True, repr=False)


class MigrationEntry(BaseModel):
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


class MigrationStatus(BaseModel):
    """Every known migration, applied or not, in version order."""

    model_config = ConfigDict(frozen=True)

    database: str
    migrations_dir: str
    current_version: int | None
    entries: list[MigrationEntry]

    def by_state(self, state: MigrationState) -> list[MigrationEntry]:
        return [e for e in self.entries if e.state is state]


class PlannedMigration(BaseModel):
    """A pending file with a preview of its SQL."""

    model_config = ConfigDict(frozen=True)

    version: int
    name: str
    filename: str
    transactional: bool
    preview: str


class AppliedStep(BaseModel):
    """One file applied (or, in a dry run, applied and rolled back)."""

    model_config = ConfigDict(frozen=True)

    version: int
    name: str
    duration_ms: int


class MigrationFailure(BaseModel):
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


class MigrationRun(BaseModel):
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


class AdminUser(BaseModel):
    model_config = ConfigDict(frozen=True)

    username: str
    disabled: bool
    updated_at: datetime


class AiProviderSetting(BaseModel):
    """The active extraction provider: validated before anything is written."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    model: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")
    max_tokens: int = Field(default=4096, ge=1, le=1_000_000)


class EmbeddingProfile(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    provider: str
    model: str
    dimensions: int
    device: Device
    active: bool


class StoredApiKey(BaseModel):
    """A stored provider key as shown to people: masked, never the key itself."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    key_hint: str
    validation_status: ValidationStatus
    validated_at: datetime | None
    updated_at: datetime


class EncryptionStatus(BaseModel):
    """Whether the key in .env is the one the stored secrets were encrypted with."""

    model_config = ConfigDict(frozen=True)

    env_fingerprint: str | None
    database_fingerprint: str | None
    match: bool | None = Field(description="None when the database has no canary yet.")
    rotation_in_progress: bool = False


class ConfigStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    admins: list[AdminUser]
    ai_provider: AiProviderSetting | None
    embedding: EmbeddingProfile | None
    api_keys: list[StoredApiKey]
    encryption: EncryptionStatus
