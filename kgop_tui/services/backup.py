"""Database backups and restores: ``pg_dump`` (custom format) + a copy of ``.env``.

A backup is a folder ``KG_HOME/backups/<UTC time>-<version>/`` (mode 0700) holding
``database.dump``, ``env`` (the .env of that moment, 0600) and ``backup.json`` (a
:class:`~kgop_tui.models.BackupInfo`: sizes, checksum, row counts, key fingerprint — never
a key). It is written under a hidden name and renamed when complete, so a folder that
exists is a whole backup.

A restore never touches the live database until the dump has been restored completely into
a new database; then the two are swapped by renaming, and the replaced one is dropped. A
failing restore leaves the live database as it was.

Connection details reach pg_dump and pg_restore through libpq's environment variables: the
password is never in argv.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import asyncpg

from kgop_tui import __version__
from kgop_tui.errors import (
    ConfigInvalid,
    DependencyUnavailable,
    OperationFailed,
    RefusedForSafety,
    UsageError,
)
from kgop_tui.models import BackupInfo
from kgop_tui.services.database import DatabaseTarget, connect, pg_error_info
from kgop_tui.services.files import write_secret_file
from kgop_tui.services.secrets import fingerprint
from kgop_tui.settings import Settings

DUMP = "database.dump"
ENV_COPY = "env"
RECORD = "backup.json"
# Room to spare beyond the estimate: the dump's own overhead, logs written meanwhile.
DISK_MARGIN = 64 * 1024 * 1024


def libpq_environment(url: str) -> dict[str, str]:
    """PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (+ PGSSLMODE) from a postgresql:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigInvalid(
            "The database URL is not a postgresql:// URL",
            hint="check KGOP_DATABASE_URL or the POSTGRES_* values",
        )
    env = {
        "PGHOST": parts.hostname or "localhost",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": unquote(parts.username or ""),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": unquote(parts.path.lstrip("/")) or unquote(parts.username or ""),
        "PGCONNECT_TIMEOUT": "10",
    }
    sslmode = parse_qs(parts.query).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = sslmode[0]
    return env


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path="/" + name).geturl()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tool_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return (lines or ["no output"])[-1][:300]


def find_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise DependencyUnavailable(
        f"{name} is not installed here",
        hint="install the Postgres client tools (postgresql-client)",
    )


