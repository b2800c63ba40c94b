"""The database side of the migration runner: the tracking tables, the lock, the session.

- ``public.schema_migrations`` is the platform's own table (version, name, applied_at): its
  files record themselves there. kgop writes nothing into it but what the files write (and,
  for a folder without the platform's baseline, the same ``(version, name)`` row a file of
  the platform would insert).
- kgop's own bookkeeping lives in schema ``kgop`` (``KGOP_DDL``): ``kgop.migrations`` (checksum,
  duration, who applied it, kgop's version) and ``kgop.baseline`` (the baseline kgop applied).
  Installs made by earlier kgop releases kept those columns in ``public.schema_migrations``;
  :func:`move_legacy_bookkeeping` moves them over in one transaction.
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
from kgop_tui.services.database.connection import pg_error_info
from kgop_tui.services.database.migration_files import line_and_column

if TYPE_CHECKING:  # pydantic only when a file fails (``migrate status`` never imports it)
    from kgop_tui.models import MigrationFailure

LOCK_KEY = 0x6B676F706D696772  # "kgopmigr": one lock for every kgop migrating this database
KGOP_DDL = """
CREATE SCHEMA IF NOT EXISTS kgop;
CREATE TABLE IF NOT EXISTS kgop.migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text,
    duration_ms integer,
    applied_by text,
    kgop_version text,
    release text,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS kgop.baseline (
    id integer PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    filename text NOT NULL,
    checksum text NOT NULL,
    dropped_settings text[] NOT NULL DEFAULT '{}',
    duration_ms integer,
    applied_by text,
    kgop_version text,
    applied_at timestamptz NOT NULL DEFAULT now()
);
"""
PLATFORM_TRACKING_DDL = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT NOW()
);
"""
"""The platform's own tracking table, as its shell runner creates it when missing."""
LEGACY_COLUMNS = ("checksum", "duration_ms", "applied_by", "kgop_version")
"""Columns earlier kgop releases added to ``public.schema_migrations``."""
RECORD_SQL = (
    "INSERT INTO kgop.migrations "
    "(version, name, checksum, duration_ms, applied_by, kgop_version, release) "
    "VALUES ({}) ON CONFLICT (version) DO UPDATE SET name = EXCLUDED.name, "
    "checksum = EXCLUDED.checksum, duration_ms = EXCLUDED.duration_ms, "
    "applied_by = EXCLUDED.applied_by, kgop_version = EXCLUDED.kgop_version, "
    "release = EXCLUDED.release, applied_at = now()"
)
PLATFORM_ROW_SQL = (
    "INSERT INTO public.schema_migrations (version, name) VALUES ({}) "
    "ON CONFLICT (version) DO NOTHING"
)
"""The row a platform file inserts for itself; kgop adds it only for files of a folder
without the platform's baseline (kgop's packaged schema), whose files do not."""
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


async def _columns(conn: asyncpg.Connection, schema: str, table: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = $1 AND table_name = $2",
        schema,
        table,
    )
    return {r["column_name"] for r in rows}


async def applied_rows(conn: asyncpg.Connection) -> dict[int, dict[str, Any]]:
    """Every applied version: the platform's rows joined with kgop's bookkeeping.

    Each row has ``version, name, applied_at`` and kgop's ``checksum, duration_ms,
    applied_by, kgop_version`` (NULL where kgop has none), ``platform_name`` (the name in
    ``public.schema_migrations``, NULL when only kgop recorded it). Reads a database whose
    bookkeeping is still in ``public.schema_migrations`` (an earlier kgop) as well.
    """
    public = await _columns(conn, "public", "schema_migrations")
    own = bool(await _columns(conn, "kgop", "migrations"))
    if not public and not own:
        return {}
    if own and public:
        source = "public.schema_migrations p FULL JOIN kgop.migrations k USING (version)"
    elif own:
        source = "kgop.migrations k"
    else:
        source = "public.schema_migrations p"
    platform = bool(public)
    version = "coalesce(p.version, k.version)" if own and platform else ("k" if own else "p")
    if not (own and platform):
        version += ".version"
    name = "coalesce(p.name, k.name)" if own and platform else ("k.name" if own else "p.name")
    when = "p.applied_at::timestamptz" if platform else "NULL::timestamptz"
    when = f"coalesce(k.applied_at, {when})" if own else when
    # Before the move, an earlier kgop's columns in the platform's table are the bookkeeping.
    keep = "k" if own else "p"
    kept = {c for c in LEGACY_COLUMNS if own or c in public}
    extra = ", ".join(f"{keep}.{c}" if c in kept else f"NULL AS {c}" for c in LEGACY_COLUMNS)
    extra += ", k.release" if own else ", NULL::text AS release"
    rows = await conn.fetch(
        f"SELECT {version}::text AS version, {name} AS name, "
        f"{'p.name' if platform else 'NULL::text'} AS platform_name, {when} AS applied_at, "
        f"{extra} FROM {source}"
    )
    return {int(r["version"]): dict(r) for r in rows}


