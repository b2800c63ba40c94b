"""Restoring a backup: into a side database first, then swapped in by renaming.

A restore never touches the live database until the dump has been restored completely into
a side database, while the platform keeps running; there it is made whole and checked:

- the live database's own settings (``ALTER DATABASE … SET`` and ``ALTER ROLE … IN
  DATABASE … SET``, e.g. a ``search_path`` holding ``ag_catalog``) are given to the side
  database: they belong to the database, not to its contents, so ``pg_restore`` into
  another database never brings them, and renaming keeps the side database's (none);
- AGE's graph ids are put back in line with their schemas (:mod:`.age_graphs`): the
  restored schema has a new oid, the catalog rows still carry the old one;
- it is analyzed (a dump holds no planner statistics);
- stored secrets are re-encrypted under the current key; rows are counted;
- every graph is counted through cypher and must answer as it did when the backup was
  taken (the counts in its manifest).

The dump's SQL never runs as the server's superuser: ``pg_restore`` logs in as a role that
may do nothing but fill the side database it owns (:mod:`.restore_role`).

Only then are the two swapped by renaming, and the replaced one dropped. A failing restore
leaves the live database as it was, and drops the side database.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from kgop_tui.errors import OperationFailed
from kgop_tui.models import BackupInfo, GraphCounts
from kgop_tui.services.backups import restore_role
from kgop_tui.services.backups.backup import DUMP, BackupService, database_facts
from kgop_tui.services.database.age_graphs import graph_counts, graph_differences, repoint_graphs
from kgop_tui.services.database.connection import DatabaseTarget, connect, pg_error_info
from kgop_tui.services.database.pg_tools import find_tool, run_tool, tool_error

AGE_HINT = (
    "the Apache AGE of this server may differ from the backup's: compare "
    "`SELECT extversion FROM pg_extension WHERE extname = 'age'` on both, or pick another backup"
)


@dataclass(frozen=True)
class Aside:
    """A backup restored into a side database, ready to be swapped in."""

    live: str
    name: str
    schema_version: int | None
    tables: dict[str, int]
    reencrypted: int
    graphs: dict[str, GraphCounts] = field(default_factory=dict)
    repointed: list[str] = field(default_factory=list)


def with_database(url: str, name: str) -> str:
    """The same connection URL, naming another database."""
    return urlsplit(url)._replace(path="/" + name).geturl()


async def ident(conn: asyncpg.Connection, name: str) -> str:
    return str(await conn.fetchval("SELECT quote_ident($1)", name))


def maintenance(service: BackupService) -> DatabaseTarget:
    """The server's ``postgres`` database: where databases are created, renamed, dropped."""
    target = service.target
    return DatabaseTarget(url=with_database(target.url, "postgres"), label=target.label)


async def live_name(service: BackupService) -> str:
    conn = await connect(service.target, "restore")
    try:
        return str(await conn.fetchval("SELECT current_database()"))
    finally:
        await conn.close()


async def carry_settings(conn: asyncpg.Connection, live: str, aside: str) -> int:
    """Give ``aside`` the per-database settings ``live`` has; how many.

    Each value is set in this transaction and stored ``FROM CURRENT``, so the server
    itself parses it as it did when it was first set (lists such as ``search_path`` keep
    their quoting exactly).
    """
    rows = await conn.fetch(
        "SELECT r.rolname::text AS role, unnest(s.setconfig) AS setting "
        "FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
        "LEFT JOIN pg_roles r ON r.oid = s.setrole WHERE d.datname = $1 ORDER BY 1, 2",
        live,
    )
    target = await ident(conn, aside)
    async with conn.transaction():
        for row in rows:
            name, _, value = str(row["setting"]).partition("=")
            await conn.execute("SELECT set_config($1, $2, true)", name, value)
            scope = f"DATABASE {target}"
            if row["role"] is not None:
                scope = f"ROLE {await ident(conn, row['role'])} IN {scope}"
            await conn.execute(f"ALTER {scope} SET {await ident(conn, name)} FROM CURRENT")
    return len(rows)


async def _clear_leftovers(conn: asyncpg.Connection, prefix: str) -> None:
    """Drop the databases an interrupted restore left aside (callers hold the upgrade lock)."""
    leftovers = await conn.fetch(
        "SELECT datname FROM pg_database WHERE datname ~ $1",
        f"^{re.escape(prefix)}_(restore|replaced)_[0-9]{{14}}$",
    )
    for row in leftovers:
        await conn.execute(f"DROP DATABASE IF EXISTS {await ident(conn, row[0])}")


async def _pg_restore(
    service: BackupService, dump: Path, aside: str, role: tuple[str, str] | None, toc: str | None
) -> None:
    """``pg_restore`` into ``aside``: as the restore role (``role``: name, password) with the
    dump's list ``toc`` when kgop is a superuser, else as kgop's own user."""
    env = service.environment(aside)
    command = [
        find_tool("pg_restore"),
        "--exit-on-error",
        "--single-transaction",
        "--no-password",
        f"--dbname={aside}",
    ]
    with tempfile.TemporaryDirectory(prefix="kgop-restore-") as work:
        if role is not None and toc is not None:
            env["PGUSER"], env["PGPASSWORD"] = role
            listing = Path(work) / "list"
            listing.write_text(toc)
            command += ["--no-owner", "--no-privileges", f"--use-list={listing}"]
        done = await run_tool([*command, str(dump)], env)
    if done.returncode != 0:
        raise OperationFailed(
            f"pg_restore failed: {tool_error(done.stderr)}; the live database was not changed",
            hint="check the backup with `kgop backup --list`",
        )


