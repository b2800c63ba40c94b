"""The platform's baseline: ``00_baseline.sql`` beside its migrations folder.

The platform creates a fresh database from ``schema/00_baseline.sql`` (its postgres image
runs it from ``docker-entrypoint-initdb.d``: the AGE extension, the graph, every schema and
the ``public.schema_migrations`` rows of the versions it contains), then applies
``schema/migrations/`` on top. kgop does the same on a database that has none of the
platform's schemas yet: the baseline in one transaction, recorded in ``kgop.baseline``.

A baseline dumped by a newer server can name settings an older one lacks (the 0.17.1
checkpoint was dumped by PostgreSQL 18 and sets ``transaction_timeout``, a PostgreSQL 17
setting). Such top-level ``SET`` lines are left out — and said so — when the server does
not know the setting; nothing else in the file is changed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import asyncpg

from kgop_tui.kinds import MigrationSource
from kgop_tui.migration_types import MigrationFile
from kgop_tui.services.database.migration_db import (
    DURATION_SQL,
    KGOP_DDL,
    FileFailed,
    file_failure,
    literal,
)
from kgop_tui.services.database.migration_files import read_migration
from kgop_tui.services.database.sql_script import without_transaction_control

if TYPE_CHECKING:  # pydantic only when a baseline is applied
    from kgop_tui.models import AppliedBaseline

OPEN = "BEGIN;\n"

BASELINE_FILE = "00_baseline.sql"
_SET_LINE = re.compile(r"^SET\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:=|\bTO\b)[^\n]*;[ \t]*$", re.M)


class SchemaSource(NamedTuple):
    """Where an install's schema comes from: the one source its database is migrated from."""

    migrations: Path
    warm: Path | None
    baseline: Path | None
    """The platform's ``00_baseline.sql`` beside the migrations folder, when there is one."""
    release: str | None = None
    """The platform release these files are from, when known."""

    @classmethod
    def of(cls, migrations: Path, warm: Path | None, release: str | None = None) -> SchemaSource:
        """The source of a migrations folder; its release from the ``VERSION`` file of the
        release's tree (``schema/migrations`` -> ``VERSION``, as the platform's source and
        its api image at ``/app`` lay it out), else ``release`` (the install's KG_VERSION)."""
        candidate = migrations.parent / BASELINE_FILE
        if not candidate.is_file():
            return cls(migrations, warm, None, None)  # releases matter for the platform's only
        stamp = migrations.parent.parent / "VERSION"  # the files' own word wins
        if stamp.is_file():
            release = stamp.read_text().strip() or release
        return cls(migrations, warm, candidate, release)

    @property
    def platform(self) -> bool:
        """The platform's schema (a baseline and its migrations), not a folder of files only."""
        return self.baseline is not None

    @property
    def label(self) -> str:
        """How ``migrate status`` names it."""
        if self.baseline is not None:
            of = f" {self.release}" if self.release else ""
            return f"the platform's{of} schema: {self.baseline} + {self.migrations}"
        return f"migration files in {self.migrations} (no baseline)"


_RECORDS = re.compile(
    r"INSERT\s+INTO\s+public\.schema_migrations\s*\([^)]*\)\s*VALUES\s*([^;]*);", re.I
)
_VERSION = re.compile(r"\(\s*(\d+)\s*,")


def recorded_checkpoint(path: Path) -> int | None:
    """The newest version the baseline records in ``public.schema_migrations`` (the
    platform's baselines end with those rows), None when it records none. The checkpoint of a
    schema whose consolidated files are not shipped (kgop's packaged subset)."""
    versions = [
        int(v) for values in _RECORDS.findall(path.read_text()) for v in _VERSION.findall(values)
    ]
    return max(versions) if versions else None


def read_baseline(path: Path) -> MigrationFile:
    """The baseline as a file the runner can report failures in (version 0)."""
    return read_migration(path, MigrationSource.MAIN, path.name)


def leave_out_unknown_settings(sql: str, known: set[str]) -> tuple[str, list[str]]:
    """The script without top-level ``SET name = ...`` lines the server does not know.

    Each such line becomes a comment of the same length (``SET`` → ``-- ``), so lines and
    columns in errors still point into the file; returns the names left out, in order, once
    each.
    """
    dropped: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name in known:
            return match.group(0)
        if name not in dropped:
            dropped.append(name)
        return "-- " + match.group(0)[3:]

    return _SET_LINE.sub(replace, sql), dropped


async def server_settings(conn: asyncpg.Connection) -> set[str]:
    return {r["name"] for r in await conn.fetch("SELECT name FROM pg_settings")}


async def needs_baseline(conn: asyncpg.Connection) -> bool:
    """True on a database without the platform's schemas (no ``kg_api``, no tracking table)."""
    found = await conn.fetchval(
        "SELECT to_regnamespace('kg_api') IS NOT NULL "
        "OR to_regclass('public.schema_migrations') IS NOT NULL"
    )
    return not found


class Recorder(NamedTuple):
    """Who applies: written beside what kgop applied."""

    applied_by: str
    kgop_version: str


def baseline_record(file: MigrationFile, dropped: list[str], who: Recorder) -> str:
    """kgop's record of the baseline, sent with it; its duration is the server's."""
    names = ", ".join(literal(name) for name in dropped)
    return (
        "\n;" + KGOP_DDL + "INSERT INTO kgop.baseline (filename, checksum, dropped_settings, "
        f"duration_ms, applied_by, kgop_version) VALUES ({literal(file.path)}, "
        f"'{file.checksum}', ARRAY[{names}]::text[], {DURATION_SQL}, "
        f"{literal(who.applied_by)}, {literal(who.kgop_version)}) ON CONFLICT (id) DO "
        "UPDATE SET filename = EXCLUDED.filename, checksum = EXCLUDED.checksum, "
        "dropped_settings = EXCLUDED.dropped_settings, duration_ms = EXCLUDED.duration_ms, "
        "applied_by = EXCLUDED.applied_by, kgop_version = EXCLUDED.kgop_version, "
        "applied_at = now();\n"
    )


async def apply_baseline(
    conn: asyncpg.Connection,
    path: Path,
    who: Recorder,
    restore: str,
    progress: Callable[[str, MigrationFile, int | None], None] | None,
    in_transaction: bool,
) -> AppliedBaseline | None:
    """The baseline at ``path``, on a database without the platform's schemas: one
    transaction (a savepoint inside a dry run's), as the platform's initdb would run it;
    None when the database has them already. A failure raises :class:`FileFailed`."""
    if not await needs_baseline(conn):
        return None
    from kgop_tui.models import AppliedBaseline

    file = read_baseline(path)
    sql, dropped = leave_out_unknown_settings(file.sql, await server_settings(conn))
    if file.self_managed:  # kgop's one transaction (or savepoint) is the baseline's
        sql = without_transaction_control(sql)
    if progress:
        progress("start", file, None)
    started = time.perf_counter()
    try:
        if in_transaction:
            async with conn.transaction():
                await conn.execute(sql)
        else:
            await conn.execute(OPEN + sql + baseline_record(file, dropped, who) + "COMMIT;")
    except asyncpg.PostgresError as exc:
        if not in_transaction and conn.is_in_transaction():
            await conn.execute("ROLLBACK")
        offset = 0 if in_transaction else -len(OPEN)
        raise FileFailed(file_failure(file, exc, offset=offset)) from None
    await conn.execute(restore)
    ms = round((time.perf_counter() - started) * 1000)
    if progress:
        progress("done", file, ms)
    return AppliedBaseline(filename=file.path, duration_ms=ms, dropped_settings=dropped)
