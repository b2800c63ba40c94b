"""What every part of the configuration service shares: a connection and the key canary.

Every write that involves encrypted values first checks the key canary, so a wrong
``ENCRYPTION_KEY`` is refused before anything is written (exit 4).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from kgop_tui.errors import OperationFailed, RefusedForSafety
from kgop_tui.services.database.connection import DatabaseTarget, connect
from kgop_tui.services.platform.secrets import CANARY_PLAINTEXT, KeyRing
from kgop_tui.settings import Settings

CANARY = "kgop.key_canary"
LEGACY_CANARY = "kg_api.encryption_canary"
"""Where kgop releases before the ``kgop`` schema kept the canary (read until rewritten)."""
CANARY_DDL = """
CREATE SCHEMA IF NOT EXISTS kgop;
CREATE TABLE IF NOT EXISTS kgop.key_canary (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    key_fingerprint text NOT NULL,
    token bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    rotated_at timestamptz
);
"""


async def canary_fingerprint(conn: asyncpg.Connection, lock: bool = False) -> str | None:
    """The fingerprint of the key the stored secrets are under, from kgop's canary (in its
    own schema), else from the one an earlier kgop kept in ``kg_api``; None without one."""
    for table in (CANARY, LEGACY_CANARY):
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            found: str | None = await conn.fetchval(
                f"SELECT key_fingerprint FROM {table} WHERE id = 1"
                + (" FOR UPDATE" if lock else "")
            )
            if found is not None or table == CANARY:
                return found
    return None


class KeyMismatch(RefusedForSafety):
    """The key in .env is not the key the stored secrets were encrypted with."""

    title = "Encryption key mismatch"


class ConfigBase:
    """A database connection for configuration work, and the key canary that guards it."""

    def __init__(self, target: DatabaseTarget, settings: Settings) -> None:
        self.target = target
        self.settings = settings

    @asynccontextmanager
    async def _conn(self, purpose: str) -> AsyncIterator[asyncpg.Connection]:
        conn = await connect(self.target, f"configure {purpose}")
        try:
            yield conn
        except asyncpg.UndefinedTableError:
            raise OperationFailed(
                "The platform schema is missing from the database",
                hint="apply it with `kgop migrate up`",
            ) from None
        finally:
            await conn.close()

    # ---- the key canary ------------------------------------------------------------------

    async def _guard(self, conn: asyncpg.Connection, ring: KeyRing, write: bool) -> None:
        """Refuse if the stored secrets belong to another key; create the canary on write."""
        stored = await canary_fingerprint(conn, lock=write)
        if stored is None:
            if write:
                await self._set_canary(conn, ring)
            return
        if stored not in ring.fingerprints:
            raise KeyMismatch(
                f"The ENCRYPTION_KEY in .env (fingerprint {ring.primary_fingerprint}) is not the "
                f"key the stored secrets were encrypted with (fingerprint "
                f"{stored}); nothing was read or written",
                hint="put the original key back in .env (a backup taken with --with-secrets holds "
                "an encrypted copy: `kgop restore BACKUP --secrets-passphrase-stdin`); "
                "if it is lost for good, `kgop configure forget-secrets --yes` deletes the "
                "unreadable secrets so they can be entered again",
            )

    @staticmethod
    async def _set_canary(conn: asyncpg.Connection, ring: KeyRing) -> None:
        await conn.execute(CANARY_DDL)
        await conn.execute(
            f"INSERT INTO {CANARY} (id, key_fingerprint, token) VALUES (1, $1, $2) "
            "ON CONFLICT (id) DO UPDATE SET key_fingerprint = $1, token = $2, rotated_at = now()",
            ring.primary_fingerprint,
            ring.encrypt(CANARY_PLAINTEXT),
        )
