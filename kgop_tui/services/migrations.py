"""The migration runner: ordered, locked, one transaction per file, checksummed.

- Files are ``NNNN_name.sql``, applied in integer order; duplicate versions are refused.
- A session advisory lock serialises runners across hosts; a waiting run names the holder
  and gives up after a timeout (exit 4). A killed runner's lock dies with its connection.
- Each file runs in its own transaction together with its tracking row, so a file is
  either applied and recorded, or not at all. A file whose first lines hold the marker
  ``-- kgop:no-transaction`` runs outside one (for ``CREATE INDEX CONCURRENTLY``).
- An applied file whose checksum changed is drift: ``up`` refuses until the change is
  accepted explicitly (``kgop migrate accept VERSION``).
- ``dry_run`` runs the pending files inside one transaction and rolls it back.
- Databases tracked by the older shell runner (``version, name, applied_at`` only; files
  that inserted their own row) are adopted: columns added, checksums recorded once.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import re
import socket
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from kgop_tui.errors import ChecksumDrift, ConfigInvalid, LockHeld
from kgop_tui.models import (
    AppliedStep,
    MigrationEntry,
    MigrationFailure,
    MigrationFile,
    MigrationRun,
    MigrationState,
    MigrationStatus,
    PlannedMigration,
)
from kgop_tui.services.database import DatabaseTarget, connect, pg_error_info

NO_TRANSACTION_MARKER = "-- kgop:no-transaction"
LOCK_KEY = 0x6B676F706D696772  # "kgopmigr": one lock for every kgop migrating this database
_FILENAME = re.compile(r"(\d+)_([A-Za-z0-9][A-Za-z0-9_.-]*)\.sql")
_TX_CONTROL = re.compile(r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|ROLLBACK)\s*;", re.I)
_TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE public.schema_migrations
    ADD COLUMN IF NOT EXISTS checksum text,
    ADD COLUMN IF NOT EXISTS duration_ms integer,
    ADD COLUMN IF NOT EXISTS applied_by text,
    ADD COLUMN IF NOT EXISTS kgop_version text;
"""
_OPTIONAL_COLUMNS = ("checksum", "duration_ms", "applied_by", "kgop_version")

Progress = Callable[[str, MigrationFile, int | None], None]
"""Called with ("start", file, None) and ("done", file, duration_ms) as files apply."""
LockWait = Callable[[str], None]
"""Called once with a description of the lock holder when a run has to wait."""


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _transaction_control_line(sql: str) -> int | None:
    """Line of a top-level BEGIN/COMMIT/ROLLBACK (outside $$ bodies), if any."""
    inside_dollar = False
    for number, line in enumerate(sql.splitlines(), start=1):
        if not inside_dollar and _TX_CONTROL.match(line):
            return number
        if line.count("$$") % 2 == 1:
            inside_dollar = not inside_dollar
    return None


def read_migration(path: Path) -> MigrationFile:
    """Read one file; refuse names and contents kgop cannot run safely."""
    match = _FILENAME.fullmatch(path.name)
    if not match:
        raise ConfigInvalid(
            f"Migration file {path.name} is not named NNNN_name.sql",
            hint="rename it (e.g. 0007_add_index.sql); it would otherwise never be applied",
        )
    try:
        sql = path.read_bytes().decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        raise ConfigInvalid(f"Migration file {path.name} is not UTF-8", hint="re-save it") from None
    head = [line.strip().lower() for line in sql.splitlines()[:10]]
    transactional = NO_TRANSACTION_MARKER not in head
    control = _transaction_control_line(sql) if transactional else None
    if control is not None:
        raise ConfigInvalid(
            f"Migration file {path.name} controls its own transaction (line {control})",
            hint="remove BEGIN/COMMIT: kgop runs each file in a transaction; or mark the "
            f"file with '{NO_TRANSACTION_MARKER}'",
        )
    return MigrationFile(
        version=int(match.group(1)),
        name=match.group(2),
        filename=path.name,
        checksum=_checksum(sql),
        transactional=transactional,
        sql=sql,
    )