async def move_legacy_bookkeeping(conn: asyncpg.Connection) -> int:
    """Move what an earlier kgop kept in ``public.schema_migrations`` into ``kgop.migrations``
    and drop the columns it had added there, in one transaction; how many rows moved."""
    public = await _columns(conn, "public", "schema_migrations")
    legacy = [c for c in LEGACY_COLUMNS if c in public]
    if not legacy:
        return 0
    picked = ", ".join(c if c in legacy else "NULL" for c in LEGACY_COLUMNS)
    async with conn.transaction():
        await conn.execute(KGOP_DDL)
        status = await conn.execute(
            "INSERT INTO kgop.migrations (version, name, checksum, duration_ms, applied_by, "
            f"kgop_version, applied_at) SELECT version, name, {picked}, "
            "applied_at::timestamptz FROM public.schema_migrations "
            "WHERE checksum IS NOT NULL ON CONFLICT (version) DO NOTHING"
            if "checksum" in legacy
            else "SELECT 0"
        )
        await conn.execute(
            "ALTER TABLE public.schema_migrations " + ", ".join(f"DROP COLUMN {c}" for c in legacy)
        )
    return int(status.split()[-1]) if status.startswith("INSERT") else 0


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
    conn: asyncpg.Connection,
    files: list[MigrationFile],
    applied: dict[int, Any],
    release: str | None,
) -> int:
    """Record in kgop's bookkeeping the checksum of versions another runner (the platform's
    shell runner, its baseline) applied; how many. The platform's rows stay as they are."""
    adopt = [
        (f.version, f.name, f.checksum, release)
        for f in files
        if f.version in applied and not applied[f.version]["checksum"]
    ]
    if adopt:
        await conn.executemany(
            "INSERT INTO kgop.migrations (version, name, checksum, release) "
            "VALUES ($1::int, $2, $3, $4) ON CONFLICT (version) DO UPDATE SET "
            "checksum = EXCLUDED.checksum, release = EXCLUDED.release",
            adopt,
        )
    return len(adopt)


async def record_release_edits(
    conn: asyncpg.Connection, files: list[MigrationFile], release: str
) -> list[int]:
    """Stamp ``release`` on every applied version whose file it ships, and take the content
    it gave files applied under an earlier (or an unknown) release — the platform edits
    applied files between releases. Returns the versions whose checksum changed. From then
    on a change of those files under this release is drift again."""
    versions = [f.version for f in files]
    checksums = [f.checksum for f in files]
    rows = await conn.fetch(
        "UPDATE kgop.migrations k SET checksum = f.checksum, release = $3 "
        "FROM unnest($1::int[], $2::text[]) AS f(version, checksum) "
        "WHERE k.version = f.version AND k.checksum IS DISTINCT FROM f.checksum "
        "AND k.release IS DISTINCT FROM $3 RETURNING k.version",
        versions,
        checksums,
        release,
    )
    await conn.execute(
        "UPDATE kgop.migrations k SET release = $3 "
        "FROM unnest($1::int[], $2::text[]) AS f(version, checksum) "
        "WHERE k.version = f.version AND k.checksum = f.checksum "
        "AND k.release IS DISTINCT FROM $3",
        versions,
        checksums,
        release,
    )
    return sorted(r["version"] for r in rows)
