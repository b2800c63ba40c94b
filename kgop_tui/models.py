"""Pydantic models shared by services, the CLI and the TUI (the enums are in
:mod:`kgop_tui.kinds`, the container status in :mod:`kgop_tui.project`, migration files and
their status in :mod:`kgop_tui.migration_types`: plain verbs use them without pydantic).

Services return these, never SDK objects. Their JSON form is the stable ``--json`` output
documented in the README: fields are only ever added, never renamed or removed.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from kgop_tui.kinds import ContainerState as ContainerState
from kgop_tui.kinds import Device as Device
from kgop_tui.kinds import Health as Health
from kgop_tui.kinds import MigrationSource as MigrationSource
from kgop_tui.kinds import MigrationState as MigrationState
from kgop_tui.kinds import Provider as Provider
from kgop_tui.kinds import RunState as RunState
from kgop_tui.kinds import StepState as StepState
from kgop_tui.kinds import ValidationStatus as ValidationStatus
from kgop_tui.migration_types import MigrationEntry as MigrationEntry
from kgop_tui.migration_types import MigrationFile as MigrationFile
from kgop_tui.migration_types import MigrationStatus as MigrationStatus
from kgop_tui.project import PortBinding as PortBinding
from kgop_tui.project import ProjectStatus as ProjectStatus
from kgop_tui.project import ServiceStatus as ServiceStatus
from kgop_tui.project import StatusUpdate as StatusUpdate


class Model(BaseModel):
    """Base of kgop's models: each schema is built on first use, not at import (start-up)."""

    model_config = ConfigDict(defer_build=True)


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


class AppliedBaseline(Model):
    """The platform's baseline, applied by ``migrate up`` to a database without its schemas."""

    model_config = ConfigDict(frozen=True)

    filename: str
    duration_ms: int
    dropped_settings: list[str] = Field(
        default_factory=list,
        description="SET lines left out: settings this server does not have (e.g. "
        "transaction_timeout below PostgreSQL 17).",
    )


class MigrationRun(Model):
    """The result of ``kgop migrate up`` (or its dry run)."""

    model_config = ConfigDict(frozen=True)

    dry_run: bool
    baseline: AppliedBaseline | None = None
    applied: list[AppliedStep] = Field(default_factory=list)
    skipped: list[str] = Field(
        default_factory=list, description="Files a dry run could not try (no-transaction)."
    )
    adopted: int = Field(default=0, description="Legacy rows given a checksum on this run.")
    edited_by_release: list[int] = Field(
        default_factory=list,
        description="Applied versions whose file this release changed: its content recorded.",
    )
    failure: MigrationFailure | None = None
    current_version: int | None = None


class AdminUser(Model):
    """A user with an admin role (``admin`` or ``platform_admin``) in ``kg_auth.users``."""

    model_config = ConfigDict(frozen=True)

    username: str
    role: str
    disabled: bool
    groups: list[str] = Field(default_factory=list)


class AiProviderSetting(Model):
    """The active extraction provider: validated before anything is written."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    model: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]*$")
    """The platform's ``model_name``."""
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    """None: keep the stored value (the platform's operator does the same)."""


class EmbeddingProfile(Model):
    """A row of the platform's ``kg_api.embedding_profile`` (its text model)."""

    model_config = ConfigDict(frozen=True)

    id: int
    name: str
    provider: str
    model: str
    dimensions: int
    device: str | None
    active: bool


class StoredApiKey(Model):
    """A stored key as shown to people: masked, never the key itself."""

    model_config = ConfigDict(frozen=True)

    provider: str
    masked_key: str
    validation_status: ValidationStatus
    last_validated_at: datetime | None
    validation_error: str | None = None
    updated_at: datetime | None


class OAuthClient(Model):
    """One of the platform's OAuth clients (``kg_auth.oauth_clients``)."""

    model_config = ConfigDict(frozen=True)

    client_id: str
    client_type: str
    redirect_uris: list[str]


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
    """Admins whose password was set (not the platform's factory password)."""
    factory_password: list[str] = Field(default_factory=list)
    """Admins still on the platform's seeded password: `kgop configure admin` sets one."""
    ai_provider: AiProviderSetting | None
    embedding: EmbeddingProfile | None
    api_keys: list[StoredApiKey]
    platform_config: dict[str, str] = Field(default_factory=dict)
    oauth_clients: list[OAuthClient] = Field(default_factory=list)
    encryption: EncryptionStatus


class GraphCounts(Model):
    """Vertices and edges per label of one Apache AGE graph, as cypher counts them."""

    vertices: dict[str, int] = Field(default_factory=dict)
    edges: dict[str, int] = Field(default_factory=dict)


class BackupMac(Model):
    """A backup's signature: what a restore checks before any of its SQL runs."""

    algorithm: str = Field(description="hmac-sha256")
    key_id: str = Field(description="identifies the KG_BACKUP_KEY that signed (not the key)")
    value: str = Field(description="the MAC, hex")


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
    graphs: dict[str, GraphCounts] | None = Field(
        default=None,
        description="each AGE graph's vertices and edges per label, counted through cypher in "
        "the dump's own snapshot (None: a backup of an earlier kgop, never counted)",
    )
    seconds: float = Field(default=0.0, description="time the dump took")
    mac: BackupMac | None = Field(
        default=None,
        description="HMAC-SHA256 under KG_BACKUP_KEY of the dump's SHA-256 and this manifest "
        "(None: a backup of an earlier kgop, unsigned)",
    )


class CheckedBackup(BackupInfo):
    """A backup as found, with whether its signature verifies under this install's key."""

    signature: str = Field(
        description="verified, unsigned (earlier kgop), other-key (another install's "
        "KG_BACKUP_KEY, or none here) or invalid (changed after it was written)"
    )


class RestoreResult(Model):
    """What ``kgop restore`` did."""

    restored_from: str
    safety_backup: str | None = Field(description="the backup taken just before restoring")
    schema_version: int | None
    tables: dict[str, int]
    graphs: dict[str, GraphCounts] = Field(
        default_factory=dict, description="the restored graphs, as cypher counts them"
    )
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


class StoredPlan(Model):
    """The last plan a preflight made (``KG_HOME/upgrade/plan.json``): what a read-only
    session shows instead of running a preflight of its own."""

    plan: UpgradePlan
    made_at: datetime


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
