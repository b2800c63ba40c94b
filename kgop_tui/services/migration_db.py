"""The database side of the migration runner: the tracking table, the lock, the session.

- ``public.schema_migrations`` is the platform's own table (version, name, applied_at); kgop
  adds checksum, duration, who applied it and its version (``TRACKING_DDL``).
- One session advisory lock serialises every runner on the database; waiting is polling.
- Each file starts from kgop's own session settings (``session_settings`` returns the reset).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from kgop_tui.errors import LockHeld
from kgop_tui.migration_types import MigrationFile
from kgop_tui.services.database import pg_error_info
from kgop_tui.services.migration_files import line_and_column

if TYPE_CHECKING:  # pydantic only when a file fails (``migrate status`` never imports it)
    from kgop_tui.models import MigrationFailure

LOCK_KEY = 0x6B676F706D696772  # "kgopmigr": one lock for every kgop migrating this database
TRACKING_DDL = """
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
OPTIONAL_COLUMNS = ("checksum", "duration_ms", "applied_by", "kgop_version")
RECORD_SQL = (
    "INSERT INTO public.schema_migrations "
    "(version, name, checksum, duration_ms, applied_by, kgop_version) "
    "VALUES ({}) ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, "
    "checksum = EXCLUDED.checksum, duration_ms = EXCLUDED.duration_ms, "
    "applied_by = EXCLUDED.applied_by, kgop_version = EXCLUDED.kgop_version"
)
DURATION_SQL = "(extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::int"
"""Milliseconds since the server received the script this runs in: a file's own time."""


def literal(text: str) -> str:
    """An SQL string literal that reads the same whatever standard_conforming_strings is."""
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


class FileFailed(Exception):
    """A file failed; carries the failure already placed in the file's own lines."""

    def __init__(self, failure: MigrationFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def file_failure(
    file: MigrationFile,
    exc: BaseException,
    inserted_at: int | None = None,
    inserted: int = 0,
    offset: int = 0,
) -> MigrationFailure:
    """The failure in the file's own lines: ``inserted`` characters kgop added at
    ``inserted_at``, or the statement that failed sent alone from ``offset``."""
    from kgop_tui.models import MigrationFailure

    info = pg_error_info(exc)
    position = info.position + offset if info.position else None
    if position is not None and position < 1:  # in what kgop put before the file
        position = None
    if position and inserted_at is not None and position - 1 >= inserted_at + inserted:
        position -= inserted
    line, column = line_and_column(file.sql, position)
    return MigrationFailure(
        version=file.version,
        filename=file.path or file.filename,
        message=info.message,
        sqlstate=info.sqlstate,
        detail=info.detail,
        hint=info.hint,
        line=line,
        column=column,
    )


async def session_settings(conn: asyncpg.Connection) -> str:
    """Set kgop's session settings; returns the SQL that restores them after a file.

    ``client_connection_check_interval`` makes the server abort our statement if this
    process dies mid-file (Postgres 14+): otherwise a killed runner's backend would finish
    a long statement first, holding the transaction and the lock until then.
    """
    restore = "RESET ALL"
    if conn.get_server_version() >= (14, 0):
        restore += "; SET client_connection_check_interval = '1s'"
    await conn.execute(restore)
    return restore


async def applied_rows(conn: asyncpg.Connection) -> dict[int, dict[str, Any]]:
    """The tracking rows by version; the columns kgop adds are NULL when missing."""
    present = {
        r["column_name"]
        for r in await conn.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'schema_migrations'"
        )
    }
    if not present:
        return {}
    extra = ", ".join(c if c in present else f"NULL AS {c}" for c in OPTIONAL_COLUMNS)
    rows = await conn.fetch(
        f"SELECT version::text AS version, name, applied_at, {extra} FROM public.schema_migrations"
    )
    return {int(r["version"]): dict(r) for r in rows}


async def lock_holder(conn: asyncpg.Connection) -> str:
    """Who holds the migration lock, for a run that has to wait."""
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


async def take_lock(
    conn: asyncpg.Connection, wait_seconds: float, on_wait: Callable[[str], None] | None
) -> None:
    """Take the advisory lock, polling: a run blocked in pg_advisory_lock would hold a
    snapshot the whole time, and a holder building an index CONCURRENTLY waits for every
    such snapshot — a deadlock. Polling keeps each attempt a moment long."""
    if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
        return
    holder = await lock_holder(conn)
    if on_wait is not None:
        on_wait(holder)
    deadline = time.monotonic() + wait_seconds
    pause = 0.05
    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY):
        left = deadline - time.monotonic()
        if left <= 0:
            raise LockHeld(
                f"Another migration run holds the lock ({holder}) and did not finish "
                f"within {wait_seconds:g}s",
                hint="wait for it to finish and run again; a crashed run frees the lock "
                "when its connection closes",
            )
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)


async def adopt(
    conn: asyncpg.Connection, files: list[MigrationFile], applied: dict[int, Any]
) -> int:
    """Record the checksum of rows another runner wrote without one; how many."""
    adopt = [
        (f.version, f.checksum)
        for f in files
        if f.version in applied and not applied[f.version]["checksum"]
    ]
    if adopt:
        await conn.executemany(
            "UPDATE public.schema_migrations SET checksum = $2 WHERE version = $1::int", adopt
        )
    return len(adopt)