async def database_facts(conn: asyncpg.Connection) -> tuple[str, int, int | None, dict[str, int]]:
    """Name, size in bytes, schema version and exact row count of every user table."""
    name = await conn.fetchval("SELECT current_database()")
    size = await conn.fetchval("SELECT pg_database_size(current_database())")
    has_tracking = await conn.fetchval("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
    schema = (
        await conn.fetchval("SELECT max(version::int) FROM public.schema_migrations")
        if has_tracking
        else None
    )
    tables = await conn.fetch(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(relname) AS name "
        "FROM pg_stat_user_tables ORDER BY 1"
    )
    counts: dict[str, int] = {}
    for row in tables:
        counts[row["name"]] = int(await conn.fetchval(f"SELECT count(*) FROM {row['name']}"))
    return str(name), int(size), schema, counts


class BackupService:
    """Create, list, check and restore backups of the platform database."""

    def __init__(
        self, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.target = DatabaseTarget.from_settings(settings)

    @property
    def folder(self) -> Path:
        return self.settings.kg_home / "backups"

    def _key_fingerprint(self) -> str | None:
        key = self.settings.encryption_key
        return fingerprint(key.get_secret_value()) if key is not None else None

    def _environment(self, database: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(libpq_environment(self.target.url))
        if database is not None:
            env["PGDATABASE"] = database
        return env

    async def estimate(self) -> tuple[int, int]:
        """(database size, free bytes where backups go): a dump is never larger than the data."""
        conn = await connect(self.target, "backup")
        try:
            size = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return size, shutil.disk_usage(self.folder).free

    async def create(self, reason: str = "manual") -> BackupInfo:
        """Take a backup; return its record. Refuses when the disk cannot hold it."""
        started = time.monotonic()
        conn = await connect(self.target, "backup")
        try:
            database, size, schema, tables = await database_facts(conn)
        finally:
            await conn.close()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        free = shutil.disk_usage(self.folder).free
        if free < size + DISK_MARGIN:
            raise RefusedForSafety(
                f"Not enough free disk for a backup in {self.folder}: {free >> 20} MiB free, "
                f"the database is {size >> 20} MiB",
                hint="free some space (old backups in KG_HOME/backups), then try again",
            )
        now = self.clock()
        version = self.settings.kg_version or "unknown"
        name = f"{now:%Y%m%dT%H%M%SZ}-{version}"
        final = self.folder / name
        suffix = 1
        while final.exists():
            suffix += 1
            final = self.folder / f"{name}.{suffix}"
        partial = self.folder / f".{final.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(mode=0o700)
        try:
            dump = partial / DUMP
            done = await _run_tool(
                [find_tool("pg_dump"), "--format=custom", "--no-password", f"--file={dump}"],
                self._environment(),
            )
            if done.returncode != 0:
                raise OperationFailed(
                    f"pg_dump failed: {_tool_error(done.stderr)}",
                    hint="check that the database is reachable and the disk has room",
                )
            dump.chmod(0o600)
            env_file = self.settings.kg_home / ".env"
            if env_file.exists():
                write_secret_file(partial / ENV_COPY, env_file.read_bytes())
            info = BackupInfo(
                path=str(final),
                created_at=now,
                reason=reason,
                kg_version=self.settings.kg_version,
                kgop_version=__version__,
                database=database,
                schema_version=schema,
                dump_bytes=dump.stat().st_size,
                dump_sha256=_sha256(dump),
                key_fingerprint=self._key_fingerprint(),
                tables=tables,
                seconds=round(time.monotonic() - started, 3),
            )
            write_secret_file(partial / RECORD, info.model_dump_json(indent=2).encode())
            os.rename(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return info

    def backups(self) -> list[BackupInfo]:
        """Every complete backup, oldest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for record in sorted(self.folder.glob(f"*/{RECORD}")):
            try:
                found.append(BackupInfo.model_validate_json(record.read_text()))
            except (OSError, ValueError):
                continue
        return sorted(found, key=lambda b: b.created_at)

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` backups (and any left half-written)."""
        if keep < 1:
            raise UsageError("Keep at least one backup", hint="--prune N with N >= 1")
        removed = []
        for partial in self.folder.glob(".*.partial") if self.folder.is_dir() else []:
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(str(partial))
        backups = self.backups()
        for info in backups[: max(len(backups) - keep, 0)]:
            shutil.rmtree(info.path, ignore_errors=True)
            removed.append(info.path)
        return removed

    def load(self, path: Path) -> BackupInfo:
        """The backup at ``path`` (its folder or its dump), checked against its checksum."""
        folder = path.parent if path.is_file() else path
        record = folder / RECORD
        if not record.is_file():
            raise UsageError(
                f"{path} is not a kgop backup (no {RECORD})",
                hint="pass a folder from KG_HOME/backups (`kgop backup --list`)",
            )
        try:
            info = BackupInfo.model_validate_json(record.read_text())
        except ValueError:
            raise UsageError(f"{record} is damaged", hint="pick another backup") from None
        dump = folder / DUMP
        if not dump.is_file() or _sha256(dump) != info.dump_sha256:
            raise RefusedForSafety(
                f"The dump in {folder} does not match its checksum: it is incomplete or damaged",
                hint="pick another backup (`kgop backup --list`)",
            )
        return info.model_copy(update={"path": str(folder)})

    def check_key(self, info: BackupInfo) -> None:
        """Refuse a backup whose secrets were encrypted with a key this install lacks."""
        if info.key_fingerprint is None:
            return
        previous = self.settings.encryption_keys_previous
        extra = [k for k in (previous.get_secret_value() if previous else "").split(",") if k]
        known = {self._key_fingerprint(), *(fingerprint(k.strip()) for k in extra)}
        if info.key_fingerprint not in known:
            raise RefusedForSafety(
                f"The backup's secrets were encrypted with another ENCRYPTION_KEY "
                f"(fingerprint {info.key_fingerprint})",
                hint=f"that key is in {Path(info.path) / ENV_COPY}; add it to "
                "ENCRYPTION_KEYS_PREVIOUS in .env, then restore",
            )

    async def restore_database(self, info: BackupInfo) -> None:
        """Replace the live database with the backup's dump (restore aside, then swap).

        Callers hold the upgrade lock (``kgop restore`` and the upgrade runner do), so
        databases left aside by an interrupted restore can be cleared here.
        """
        dump = Path(info.path) / DUMP
        maintenance = DatabaseTarget(
            url=_with_database(self.target.url, "postgres"), label=self.target.label
        )
        conn = await connect(maintenance, "restore")
        try:
            live = await self._live_name()
            stamp = self.clock().strftime("%Y%m%d%H%M%S")
            prefix = live[:40]
            aside, replaced = f"{prefix}_restore_{stamp}", f"{prefix}_replaced_{stamp}"
            leftovers = await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname ~ $1",
                f"^{re.escape(prefix)}_(restore|replaced)_[0-9]{{14}}$",
            )
            for row in leftovers:
                await conn.execute(f"DROP DATABASE IF EXISTS {await _ident(conn, row[0])}")
            await conn.execute(f"CREATE DATABASE {await _ident(conn, aside)}")
            done = await _run_tool(
                [
                    find_tool("pg_restore"),
                    "--exit-on-error",
                    "--single-transaction",
                    "--no-password",
                    f"--dbname={aside}",
                    str(dump),
                ],
                self._environment(aside),
            )
            if done.returncode != 0:
                await conn.execute(f"DROP DATABASE IF EXISTS {await _ident(conn, aside)}")
                raise OperationFailed(
                    f"pg_restore failed: {_tool_error(done.stderr)}; the live "
                    "database was not changed",
                    hint="check the backup with `kgop backup --list`",
                )
            await self._swap(conn, live, aside, replaced)
            await conn.execute(
                f"DROP DATABASE IF EXISTS {await _ident(conn, replaced)} WITH (FORCE)"
            )
        except asyncpg.PostgresError as exc:
            raise OperationFailed(
                f"Restore failed: {pg_error_info(exc).message}",
                hint="the database user needs CREATEDB (the platform's user has it)",
            ) from None
        finally:
            await conn.close()

    async def _live_name(self) -> str:
        conn = await connect(self.target, "restore")
        try:
            return str(await conn.fetchval("SELECT current_database()"))
        finally:
            await conn.close()

    @staticmethod
    async def _swap(conn: asyncpg.Connection, live: str, aside: str, replaced: str) -> None:
        """Both renames in one transaction: the live name always names a whole database."""
        renames = [
            f"ALTER DATABASE {await _ident(conn, live)} RENAME TO {await _ident(conn, replaced)}",
            f"ALTER DATABASE {await _ident(conn, aside)} RENAME TO {await _ident(conn, live)}",
        ]
        for attempt in range(10):
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                live,
            )
            try:
                async with conn.transaction():
                    for statement in renames:
                        await conn.execute(statement)
                return
            except asyncpg.ObjectInUseError:
                if attempt == 9:
                    raise
                await asyncio.sleep(0.2)


async def _ident(conn: asyncpg.Connection, name: str) -> str:
    return str(await conn.fetchval("SELECT quote_ident($1)", name))


async def _run_tool(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        cmd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=6 * 3600,
    )


def describe(info: BackupInfo) -> str:
    rows = sum(info.tables.values())
    return (
        f"{info.path}  {info.created_at:%Y-%m-%d %H:%M:%S}Z  {info.reason}  "
        f"v{info.kg_version or '?'} schema {info.schema_version or '-'}  "
        f"{info.dump_bytes / 1024:.0f} KiB  {len(info.tables)} tables, {rows} rows"
    )