def load_migrations(directory: Path) -> list[MigrationFile]:
    """Every migration of a folder in version order; duplicate versions are refused."""
    if not directory.is_dir():
        raise ConfigInvalid(
            f"The migrations folder {directory} does not exist",
            hint="set KGOP_MIGRATIONS_DIR, or create KG_HOME/sql/migrations",
        )
    files = sorted((read_migration(p) for p in directory.glob("*.sql")), key=lambda f: f.version)
    for earlier, later in zip(files, files[1:], strict=False):
        if earlier.version == later.version:
            raise ConfigInvalid(
                f"Migrations {earlier.filename} and {later.filename} share version {later.version}",
                hint="give one of them the next free number",
            )
    return files


def line_and_column(sql: str, position: int | None) -> tuple[int | None, int | None]:
    """Turn Postgres's 1-based character position into (line, column)."""
    if not position or position > len(sql) + 1:
        return None, None
    before = sql[: position - 1]
    line = before.count("\n") + 1
    return line, position - (before.rfind("\n") + 1)


def preview(sql: str, lines: int = 12) -> str:
    """The first meaningful lines of a file, for plans."""
    body = [line.rstrip() for line in sql.splitlines() if line.strip()]
    shown = body[:lines]
    if len(body) > lines:
        shown.append(f"... ({len(body) - lines} more lines)")
    return "\n".join(shown)


