"""The fixed vocabularies of kgop (states, sources, providers) as plain enums.

Kept apart from the pydantic models so that plain verbs (``kgop status``, ``kgop logs``) can
name a state without importing pydantic: start-up time is most of what those verbs cost.
"""

from __future__ import annotations

from enum import StrEnum


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


class Provider(StrEnum):
    """AI providers the platform can use (its ``ai_extraction_config_provider_check``)."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    OLLAMA = "ollama"
    OPENROUTER = "openrouter"
    LLAMACPP = "llamacpp"


class Device(StrEnum):
    """Where embeddings are computed."""

    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"


class ValidationStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    UNTESTED = "untested"


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
