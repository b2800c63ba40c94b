"""The migration runner: ordered, locked, checksummed; each file applied whole or not at all.

- Files come from the migrations folder, its ``archived/`` history and the warm folder, as
  one set in integer version order (see :mod:`kgop_tui.services.migration_files`).
- A session advisory lock serialises runners across hosts; a waiting run names the holder
  and gives up after a timeout (exit 4). A killed runner's lock dies with its connection.
- A kgop-managed file runs in its own transaction together with its tracking row. A
  self-managed file (its own top-level BEGIN/COMMIT) is sent whole in one simple-query
  call, as psql would run it, on the connection holding the lock: its own transaction
  decides, and kgop's tracking row joins that transaction (before its final COMMIT). A file
  marked ``-- kgop:no-transaction`` runs outside any transaction.
- Session settings a file changes (``SET search_path``) are reset after it, as the
  platform's psql-per-file runner started each file in a fresh session.
- An applied file whose checksum changed is drift: ``up`` refuses until the change is
  accepted explicitly (``kgop migrate accept VERSION``).
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
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import asyncpg

from kgop_tui.errors import ChecksumDrift, ConfigInvalid, RefusedForSafety
from kgop_tui.kinds import MigrationSource, MigrationState
from kgop_tui.migration_types import MigrationEntry, MigrationFile, MigrationStatus
from kgop_tui.services.baseline import (
    Recorder,
    SchemaSource,
    apply_baseline,
    needs_baseline,
    recorded_checkpoint,
)
from kgop_tui.services.database import DatabaseTarget, connect
from kgop_tui.services.migration_db import (
    DURATION_SQL,
    KGOP_DDL,
    LOCK_KEY,
    PLATFORM_ROW_SQL,
    PLATFORM_TRACKING_DDL,
    RECORD_SQL,
    FileFailed,
    adopt,
    applied_rows,
    file_failure,
    literal,
    move_legacy_bookkeeping,
    record_release_edits,
    session_settings,
    take_lock,
)
from kgop_tui.services.migration_files import (
    NO_TRANSACTION_MARKER,
    checkpoint,
    load_migrations,
    preview,
)
from kgop_tui.services.sql_script import (
    insertion_point,
    statements,
    without_transaction_control,
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

OPEN = "BEGIN;\n"
"""What opens a kgop-managed file's transaction, in front of the file in its script."""

__all__ = ["LOCK_KEY", "NO_TRANSACTION_MARKER", "MigrationService"]