async def _stop_when_client_dies(conn: asyncpg.Connection) -> None:
    """Make the server abort our statement if this process dies mid-file (Postgres 14+).

    Without it a killed runner's backend would finish a long statement first, holding
    the transaction and the lock until then.
    """
    if conn.get_server_version() >= (14, 0):
        await conn.execute("SET client_connection_check_interval = '1s'")


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
    ) -> None:
        self.target = target
        self.directory = directory
        self.kgop_version = kgop_version
        self.lock_timeout = lock_timeout
        self.applied_by = applied_by or default_applied_by()

    # ---- reading -----------------------------------------------------------------------

    def files(self) -> list[MigrationFile]:
        return load_migrations(self.directory)

    async def _applied(self, conn: asyncpg.Connection) -> dict[int, dict[str, Any]]:
        present = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = 'schema_migrations'"
            )
        }
        if not present:
            return {}
        extra = ", ".join(c if c in present else f"NULL AS {c}" for c in _OPTIONAL_COLUMNS)
        rows = await conn.fetch(
            f"SELECT version::text AS version, name, applied_at, {extra} "
            "FROM public.schema_migrations"
        )
        return {int(r["version"]): dict(r) for r in rows}

    @staticmethod
    def _entries(
        files: list[MigrationFile], applied: dict[int, dict[str, Any]]
    ) -> list[MigrationEntry]:
        by_version = {f.version: f for f in files}
        entries: list[MigrationEntry] = []
        for version in sorted(set(by_version) | set(applied)):
            file, row = by_version.get(version), applied.get(version)
            if row is None:
                assert file is not None
                state = MigrationState.PENDING
            elif file is None:
                state = MigrationState.MISSING
            elif row["checksum"] and row["checksum"] != file.checksum:
                state = MigrationState.DRIFTED
            else:
                state = MigrationState.APPLIED
            entries.append(
                MigrationEntry(
                    version=version,
                    name=file.name if file else str(row["name"] if row else ""),
                    state=state,
                    filename=file.filename if file else None,
                    applied_at=row["applied_at"] if row else None,
                    duration_ms=row["duration_ms"] if row else None,
                    applied_by=row["applied_by"] if row else None,
                    kgop_version=row["kgop_version"] if row else None,
                    checksum=row["checksum"] if row else None,
                    file_checksum=file.checksum if file else None,
                    transactional=file.transactional if file else True,
                )
            )
        return entries

    async def status(self) -> MigrationStatus:
        """Applied, pending, drifted and missing migrations (read-only)."""
        files = self.files()
        conn = await connect(self.target, "migrate status")
        try:
            applied = await self._applied(conn)
        finally:
            await conn.close()
        return MigrationStatus(
            database=self.target.label,
            migrations_dir=str(self.directory),
            current_version=max(applied) if applied else None,
            entries=self._entries(files, applied),
        )

    async def plan(self, to: int | None = None) -> list[PlannedMigration]:
        """The pending files ``up`` would apply, with an SQL preview."""
        status = await self.status()
        pending = {e.version for e in status.by_state(MigrationState.PENDING)}
        return [
            PlannedMigration(
                version=f.version,
                name=f.name,
                filename=f.filename,
                transactional=f.transactional,
                preview=preview(f.sql),
            )
            for f in self.files()
            if f.version in pending and (to is None or f.version <= to)
        ]

    # ---- the lock ----------------------------------------------------------------------

    async def _lock_holder(self, conn: asyncpg.Connection) -> str:
        row = await conn.fetchrow(
            "SELECT a.pid, a.application_name, a.client_addr::text AS addr, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = $1 AND l.objid::bigint = $2",
            LOCK_KEY >> 32,
            LOCK_KEY & 0xFFFFFFFF,
        )
        if row is None:
            return "a run that has just finished"
        since: datetime = row["backend_start"]
        who = row["application_name"] or "an unnamed client"
        addr = f" from {row['addr']}" if row["addr"] else ""
        return f"{who}{addr}, backend pid {row['pid']}, connected {since:%Y-%m-%d %H:%M:%S %Z}"

    async def _lock(self, conn: asyncpg.Connection, on_wait: LockWait | None) -> None:
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
            return
        holder = await self._lock_holder(conn)
        if on_wait is not None:
            on_wait(holder)
        await conn.execute(f"SET lock_timeout = '{int(self.lock_timeout * 1000)}ms'")
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        except asyncpg.LockNotAvailableError:
            raise LockHeld(
                f"Another migration run holds the lock ({holder}) and did not finish "
                f"within {self.lock_timeout:g}s",
                hint="wait for it to finish and run again; a crashed run frees the lock "
                "when its connection closes",
            ) from None
        finally:
            await conn.execute("RESET lock_timeout")

    # ---- writing -----------------------------------------------------------------------

    async def _record(self, conn: asyncpg.Connection, file: MigrationFile, ms: int) -> None:
        # Legacy files insert their own tracking row: complete it rather than duplicate it.
        values = (file.version, file.name, file.checksum, ms, self.applied_by, self.kgop_version)
        done = await conn.execute(
            "UPDATE public.schema_migrations SET name = $2, checksum = $3, duration_ms = $4, "
            "applied_by = $5, kgop_version = $6 WHERE version = $1::int",
            *values,
        )
        if done == "UPDATE 0":
            await conn.execute(
                "INSERT INTO public.schema_migrations "
                "(version, name, checksum, duration_ms, applied_by, kgop_version) "
                "VALUES ($1::int, $2, $3, $4, $5, $6)",
                *values,
            )

    async def _adopt(
        self, conn: asyncpg.Connection, files: list[MigrationFile], applied: dict[int, Any]
    ) -> int:
        adopted = 0
        for file in files:
            row = applied.get(file.version)
            if row is not None and not row["checksum"]:
                await conn.execute(
                    "UPDATE public.schema_migrations SET checksum = $2 WHERE version = $1::int",
                    file.version,
                    file.checksum,
                )
                adopted += 1
        return adopted

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

    async def _apply(
        self, conn: asyncpg.Connection, file: MigrationFile, progress: Progress | None
    ) -> int:
        if progress:
            progress("start", file, None)
        started = time.perf_counter()
        # Inside a dry run's transaction, this one is a savepoint.
        scope = conn.transaction() if file.transactional else contextlib.nullcontext()
        async with scope:
            await conn.execute(file.sql)
            ms = round((time.perf_counter() - started) * 1000)
            await self._record(conn, file, ms)
        if progress:
            progress("done", file, ms)
        return ms

    async def _apply_pending(
        self,
        conn: asyncpg.Connection,
        files: list[MigrationFile],
        applied: dict[int, Any],
        to: int | None,
        progress: Progress | None,
        dry_run: bool,
    ) -> tuple[list[AppliedStep], list[str], MigrationFailure | None]:
        """Apply pending files in order until one fails; a dry run skips no-transaction files."""
        steps: list[AppliedStep] = []
        skipped: list[str] = []
        for file in files:
            if file.version in applied or (to is not None and file.version > to):
                continue
            if dry_run and not file.transactional:
                skipped.append(file.filename)
                continue
            try:
                ms = await self._apply(conn, file, progress)
            except asyncpg.PostgresError as exc:
                return steps, skipped, self._failure(file, exc)
            steps.append(AppliedStep(version=file.version, name=file.name, duration_ms=ms))
        return steps, skipped, None

    @staticmethod
    def _failure(file: MigrationFile, exc: BaseException) -> MigrationFailure:
        info = pg_error_info(exc)
        line, column = line_and_column(file.sql, info.position)
        return MigrationFailure(
            version=file.version,
            filename=file.filename,
            message=info.message,
            sqlstate=info.sqlstate,
            detail=info.detail,
            hint=info.hint,
            line=line,
            column=column,
        )

    async def up(
        self,
        to: int | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        on_wait: LockWait | None = None,
    ) -> MigrationRun:
        """Apply pending files in order (or try them and roll back, with ``dry_run``).

        A failing file is rolled back whole and reported in ``MigrationRun.failure``;
        the files before it stay applied.
        """
        files = self.files()
        conn = await connect(self.target, "migrate")
        try:
            await _stop_when_client_dies(conn)
            await self._lock(conn, on_wait)
            try:
                if dry_run:
                    return await self._dry_run(conn, files, to, progress)
                return await self._up(conn, files, to, progress)
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        finally:
            await conn.close()

    async def _up(
        self,
        conn: asyncpg.Connection,
        files: list[MigrationFile],
        to: int | None,
        progress: Progress | None,
    ) -> MigrationRun:
        applied = await self._applied(conn)
        self._refuse_drift(self._entries(files, applied))
        await conn.execute(_TRACKING_DDL)
        applied = await self._applied(conn)
        adopted = await self._adopt(conn, files, applied)
        steps, _, failure = await self._apply_pending(conn, files, applied, to, progress, False)
        versions = set(applied) | {step.version for step in steps}
        return MigrationRun(
            dry_run=False,
            applied=steps,
            adopted=adopted,
            failure=failure,
            current_version=max(versions, default=None),
        )

    async def _dry_run(
        self,
        conn: asyncpg.Connection,
        files: list[MigrationFile],
        to: int | None,
        progress: Progress | None,
    ) -> MigrationRun:
        transaction = conn.transaction()
        await transaction.start()
        try:
            applied = await self._applied(conn)
            self._refuse_drift(self._entries(files, applied))
            await conn.execute(_TRACKING_DDL)
            steps, skipped, failure = await self._apply_pending(
                conn, files, applied, to, progress, True
            )
        finally:
            await transaction.rollback()
        return MigrationRun(
            dry_run=True,
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
            await self._lock(conn, None)
            try:
                entries = {
                    e.version: e
                    for e in self._entries(list(files.values()), await self._applied(conn))
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
                            "UPDATE public.schema_migrations SET checksum = $2 "
                            "WHERE version = $1::int",
                            version,
                            files[version].checksum,
                        )
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        finally:
            await conn.close()
        return versions
