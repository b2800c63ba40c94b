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
from pathlib import Path
from typing import NamedTuple

import asyncpg

from kgop_tui.kinds import MigrationSource
from kgop_tui.migration_types import MigrationFile
from kgop_tui.services.migration_files import read_migration

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
