"""Database backups and restores: ``pg_dump`` (custom format) and a manifest.

A backup is a folder ``KG_HOME/backups/<UTC time>-<version>/`` (mode 0700) holding
``database.dump`` and ``backup.json`` (a :class:`~kgop_tui.models.BackupInfo`: version,
image pins, schema, key fingerprint, row counts, checksums). No secret is in it in
plaintext: a copy of ``.env`` is only there on request (``secrets.sealed``, encrypted with
a key derived from a passphrase, see :mod:`kgop_tui.services.backups.sealed`). The keys that read
an older backup's stored secrets are the retired ones ``.env`` keeps in
``ENCRYPTION_KEYS_PREVIOUS``. A backup is written under a hidden name and renamed when
complete, so a folder that exists is a whole backup.

The manifest's row counts, and each Apache AGE graph's vertices and edges per label as
cypher counts them, are taken in the dump's own snapshot (``pg_dump --snapshot``): they
describe exactly what the dump holds.

A restore never touches the live database until the dump has been restored completely into
a side database and checked there, while the platform keeps running; then the two are
swapped by renaming (:mod:`kgop_tui.services.backups.restore`).

Connection details reach pg_dump and pg_restore through libpq's environment variables: the
password is never in argv.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from kgop_tui import __version__
from kgop_tui.errors import (
    OperationFailed,
    RefusedForSafety,
    UsageError,
)
from kgop_tui.models import BackupInfo, CheckedBackup, GraphCounts
from kgop_tui.services.backups.sealed import seal
from kgop_tui.services.database.age_graphs import graph_counts
from kgop_tui.services.database.connection import DatabaseTarget, connect, pg_error_info
from kgop_tui.services.database.pg_tools import find_tool, libpq_environment, run_tool, tool_error
from kgop_tui.services.files import write_secret_file
from kgop_tui.services.platform.secrets import fingerprint
from kgop_tui.settings import Settings, read_env_file

if TYPE_CHECKING:
    from kgop_tui.services.backups.restore import Aside

DUMP = "database.dump"
SEALED = "secrets.sealed"
RECORD = "backup.json"
# Plaintext copies of .env that earlier releases left under KG_HOME/backups.
LEGACY_COPIES = ("*/env", "env-before-rotate-*")
KEY_VARIABLES = ("ENCRYPTION_KEY", "ENCRYPTION_KEYS_PREVIOUS")
# Room to spare beyond the estimate: the dump's own overhead, logs written meanwhile.
DISK_MARGIN = 64 * 1024 * 1024


def pins_of(values: dict[str, str]) -> dict[str, str]:
    """The image pins among .env values: KG_VERSION and every KG_*_IMAGE that is set."""
    keys = [k for k in values if k == "KG_VERSION" or re.fullmatch(r"KG_[A-Z]+_IMAGE", k)]
    return {k: values[k] for k in sorted(keys) if values[k]}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    # Tables only: a materialized view is derived data, and the platform's are left
    # unpopulated until first refreshed (reading one then is an error).
    tables = await conn.fetch(
        "SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname) AS name "
        "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
        "WHERE c.relkind IN ('r', 'p') ORDER BY 1"
    )
    counts: dict[str, int] = {}
    if tables:  # one statement: one snapshot, one round trip
        query = " UNION ALL ".join(
            f"SELECT {i} AS i, count(*) AS n FROM {row['name']}" for i, row in enumerate(tables)
        )
        for row in await conn.fetch(query):
            counts[tables[row["i"]]["name"]] = int(row["n"])
    return str(name), int(size), schema, {k: counts[k] for k in sorted(counts)}


@dataclass(frozen=True)
class DumpFacts:
    """What a dump holds, counted in its snapshot."""

    database: str
    schema_version: int | None
    tables: dict[str, int]
    graphs: dict[str, GraphCounts]


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

    @property
    def env_path(self) -> Path:
        return self.settings.kg_home / ".env"

    def _key_fingerprint(self) -> str | None:
        key = self.settings.encryption_key
        return fingerprint(key.get_secret_value()) if key is not None else None

    def _known_keys(self) -> list[str]:
        key = self.settings.encryption_key
        previous = self.settings.encryption_keys_previous
        extra = [k.strip() for k in (previous.get_secret_value() if previous else "").split(",")]
        return [k for k in [key.get_secret_value() if key else "", *extra] if k]

    def environment(self, database: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(libpq_environment(self.target.url))
        if database is not None:
            env["PGDATABASE"] = database
        return env

    def _pins(self) -> dict[str, str]:
        """KG_VERSION and every KG_*_IMAGE as .env has them now."""
        values = {k: e.value for k, e in read_env_file(self.env_path).items()}
        return pins_of(values)

    async def estimate(self) -> tuple[int, int]:
        """(database size, free bytes where backups go): a dump is never larger than the data."""
        conn = await connect(self.target, "backup")
        try:
            size = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        finally:
            await conn.close()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return size, shutil.disk_usage(self.folder).free

    async def create(self, reason: str = "manual", passphrase: str | None = None) -> BackupInfo:
        """Take a backup; return its record. Refuses when the disk cannot hold it.

        With ``passphrase``, the backup also holds ``.env`` sealed with it.
        """
        from kgop_tui.services.backups.backup_mac import ensure_key, signed_manifest

        started = time.monotonic()
        self.scrub_plaintext()
        key = ensure_key(self.env_path)  # before the dump: a .env it cannot write stops here
        size, free = await self.estimate()
        if free < size + DISK_MARGIN:
            raise RefusedForSafety(
                f"Not enough free disk for a backup in {self.folder}: {free >> 20} MiB free, "
                f"the database is {size >> 20} MiB",
                hint="free some space (old backups in KG_HOME/backups), then try again",
            )
        now = self.clock()
        final, partial = self._new_folder(now)
        try:
            dump = partial / DUMP
            facts = await self._dump(dump)
            dump.chmod(0o600)
            dump_sha256 = _sha256(dump)
            sealed_sha256 = None
            if passphrase is not None:
                blob = await asyncio.to_thread(
                    seal, self.env_path.read_bytes(), passphrase, dump_sha256.encode()
                )
                write_secret_file(partial / SEALED, blob)
                sealed_sha256 = hashlib.sha256(blob).hexdigest()
            info = BackupInfo(
                path=str(final),
                created_at=now,
                reason=reason,
                kg_version=self.settings.kg_version,
                kgop_version=__version__,
                images=self._pins(),
                database=facts.database,
                schema_version=facts.schema_version,
                dump_bytes=dump.stat().st_size,
                dump_sha256=dump_sha256,
                key_fingerprint=self._key_fingerprint(),
                secrets_sha256=sealed_sha256,
                tables=facts.tables,
                graphs=facts.graphs,
                seconds=round(time.monotonic() - started, 3),
            )
            write_secret_file(partial / RECORD, signed_manifest(info, key))
            os.rename(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return info

    def _new_folder(self, now: datetime) -> tuple[Path, Path]:
        """The backup's folder-to-be and the hidden one it is written in first."""
        name = f"{now:%Y%m%dT%H%M%SZ}-{self.settings.kg_version or 'unknown'}"
        final = self.folder / name
        suffix = 1
        while final.exists():
            suffix += 1
            final = self.folder / f"{name}.{suffix}"
        partial = self.folder / f".{final.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(mode=0o700)
        return final, partial

    async def _dump(self, dump: Path) -> DumpFacts:
        """pg_dump, and the manifest's counts taken meanwhile in the dump's own snapshot.

        The counts describe exactly what the dump holds, even while the platform writes; a
        restore checks the graphs it brings back against them.
        """
        conn = await connect(self.target, "backup")
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
                command = [find_tool("pg_dump"), "--format=custom", "--no-password"]
                command += [f"--snapshot={snapshot}", f"--file={dump}"]
                dumping = asyncio.ensure_future(run_tool(command, self.environment()))
                try:
                    database, _, schema, tables = await database_facts(conn)
                    graphs = await graph_counts(conn)
                finally:
                    done = await dumping  # the snapshot lives as long as this transaction
        except asyncpg.PostgresError as exc:
            raise OperationFailed(
                f"Could not count the database's rows and graphs for the backup: "
                f"{pg_error_info(exc).message}",
                hint="a backup reads every table and loads Apache AGE (LOAD 'age'): connect "
                "as the platform's database user (POSTGRES_USER, a superuser)",
            ) from None
        finally:
            await conn.close()
        if done.returncode != 0:
            raise OperationFailed(
                f"pg_dump failed: {tool_error(done.stderr)}",
                hint="check that the database is reachable and the disk has room",
            )
        return DumpFacts(database, schema, tables, graphs)

    def _folders(self) -> list[tuple[Path, CheckedBackup]]:
        """Every complete backup folder found directly in KG_HOME/backups, oldest first; the
        path is the folder found, never one a manifest names. Each manifest's signature is
        checked against the dump checksum it records (a restore hashes the dump itself)."""
        from kgop_tui.services.backups.backup_mac import checked, listing_key, parse_manifest

        if not self.folder.is_dir():
            return []
        key = listing_key(self.env_path)
        found = []
        for record in self.folder.glob(f"*/{RECORD}"):
            folder = record.parent
            if folder.is_symlink() or folder.name.startswith("."):
                continue
            try:
                doc = parse_manifest(record.read_text())
                info = checked(doc, folder, str(doc.get("dump_sha256", "")), key)
            except (OSError, ValueError):
                continue
            found.append((folder, info))
        return sorted(found, key=lambda pair: (pair[1].created_at, pair[0].name))

    def backups(self) -> list[CheckedBackup]:
        """Every complete backup, oldest first, with whether its signature verifies."""
        return [info for _, info in self._folders()]

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` backups (and any left half-written)."""
        if keep < 1:
            raise UsageError("Keep at least one backup", hint="--prune N with N >= 1")
        self.scrub_plaintext()
        removed = []
        for partial in self.folder.glob(".*.partial") if self.folder.is_dir() else []:
            if partial.is_dir() and not partial.is_symlink():
                shutil.rmtree(partial, ignore_errors=True)
                removed.append(str(partial))
        folders = self._folders()
        for folder, _ in folders[: max(len(folders) - keep, 0)]:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
        return removed

    def scrub_plaintext(self) -> list[Path]:
        """Fold the plaintext .env copies of earlier releases into .env, then remove them."""
        from kgop_tui.services.backups.backup_keys import scrub_plaintext

        return scrub_plaintext(self)

    def load(self, path: Path, accept_unsigned: bool = False) -> CheckedBackup:
        """The backup at ``path`` (its folder or its dump), checked against its checksums
        and its signature (:mod:`.backup_mac`): refused unless it verifies under this
        install's KG_BACKUP_KEY, or (with ``accept_unsigned``) carries no signature or
        another install's."""
        from kgop_tui.services.backups.backup_mac import checked, parse_manifest, read_key
        from kgop_tui.services.backups.backup_mac import require_verified as verify

        folder = path.parent if path.is_file() else path
        record = folder / RECORD
        if not record.is_file():
            raise UsageError(
                f"{path} is not a kgop backup (no {RECORD})",
                hint="pass a folder from KG_HOME/backups (`kgop backup --list`)",
            )
        try:
            doc = parse_manifest(record.read_text())
            BackupInfo.model_validate({**doc, "mac": None})  # the signature is judged below
        except ValueError:
            raise UsageError(f"{record} is damaged", hint="pick another backup") from None
        dump = folder / DUMP
        dump_sha256 = _sha256(dump) if dump.is_file() else None
        if dump_sha256 is None or dump_sha256 != doc.get("dump_sha256"):
            raise RefusedForSafety(
                f"The dump in {folder} does not match its checksum: it is incomplete or damaged",
                hint="pick another backup (`kgop backup --list`)",
            )
        key = read_key(self.env_path)
        info = checked(doc, folder, dump_sha256, key)  # the hash of the file, not the record's
        verify(info, accept_unsigned, has_key=key is not None)
        return info

    def open_secrets(self, info: BackupInfo, passphrase: str) -> int:
        """Open the sealed .env; the keys .env lacks join ENCRYPTION_KEYS_PREVIOUS (how many)."""
        from kgop_tui.services.backups.backup_keys import open_secrets

        return open_secrets(self, info, passphrase)

    def check_key(self, info: BackupInfo) -> None:
        """Refuse a backup whose secrets were encrypted with a key this install lacks."""
        if info.key_fingerprint is None:
            return
        if info.key_fingerprint not in {fingerprint(k) for k in self._known_keys()}:
            sealed = info.secrets_sha256 is not None
            raise RefusedForSafety(
                f"The backup's secrets were encrypted with another ENCRYPTION_KEY "
                f"(fingerprint {info.key_fingerprint})",
                hint="restore with --secrets-passphrase-stdin: the backup holds a sealed copy"
                if sealed
                else "add that key to ENCRYPTION_KEYS_PREVIOUS in .env, then restore",
            )

    async def restore_aside(self, info: BackupInfo, accept_unsigned: bool = False) -> Aside:
        """Restore the backup into a side database, made whole and checked there; the live
        one is not touched (:mod:`kgop_tui.services.backups.restore`). Its checksum and signature
        are checked again first, before any of its SQL runs."""
        from kgop_tui.services.backups.restore import restore_aside

        return await restore_aside(self, self.load(Path(info.path), accept_unsigned))

    async def discard(self, aside: Aside) -> None:
        from kgop_tui.services.backups.restore import discard

        await discard(self, aside)

    async def swap_in(self, aside: Aside) -> None:
        """Make the side database the live one (renames), then drop the replaced one."""
        from kgop_tui.services.backups.restore import swap_in

        await swap_in(self, aside)

    async def restore_database(self, info: BackupInfo, accept_unsigned: bool = False) -> Aside:
        """Replace the live database with the backup's dump (restore aside, then swap)."""
        aside = await self.restore_aside(info, accept_unsigned)
        await self.swap_in(aside)
        return aside
