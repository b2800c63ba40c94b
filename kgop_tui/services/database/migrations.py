"""The migration runner: ordered, locked, checksummed; each file applied whole or not at all.

- Files come from the migrations folder, its ``archived/`` history and the warm folder, as
  one set in integer version order (see :mod:`kgop_tui.services.database.migration_files`).
- A session advisory lock serialises runners across hosts; a waiting run names the holder
  and gives up after a timeout (exit 4). A killed runner's lock dies with its connection.
- Each file is applied as psql would run it, its tracking row beside it (kgop-managed,
  self-managed and no-transaction files: :mod:`kgop_tui.services.database.migration_apply`).
- An applied file whose checksum changed is drift: ``up`` refuses until the change is
  accepted explicitly (``kgop migrate accept VERSION``); what each version is in comes from
  :mod:`kgop_tui.services.database.migration_state`.
- ``dry_run`` runs the pending files inside one transaction and rolls it back; a
  self-managed file runs there without its own transaction control, in a savepoint.
- Databases tracked by the platform's shell runner (``version, name, applied_at`` only;
  files that insert their own row; a checkpoint baseline that recorded 1..N at initdb) are
  adopted: columns added, checksums recorded once; recorded versions with no file at or
  below the newest archived version are the baseline's, not missing.
- Warm files (they need the running application) are applied only by ``up(warm=True)``.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import asyncpg

from kgop_tui.errors import ConfigInvalid
from kgop_tui.kinds import MigrationSource, MigrationState
from kgop_tui.migration_types import MigrationEntry, MigrationFile, MigrationStatus
from kgop_tui.services.database.baseline import (
    Recorder,
    SchemaSource,
    apply_baseline,
    needs_baseline,
)
from kgop_tui.services.database.connection import DatabaseTarget, connect
from kgop_tui.services.database.migration_apply import FileApplier, Progress
from kgop_tui.services.database.migration_db import (
    KGOP_DDL,
    LOCK_KEY,
    PLATFORM_TRACKING_DDL,
    FileFailed,
    adopt,
    applied_rows,
    move_legacy_bookkeeping,
    record_release_edits,
    session_settings,
    take_lock,
)
from kgop_tui.services.database.migration_files import (
    NO_TRANSACTION_MARKER,
    load_migrations,
    preview,
)
from kgop_tui.services.database.migration_state import (
    migration_entries,
    refuse_drift,
    refuse_foreign,
)

if TYPE_CHECKING:  # the results of plan and up: pydantic is imported when they are made
    from kgop_tui.models import (
        AppliedBaseline,
        AppliedStep,
        MigrationFailure,
        MigrationRun,
        PlannedMigration,
    )
    from kgop_tui.settings import Settings

__all__ = ["LOCK_KEY", "NO_TRANSACTION_MARKER", "MigrationService"]

LockWait = Callable[[str], None]
"""Called once with a description of the lock holder when a run has to wait."""


class _RunOptions(NamedTuple):
    """What one ``up`` call asked for, and the session reset between files."""

    to: int | None
    warm: bool
    dry_run: bool
    restore: str
    progress: Progress | None


def default_applied_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class MigrationService:
    """Status, plan, apply and accept migrations on one database."""

    def __init__(
        self,
        target: DatabaseTarget,
        directory: Path,
        kgop_version: str,
        lock_timeout: float = 60.0,
        applied_by: str | None = None,
        warm_directory: Path | None = None,
        release: str | None = None,
    ) -> None:
        self.target = target
        self.directory = directory
        self.warm_directory = warm_directory
        self.kgop_version = kgop_version
        self.lock_timeout = lock_timeout
        self.applied_by = applied_by or default_applied_by()
        self.source = SchemaSource.of(directory, warm_directory, release)
        self.applier = FileApplier(self.applied_by, kgop_version, self.source)

    @classmethod
    def of_install(cls, settings: Settings, lock_timeout: float = 60.0) -> MigrationService:
        """The install's one schema source: its migrations folder, the warm files beside it,
        its release (KG_VERSION) — what the CLI, the TUI, doctor and the support bundle use."""
        from kgop_tui import __version__

        return cls(
            DatabaseTarget.from_settings(settings),
            settings.migrations_dir(),
            kgop_version=__version__,
            lock_timeout=lock_timeout,
            warm_directory=settings.warm_migrations_dir(),
            release=settings.kg_version,
        )

    # ---- reading -----------------------------------------------------------------------

    def files(self) -> list[MigrationFile]:
        return load_migrations(self.directory, self.warm_directory)

    def _entries(
        self, files: list[MigrationFile], applied: dict[int, dict[str, Any]]
    ) -> list[MigrationEntry]:
        return migration_entries(files, applied, self.source.baseline, self.source.release)

    async def status(self) -> MigrationStatus:
        """Applied, adopted, baseline, pending, drifted and missing migrations (read-only)."""
        files = self.files()
        conn = await connect(self.target, "migrate status")
        try:
            applied = await applied_rows(conn)
            fresh = self.source.baseline is not None and await needs_baseline(conn)
        finally:
            await conn.close()
        refuse_foreign(self.directory, files, applied)
        warm = self.warm_directory
        return MigrationStatus(
            database=self.target.label,
            migrations_dir=str(self.directory),
            warm_migrations_dir=str(warm) if warm is not None and warm.is_dir() else None,
            current_version=max(applied) if applied else None,
            entries=self._entries(files, applied),
            schema_source=self.source.label,
            baseline=str(self.source.baseline) if self.source.baseline else None,
            baseline_pending=fresh,
        )

    @staticmethod
    def _selected(file: MigrationFile, to: int | None, warm: bool) -> bool:
        """Files a run considers: the warm folder's with ``warm``, the others without."""
        in_scope = (file.source is MigrationSource.WARM) == warm
        return in_scope and (to is None or file.version <= to)

    async def plan(self, to: int | None = None, warm: bool = False) -> list[PlannedMigration]:
        """The pending files ``up`` would apply, with an SQL preview."""
        from kgop_tui.models import PlannedMigration

        status = await self.status()
        pending = {e.version for e in status.by_state(MigrationState.PENDING)}
        return [
            PlannedMigration(
                version=f.version,
                name=f.name,
                filename=f.path or f.filename,
                transactional=f.transactional,
                self_managed=f.self_managed,
                source=f.source,
                preview=preview(f.sql),
            )
            for f in self.files()
            if f.version in pending and self._selected(f, to, warm)
        ]

    # ---- writing -----------------------------------------------------------------------

    async def _apply_pending(
        self,
        conn: asyncpg.Connection,
        files: list[MigrationFile],
        applied: dict[int, Any],
        run: _RunOptions,
    ) -> tuple[list[AppliedStep], list[str], MigrationFailure | None]:
        """Apply pending files in order until one fails; a dry run skips no-transaction files."""
        from kgop_tui.models import AppliedStep

        to, warm, dry_run, restore, progress = run
        steps: list[AppliedStep] = []
        skipped: list[str] = []
        for file in files:
            if file.version in applied or not self._selected(file, to, warm):
                continue
            if dry_run and not file.transactional:
                skipped.append(file.path or file.filename)
                continue
            try:
                ms = await self.applier.apply(conn, file, dry_run, restore, progress)
            except FileFailed as failed:
                return steps, skipped, failed.failure
            steps.append(AppliedStep(version=file.version, name=file.name, duration_ms=ms))
        return steps, skipped, None

    async def up(
        self,
        to: int | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        on_wait: LockWait | None = None,
        warm: bool = False,
    ) -> MigrationRun:
        """Apply pending files in order (or try them and roll back, with ``dry_run``).

        A failing file leaves nothing behind and is reported in ``MigrationRun.failure``;
        the files before it stay applied. ``warm`` applies the warm folder's files instead.
        """
        files = self.files()
        conn = await connect(self.target, "migrate")
        try:
            restore = await session_settings(conn)
            run = _RunOptions(to, warm, dry_run, restore, progress)
            await take_lock(conn, self.lock_timeout, on_wait)
            try:
                if dry_run:
                    return await self._dry_run(conn, files, run)
                return await self._up(conn, files, run)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        finally:
            await conn.close()

    async def _baseline(
        self, conn: asyncpg.Connection, run: _RunOptions, in_transaction: bool
    ) -> AppliedBaseline | None:
        """The platform's baseline on a database without the platform's schemas."""
        if self.source.baseline is None:
            return None
        return await apply_baseline(
            conn,
            self.source.baseline,
            Recorder(self.applied_by, self.kgop_version),
            run.restore,
            run.progress,
            in_transaction,
        )

    async def _up(
        self,
        conn: asyncpg.Connection,
        files: list[MigrationFile],
        run: _RunOptions,
    ) -> MigrationRun:
        from kgop_tui.models import MigrationRun

        try:
            baseline = await self._baseline(conn, run, in_transaction=False)
        except FileFailed as failed:
            return MigrationRun(dry_run=False, failure=failed.failure)
        await move_legacy_bookkeeping(conn)
        applied = await applied_rows(conn)
        refuse_foreign(self.directory, files, applied)
        refuse_drift(self._entries(files, applied))
        await conn.execute(PLATFORM_TRACKING_DDL + KGOP_DDL)
        adopted = await adopt(conn, files, applied, self.source.release)
        edited = []
        if self.source.release is not None:
            edited = await record_release_edits(conn, files, self.source.release)
        steps, _, failure = await self._apply_pending(conn, files, applied, run)
        versions = set(applied) | {step.version for step in steps}
        return MigrationRun(
            dry_run=False,
            baseline=baseline,
            applied=steps,
            adopted=adopted,
            edited_by_release=edited,
            failure=failure,
            current_version=max(versions, default=None),
        )

    async def _dry_run(
        self,
        conn: asyncpg.Connection,
        files: list[MigrationFile],
        run: _RunOptions,
    ) -> MigrationRun:
        from kgop_tui.models import MigrationRun

        transaction = conn.transaction()
        await transaction.start()
        try:
            try:
                baseline = await self._baseline(conn, run, in_transaction=True)
            except FileFailed as failed:
                return MigrationRun(dry_run=True, failure=failed.failure)
            applied = await applied_rows(conn)
            refuse_foreign(self.directory, files, applied)
            refuse_drift(self._entries(files, applied))
            await conn.execute(PLATFORM_TRACKING_DDL + KGOP_DDL)
            steps, skipped, failure = await self._apply_pending(conn, files, applied, run)
        finally:
            await transaction.rollback()
        return MigrationRun(
            dry_run=True,
            baseline=baseline,
            applied=steps,
            skipped=skipped,
            failure=failure,
            current_version=max(applied, default=None),
        )

    async def accept(self, versions: list[int]) -> list[int]:
        """Record the current checksum of drifted files: a deliberate change, accepted."""
        files = {f.version: f for f in self.files()}
        conn = await connect(self.target, "migrate accept")
        try:
            await take_lock(conn, self.lock_timeout, None)
            try:
                await move_legacy_bookkeeping(conn)
                entries = {
                    e.version: e
                    for e in self._entries(list(files.values()), await applied_rows(conn))
                }
                for version in versions:
                    entry = entries.get(version)
                    if entry is None or entry.state is not MigrationState.DRIFTED:
                        state = entry.state.value if entry else "unknown"
                        raise ConfigInvalid(
                            f"Migration {version} is {state}, not drifted",
                            hint="`kgop migrate status` lists the drifted versions",
                        )
                async with conn.transaction():
                    for version in versions:
                        await conn.execute(
                            "UPDATE kgop.migrations SET checksum = $2 WHERE version = $1::int",
                            version,
                            files[version].checksum,
                        )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        finally:
            await conn.close()
        return versions
