"""The migrations port: applied, pending and warm files; a failure on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from kgop_tui.errors import (
    DatabaseUnavailable,
)
from kgop_tui.models import (
    AppliedStep,
    MigrationEntry,
    MigrationFailure,
    MigrationFile,
    MigrationRun,
    MigrationSource,
    MigrationState,
    MigrationStatus,
    PlannedMigration,
)
from tests.tui.fakes.clock import NOW


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
