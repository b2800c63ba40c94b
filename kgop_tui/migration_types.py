"""Migration files and their status as ``kgop migrate status`` reports them.

Named tuples, not pydantic models: ``migrate status`` is what monitoring polls, and
importing pydantic would cost more than reading the files and the tracking table. The JSON
form (:meth:`MigrationStatus.to_json`) is the documented ``migrate status --json`` document:
fields in the order below, enums as values, times ISO 8601 with ``Z`` for UTC. Fields are
only ever added. Build them with keywords.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from kgop_tui.kinds import MigrationSource, MigrationState
from kgop_tui.project import iso_time


class MigrationFile(NamedTuple):
    """A file ``NNN_name.sql`` of the migrations folder, its ``archived/`` or the warm folder."""

    version: int
    name: str
    filename: str
    checksum: str
    """SHA-256 of the file, line endings normalised."""
    sql: str
    transactional: bool = True
    """False when the file opts out with ``-- kgop:no-transaction``."""
    self_managed: bool = False
    """Holds its own top-level BEGIN/COMMIT: run whole, as psql would."""
    source: MigrationSource = MigrationSource.MAIN
    path: str = ""
    """Path relative to the migrations folder."""
    changes_session: bool = True
    """May change session settings: the session is reset after it."""


class MigrationEntry(NamedTuple):
    """One version as ``kgop migrate status`` lists it: the file and the tracking row."""

    version: int
    name: str
    state: MigrationState
    filename: str | None = None
    applied_at: datetime | None = None
    duration_ms: int | None = None
    applied_by: str | None = None
    kgop_version: str | None = None
    checksum: str | None = None
    """Checksum recorded when applied."""
    file_checksum: str | None = None
    """Checksum of the file now."""
    transactional: bool = True
    self_managed: bool = False
    source: MigrationSource | None = None
    """archived, main or warm; None when there is no file."""
    adopted: bool = False
    """Applied by the platform's earlier runner (or its baseline) and taken over."""

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

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "name": self.name,
            "state": self.state.value,
            "filename": self.filename,
            "applied_at": iso_time(self.applied_at),
            "duration_ms": self.duration_ms,
            "applied_by": self.applied_by,
            "kgop_version": self.kgop_version,
            "checksum": self.checksum,
            "file_checksum": self.file_checksum,
            "transactional": self.transactional,
            "self_managed": self.self_managed,
            "source": None if self.source is None else self.source.value,
            "adopted": self.adopted,
        }


class MigrationStatus(NamedTuple):
    """Every known migration, applied or not, in version order."""

    database: str
    migrations_dir: str
    current_version: int | None
    entries: list[MigrationEntry]
    warm_migrations_dir: str | None = None
    schema_source: str | None = None
    """The one source this database is migrated from, as a person reads it."""
    baseline: str | None = None
    """The platform's ``00_baseline.sql`` of that source, when it has one."""
    baseline_pending: bool = False
    """The database has none of the platform's schemas yet: ``up`` applies the baseline."""

    def by_state(self, state: MigrationState) -> list[MigrationEntry]:
        return [e for e in self.entries if e.state is state]

    def summary(self) -> str:
        """``3 baseline, 2 adopted, 5 applied, 1 pending``: the counts that are not zero."""
        counts: dict[str, int] = {}
        for entry in self.entries:
            counts[entry.label] = counts.get(entry.label, 0) + 1
        order = ["baseline", "adopted"] + [s.value for s in MigrationState if s != "baseline"]
        found = ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))
        if self.baseline_pending:
            return f"baseline pending{', ' + found if found else ''}"
        return found or "no migrations"

    def to_json(self) -> dict[str, Any]:
        """The documented ``kgop migrate status --json`` document."""
        return {
            "database": self.database,
            "migrations_dir": self.migrations_dir,
            "warm_migrations_dir": self.warm_migrations_dir,
            "current_version": self.current_version,
            "schema_source": self.schema_source,
            "baseline": self.baseline,
            "baseline_pending": self.baseline_pending,
            "entries": [entry.to_json() for entry in self.entries],
        }
