"""Applying one migration file, as psql would run it, with kgop's tracking row beside it.

- A kgop-managed file runs in its own transaction together with its tracking row, in one
  script (one round trip); in a dry run, in a savepoint of the run's transaction.
- A self-managed file (its own top-level BEGIN/COMMIT) is sent whole in one simple-query
  call; its own transaction decides, and the tracking row joins it before its final COMMIT.
- A file marked ``-- kgop:no-transaction`` goes statement by statement, outside any
  transaction.
- Session settings a file changes are reset after it, as each file of the platform's
  psql-per-file runner started in a fresh session.

A failure is raised as :class:`~kgop_tui.services.database.migration_db.FileFailed` holding the
failure in words (file, line, Postgres's message); nothing of the file stays behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import asyncpg

from kgop_tui.migration_types import MigrationFile
from kgop_tui.services.database.migration_db import (
    DURATION_SQL,
    PLATFORM_ROW_SQL,
    RECORD_SQL,
    FileFailed,
    file_failure,
    literal,
)
from kgop_tui.services.database.sql_script import (
    insertion_point,
    statements,
    without_transaction_control,
)

if TYPE_CHECKING:
    from kgop_tui.services.database.baseline import SchemaSource

OPEN = "BEGIN;\n"
"""What opens a kgop-managed file's transaction, in front of the file in its script."""

Progress = Callable[[str, MigrationFile, int | None], None]
"""Called with ("start", file, None) and ("done", file, duration_ms) as files apply."""


def _since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


class FileApplier:
    """Applies files one at a time on a connection, writing who applied them and when."""

    def __init__(self, applied_by: str, kgop_version: str, source: SchemaSource) -> None:
        self.applied_by = applied_by
        self.kgop_version = kgop_version
        self.release = source.release
        # The platform's own files insert their tracking row themselves; kgop's do not.
        self.platform = source.platform

    def _values(self, file: MigrationFile, ms: int | None) -> tuple[Any, ...]:
        return (
            file.version,
            file.name,
            file.checksum,
            ms,
            self.applied_by,
            self.kgop_version,
            self.release,
        )

    async def record(self, conn: asyncpg.Connection, file: MigrationFile, ms: int) -> None:
        """The tracking row, as a statement of its own on the connection."""
        await conn.execute(
            RECORD_SQL.format("$1::int, $2, $3, $4, $5, $6, $7"), *self._values(file, ms)
        )
        if not self.platform:
            await conn.execute(PLATFORM_ROW_SQL.format("$1::int, $2"), file.version, file.name)

    def record_script(self, file: MigrationFile) -> str:
        """The tracking row as a statement of its own, to join the file's script (sent with
        it: no round trip of its own). Its duration is the server's: from the script's
        arrival (``statement_timestamp()``) to this row."""
        version, name, checksum, _, by, kgop, release = self._values(file, None)
        values = f"{int(version)}, {literal(name)}, '{checksum}', {DURATION_SQL}, {literal(by)}, "
        values += literal(kgop) + ", " + ("NULL" if release is None else literal(release))
        script = "\n" + RECORD_SQL.format(values) + ";\n"
        if not self.platform:
            script += PLATFORM_ROW_SQL.format(f"{int(version)}, {literal(name)}") + ";\n"
        return script

    async def apply(
        self,
        conn: asyncpg.Connection,
        file: MigrationFile,
        dry_run: bool,
        restore: str,
        progress: Progress | None,
    ) -> int:
        """Apply one file the way its kind asks for; its duration in milliseconds.

        ``restore`` is the SQL that puts kgop's own session settings back."""
        if progress:
            progress("start", file, None)
        try:
            if file.self_managed and not dry_run:
                ms = await self._self_managed(conn, file)
            elif file.transactional:
                ms = await self._in_transaction(conn, file)
            else:
                ms = await self._outside_transaction(conn, file)
        finally:
            # Each file starts with kgop's own session, as a psql-per-file run would.
            if file.changes_session:
                await conn.execute(restore)
        if progress:
            progress("done", file, ms)
        return ms

    async def _self_managed(self, conn: asyncpg.Connection, file: MigrationFile) -> int:
        """Send the file whole; its own transaction decides, the tracking row joins it."""
        record = self.record_script(file)
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
        return _since(started)

    async def _in_transaction(self, conn: asyncpg.Connection, file: MigrationFile) -> int:
        """A kgop-managed file (or, in a dry run, any file) in a transaction or savepoint.

        Outside a dry run the transaction, the file and its tracking row go in one script,
        one round trip, as psql would send a file: per file, kgop costs what the file's own
        SQL and its commit cost."""
        sql = without_transaction_control(file.sql) if file.self_managed else file.sql
        started = time.perf_counter()
        if not conn.is_in_transaction():
            script = OPEN + sql + "\n;" + self.record_script(file) + "COMMIT;\n"
            try:
                await conn.execute(script)
            except asyncpg.PostgresError as exc:
                if conn.is_in_transaction():
                    await conn.execute("ROLLBACK")
                raise FileFailed(file_failure(file, exc, offset=-len(OPEN))) from None
            return _since(started)
        try:
            async with conn.transaction():
                await conn.execute(sql)
                ms = _since(started)
                await self.record(conn, file, ms)
        except asyncpg.PostgresError as exc:
            raise FileFailed(file_failure(file, exc)) from None
        return ms

    async def _outside_transaction(self, conn: asyncpg.Connection, file: MigrationFile) -> int:
        """Statement by statement, as psql sends them: several in one query string would
        share an implicit transaction, which CREATE INDEX CONCURRENTLY refuses."""
        started = time.perf_counter()
        for statement in statements(file.sql):
            try:
                await conn.execute(file.sql[statement.start : statement.end])
            except asyncpg.PostgresError as exc:
                raise FileFailed(file_failure(file, exc, offset=statement.start)) from None
        ms = _since(started)
        await self.record(conn, file, ms)
        return ms
