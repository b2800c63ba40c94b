"""The role a restore's SQL runs as: never the server's superuser.

A dump is SQL the restore runs. Signed backups (:mod:`.backup_mac`) refuse one that was
changed, but whoever holds ``.env`` (or a backup of another install restored with
``--accept-unsigned``) can still hand ``pg_restore`` anything; run as the superuser, a ``COPY …
TO PROGRAM`` or a ``CREATE ROLE … SUPERUSER`` in it (in a function a materialized view's
refresh calls, say) would run with every right on the server, and a role outlives the side
database.

So when kgop connects as a superuser (the platform's ``POSTGRES_USER`` is one), ``pg_restore``
logs in as ``kgop_restore``: a role with no attribute at all (no superuser, no createrole, no
createdb; what it inherits is what ``pg_database_owner`` grants, ``CREATE`` on the side
database's ``public`` schema), which owns the side database and may log in only while a restore
runs, with a password made for that restore (given to the server as a SCRAM verifier, so the
password itself is in no statement). Logging in as it matters: ``SET ROLE`` (``pg_restore
--role``) could be undone by a ``RESET ROLE`` in the dump.

What only a superuser may do is done first, by kgop, and taken out of the dump's list: Apache
AGE is not a trusted extension, so ``CREATE EXTENSION age`` (and its schema, and its comment)
runs as kgop, which then lets the restore role fill AGE's two catalog tables (``ag_graph``,
``ag_label``: the dump carries their rows, as AGE marks them as configuration tables) and
create in its schema (the platform's baseline puts functions there). Any other extension is
created by the dump itself: trusted ones (``pg_trgm``, which the platform's baseline creates)
restore; an untrusted one is refused by the server.

Afterwards everything the restore role created is handed to kgop's own user (``REASSIGN
OWNED``), its rights in the side database dropped (``DROP OWNED``) and its login taken away
again: a restored database is owned as the live one was.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from pathlib import Path

import asyncpg

from kgop_tui.services.database.pg_tools import find_tool, run_tool, tool_error

ROLE = "kgop_restore"

# pg_restore -l: "<dump id>; <catalog oid> <oid> <TYPE> <schema> <name> <owner>"
_AGE_ENTRIES = re.compile(
    r"^\d+; \d+ \d+ (?:SCHEMA - ag_catalog|EXTENSION - age|COMMENT - EXTENSION age)(?: |$)"
)
_HAS_AGE = re.compile(r"^\d+; \d+ \d+ EXTENSION - age(?: |$)", re.MULTILINE)


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """What the server stores for ``password`` (RFC 5802/7677, Postgres' format)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def restore_list(toc: str) -> tuple[str, bool]:
    """The dump's table of contents without what kgop sets up itself; whether it holds AGE."""
    has_age = _HAS_AGE.search(toc) is not None
    if not has_age:
        return toc, False
    kept = [line for line in toc.splitlines() if not _AGE_ENTRIES.match(line)]
    return "\n".join(kept) + "\n", True


async def is_superuser(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))


async def enable(conn: asyncpg.Connection) -> str:
    """The restore role, able to log in with a new password; that password."""
    password = secrets.token_urlsafe(24)
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", ROLE)
    if not exists:
        await conn.execute(
            f"CREATE ROLE {ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT "
            "NOREPLICATION NOBYPASSRLS"
        )
    # A verifier, not the password: nothing a statement log could show logs in. Literal, as
    # ALTER ROLE takes no parameters; the verifier is base64 and '$' only.
    verifier = scram_verifier(password)
    await conn.execute(
        f"ALTER ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION "
        f"NOBYPASSRLS CONNECTION LIMIT 2 PASSWORD '{verifier}'"
    )
    return password


async def disable(conn: asyncpg.Connection) -> None:
    await conn.execute(f"ALTER ROLE {ROLE} NOLOGIN PASSWORD NULL")


async def prepare_side(side: asyncpg.Connection, has_age: bool) -> None:
    """In the side database, as kgop: what the dump may not do itself."""
    if has_age:
        await side.execute("CREATE EXTENSION IF NOT EXISTS age")
        # CREATE too: the platform's baseline makes functions in ag_catalog (it runs with
        # ag_catalog first on its search_path), and the dump recreates them there.
        await side.execute(f"GRANT USAGE, CREATE ON SCHEMA ag_catalog TO {ROLE}")
        await side.execute(
            f"GRANT SELECT, INSERT ON ag_catalog.ag_graph, ag_catalog.ag_label TO {ROLE}"
        )


async def hand_over(side: asyncpg.Connection) -> None:
    """Everything the restore role made, to kgop's user; its rights here dropped."""
    await side.execute(f"REASSIGN OWNED BY {ROLE} TO CURRENT_USER")
    await side.execute(f"DROP OWNED BY {ROLE}")


async def read_list(dump: Path, env: dict[str, str]) -> str:
    """The dump's table of contents (``pg_restore -l`` reads it; no SQL runs)."""
    done = await run_tool([find_tool("pg_restore"), "--list", str(dump)], env)
    if done.returncode != 0:
        raise RuntimeError(tool_error(done.stderr))
    return done.stdout