Progress = Callable[[str, MigrationFile, int | None], None]
"""Called with ("start", file, None) and ("done", file, duration_ms) as files apply."""
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

    @staticmethod
    def _state(
        file: MigrationFile | None,
        row: dict[str, Any] | None,
        cut: int | None,
        release: str | None,
    ) -> MigrationState:
        if row is None:
            return MigrationState.PENDING
        if file is None:
            version = int(row["version"])
            baseline = cut is not None and version <= cut
            return MigrationState.BASELINE if baseline else MigrationState.MISSING
        # The platform edits applied files between releases: a file of another release than
        # the one it was last checked under (or of a release when none was known then) is
        # that release's, not a local change; `up` stamps the release on every row it checks.
        recorded = row.get("release")
        same_release = release is None or recorded == release
        if row["checksum"] and row["checksum"] != file.checksum and same_release:
            return MigrationState.DRIFTED
        return MigrationState.APPLIED

    def _entries(
        self, files: list[MigrationFile], applied: dict[int, dict[str, Any]]
    ) -> list[MigrationEntry]:
        by_version = {f.version: f for f in files}
        cut = checkpoint(files)
        if cut is None and self.source.baseline is not None:  # no archive: what it records
            cut = recorded_checkpoint(self.source.baseline)
        entries: list[MigrationEntry] = []
        for version in sorted(set(by_version) | set(applied)):
            file, row = by_version.get(version), applied.get(version)
            entries.append(
                MigrationEntry(
                    version=version,
                    name=file.name if file else str(row["name"] if row else ""),
                    state=self._state(file, row, cut, self.source.release),
                    filename=(file.path or file.filename) if file else None,
                    applied_at=row["applied_at"] if row else None,
                    duration_ms=row["duration_ms"] if row else None,
                    applied_by=row["applied_by"] if row else None,
                    kgop_version=row["kgop_version"] if row else None,
                    checksum=row["checksum"] if row else None,
                    file_checksum=file.checksum if file else None,
                    transactional=file.transactional if file else True,
                    self_managed=file.self_managed if file else False,
                    source=file.source if file else None,
                    adopted=row is not None and not row["applied_by"],
                )
            )
        return entries

    async def status(self) -> MigrationStatus:
        """Applied, adopted, baseline, pending, drifted and missing migrations (read-only)."""
        files = self.files()
        conn = await connect(self.target, "migrate status")
        try:
            applied = await applied_rows(conn)
            fresh = self.source.baseline is not None and await needs_baseline(conn)
        finally:
            await conn.close()
        self._refuse_foreign(files, applied)
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

    def _refuse_foreign(self, files: list[MigrationFile], applied: dict[int, Any]) -> None:
        """Refuse files of another schema: the database recorded their versions under other
        names (kgop's packaged files against the platform's database, or the reverse)."""
        clashes = [
            (f, applied[f.version]["platform_name"])
            for f in files
            if f.version in applied and applied[f.version]["platform_name"] not in (None, f.name)
        ]
        if clashes:
            file, recorded = clashes[0]
            more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
            raise RefusedForSafety(
                f"The database recorded version {file.version} as {recorded!r}, but "
                f"{self.directory} has {file.path or file.filename} under that number{more}: "
                "these files belong to another schema; nothing was read or applied",
                hint="point KGOP_MIGRATIONS_DIR at the schema of the platform release this "
                "database runs (its api image carries it at /app/schema/migrations)",
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

    def _record_values(self, file: MigrationFile, ms: int | None) -> tuple[Any, ...]:
        return (
            file.version,
            file.name,
            file.checksum,
            ms,
            self.applied_by,
            self.kgop_version,
            self.source.release,
        )

    async def _record(self, conn: asyncpg.Connection, file: MigrationFile, ms: int) -> None:
        # kgop's bookkeeping; the platform's files insert their own tracking row.
        await conn.execute(
            RECORD_SQL.format("$1::int, $2, $3, $4, $5, $6, $7"), *self._record_values(file, ms)
        )
        if not self.source.platform:
            await conn.execute(PLATFORM_ROW_SQL.format("$1::int, $2"), file.version, file.name)

    def _record_script(self, file: MigrationFile) -> str:
        """The tracking row as a statement of its own, to join the file's script (sent with
        it: no round trip of its own). Its duration is the server's: from the script's
        arrival (``statement_timestamp()``) to this row."""
        version, name, checksum, _, by, kgop, release = self._record_values(file, None)
        values = f"{int(version)}, {literal(name)}, '{checksum}', {DURATION_SQL}, {literal(by)}, "
        values += literal(kgop) + ", " + ("NULL" if release is None else literal(release))
        script = "\n" + RECORD_SQL.format(values) + ";\n"
        if not self.source.platform:
            script += PLATFORM_ROW_SQL.format(f"{int(version)}, {literal(name)}") + ";\n"
        return script

    @staticmethod
    def _refuse_drift(entries: Iterable[MigrationEntry]) -> None:
        drifted = [e for e in entries if e.state is MigrationState.DRIFTED]
        if drifted:
            names = ", ".join(e.filename or str(e.version) for e in drifted)
            versions = " ".join(str(e.version) for e in drifted)
            raise ChecksumDrift(
                f"Applied migration files changed since they were applied: {names}; "
                "nothing was applied",
                hint="restore the original files, or if the change is deliberate run "
                f"`kgop migrate accept {versions}`",
            )

    async def _run_self_managed(self, conn: asyncpg.Connection, file: MigrationFile) -> int:
        """Send the file whole; its own transaction decides, the tracking row joins it."""
        record = self._record_script(file)
        at = insertion_point(file.sql)
        script = file.sql + "\n;" + record if at is None else file.sql[:at] + record + file.sql[at:]
        started = time.perf_counter()
        try:
            await conn.execute(script)
        except asyncpg.PostgresError as exc:
            if conn.is_in_transaction():
                await conn.execute("ROLLBACK")
            raise FileFailed(file_failure(file, exc, at, len(record))) from None
        if conn.is_in_transaction():
            from kgop_tui.models import MigrationFailure

            await conn.execute("ROLLBACK")
            raise FileFailed(
                MigrationFailure(
                    version=file.version,
                    filename=file.path or file.filename,
                    message="the file opened a transaction it did not commit; it was rolled back",
                    hint="end the file with COMMIT;",
                )
            )
        return round((time.perf_counter() - started) * 1000)

    async def _run_in_transaction(self, conn: asyncpg.Connection, file: MigrationFile) -> int:
        """A kgop-managed file (or, in a dry run, any file) in a transaction or savepoint.

        Outside a dry run the transaction, the file and its tracking row go in one script,
        one round trip, as psql would send a file: per file, kgop costs what the file's own
        SQL and its commit cost."""
        sql = without_transaction_control(file.sql) if file.self_managed else file.sql
        started = time.perf_counter()
        if not conn.is_in_transaction():
            script = OPEN + sql + "\n;" + self._record_script(file) + "COMMIT;\n"
            try:
                await conn.execute(script)
            except asyncpg.PostgresError as exc:
                if conn.is_in_transaction():
                    await conn.execute("ROLLBACK")
                raise FileFailed(file_failure(file, exc, offset=-len(OPEN))) from None
            return round((time.perf_counter() - started) * 1000)
        try:
            async with conn.transaction():
                await conn.execute(sql)
                ms = round((time.perf_counter() - started) * 1000)
                await self._record(conn, file, ms)
        except asyncpg.PostgresError as exc:
            raise FileFailed(file_failure(file, exc)) from None
        return ms

    async def _run_outside_transaction(self, conn: asyncpg.Connection, file: MigrationFile) -> int:
        """Statement by statement, as psql sends them: several in one query string would
        share an implicit transaction, which CREATE INDEX CONCURRENTLY refuses."""
        started = time.perf_counter()
        for statement in statements(file.sql):
            try:
                await conn.execute(file.sql[statement.start : statement.end])
            except asyncpg.PostgresError as exc:
                raise FileFailed(file_failure(file, exc, offset=statement.start)) from None
        ms = round((time.perf_counter() - started) * 1000)
        await self._record(conn, file, ms)
        return ms

    async def _apply(
        self,
        conn: asyncpg.Connection,
        file: MigrationFile,
        dry_run: bool,
        restore: str,
        progress: Progress | None,
    ) -> int:
        if progress:
            progress("start", file, None)
        try:
            if file.self_managed and not dry_run:
                ms = await self._run_self_managed(conn, file)
            elif file.transactional:
                ms = await self._run_in_transaction(conn, file)
            else:
                ms = await self._run_outside_transaction(conn, file)
        finally:
            # Each file starts with kgop's own session, as a psql-per-file run would.
            if file.changes_session:
                await conn.execute(restore)
        if progress:
            progress("done", file, ms)
        return ms

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
                ms = await self._apply(conn, file, dry_run, restore, progress)
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
        self._refuse_foreign(files, applied)
        self._refuse_drift(self._entries(files, applied))
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
            self._refuse_foreign(files, applied)
            self._refuse_drift(self._entries(files, applied))
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