async def _restore_into(
    conn: asyncpg.Connection, service: BackupService, dump: Path, aside: str
) -> None:
    """Create ``aside`` and restore the dump into it, as the restore role when kgop may run
    anything on the server (:mod:`.restore_role`)."""
    if not await restore_role.is_superuser(conn):
        await conn.execute(f"CREATE DATABASE {await ident(conn, aside)}")
        await _pg_restore(service, dump, aside, None, None)
        return
    try:
        toc, has_age = restore_role.restore_list(
            await restore_role.read_list(dump, service.environment(aside))
        )
    except RuntimeError as exc:
        raise OperationFailed(
            f"pg_restore failed: {exc}; the live database was not changed",
            hint="check the backup with `kgop backup --list`",
        ) from None
    password = await restore_role.enable(conn)
    try:
        await conn.execute(f"CREATE DATABASE {await ident(conn, aside)} OWNER {restore_role.ROLE}")
        side = await connect(
            DatabaseTarget(url=with_database(service.target.url, aside), label="restore"),
            "restore",
        )
        try:
            await restore_role.prepare_side(side, has_age)
            await _pg_restore(service, dump, aside, (restore_role.ROLE, password), toc)
            await restore_role.hand_over(side)
        finally:
            await side.close()
    finally:
        await restore_role.disable(conn)


async def _make_whole(service: BackupService, info: BackupInfo, live: str, aside: str) -> Aside:
    """Repair, re-encrypt, count and check the restored side database."""
    from kgop_tui.services.platform.config.base import canary_fingerprint
    from kgop_tui.services.platform.config.encryption import EncryptionConfig

    side = await connect(
        DatabaseTarget(url=with_database(service.target.url, aside), label="restore"), "restore"
    )
    try:
        repointed = await repoint_graphs(side)
        # A dump carries no planner statistics: without them the restored database would
        # plan the api's first graph queries (and the counts below) blind until autovacuum
        # gets to every table.
        await side.execute("ANALYZE")
        reencrypted = 0
        if await canary_fingerprint(side) is not None:
            config = EncryptionConfig(service.target, service.settings)
            reencrypted = await config.reencrypt_database(side)
        _, _, schema, tables = await database_facts(side)
        try:
            graphs = await graph_counts(side)
        except asyncpg.PostgresError as exc:
            raise OperationFailed(
                f"The restored graph does not answer cypher: {pg_error_info(exc).message}; "
                "the live database was not changed",
                hint=AGE_HINT,
            ) from None
    finally:
        await side.close()
    if info.graphs is not None and graphs != info.graphs:
        differences = graph_differences(info.graphs, graphs)
        raise OperationFailed(
            "The restored graph does not answer as it did when the backup was taken ("
            + "; ".join(differences[:5])
            + (f"; {len(differences) - 5} more" if len(differences) > 5 else "")
            + "); the live database was not changed",
            hint=AGE_HINT,
        )
    return Aside(live, aside, schema, tables, reencrypted, graphs, repointed)


async def _drop(conn: asyncpg.Connection, aside: str) -> None:
    if aside:
        await conn.execute(f"DROP DATABASE IF EXISTS {await ident(conn, aside)} WITH (FORCE)")


async def restore_aside(service: BackupService, info: BackupInfo) -> Aside:
    """Restore the backup's dump into a side database; the live one is not touched."""
    dump = Path(info.path) / DUMP
    conn = await connect(maintenance(service), "restore")
    aside = ""
    try:
        live = await live_name(service)
        prefix = live[:40]
        await _clear_leftovers(conn, prefix)
        aside = f"{prefix}_restore_{service.clock():%Y%m%d%H%M%S}"
        await _restore_into(conn, service, dump, aside)
        await carry_settings(conn, live, aside)
        return await _make_whole(service, info, live, aside)
    except asyncpg.PostgresError as exc:
        await _drop(conn, aside)
        raise OperationFailed(
            f"Restore failed: {pg_error_info(exc).message}; the live database was not changed",
            hint="the database user needs CREATEDB (the platform's user has it)",
        ) from None
    except BaseException:
        await _drop(conn, aside)
        raise
    finally:
        await conn.close()


async def discard(service: BackupService, aside: Aside) -> None:
    conn = await connect(maintenance(service), "restore")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {await ident(conn, aside.name)}")
    finally:
        await conn.close()


async def swap_in(service: BackupService, aside: Aside) -> None:
    """Make the side database the live one (renames), then drop the replaced one."""
    replaced = aside.name.replace("_restore_", "_replaced_")
    conn = await connect(maintenance(service), "restore")
    try:
        await _swap(conn, aside.live, aside.name, replaced)
        await conn.execute(f"DROP DATABASE IF EXISTS {await ident(conn, replaced)} WITH (FORCE)")
    except asyncpg.PostgresError as exc:
        raise OperationFailed(
            f"Restore failed while swapping databases: {pg_error_info(exc).message}",
            hint="`kgop migrate status` shows which database is live; run restore again",
        ) from None
    finally:
        await conn.close()


async def _swap(conn: asyncpg.Connection, live: str, aside: str, replaced: str) -> None:
    """Both renames in one transaction: the live name always names a whole database."""
    renames = [
        f"ALTER DATABASE {await ident(conn, live)} RENAME TO {await ident(conn, replaced)}",
        f"ALTER DATABASE {await ident(conn, aside)} RENAME TO {await ident(conn, live)}",
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
