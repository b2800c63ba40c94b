"""Encryption of stored secrets: the key's status, forgetting secrets, and key rotation
with its crash-test checkpoints."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import asyncpg

from kgop_tui.models import (
    EncryptionStatus,
)
from kgop_tui.services.files import add_encryption_keys
from kgop_tui.services.platform.config.base import ConfigBase, canary_fingerprint
from kgop_tui.services.platform.secrets import KeyRing, fingerprint, generate_key

ROTATION_LOCK = 0x6B676F70726F7461  # "kgoprota"
ENCRYPTED_COLUMNS = (("kg_api.system_api_keys", "provider", "encrypted_key"),)
"""Every value kgop stores encrypted: the platform's ``system_api_keys`` (provider keys and
Garage's credentials), which its api decrypts with the one current ENCRYPTION_KEY."""


@dataclass(frozen=True)
class RotationReport:
    reencrypted: int
    fingerprint: str
    finished_interrupted: bool
    retired: int


def _checkpoint(step: str) -> None:
    """Crash-test point: the suite kills a rotation here (KGOP_CRASH_AT=step) to prove every
    interruption leaves a readable state. Does nothing otherwise."""
    if os.environ.get("KGOP_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


class EncryptionConfig(ConfigBase):
    """The key canary's status, forgetting secrets, rotating the key."""

    async def encryption_status(self, conn: asyncpg.Connection) -> EncryptionStatus:
        db = await canary_fingerprint(conn)
        key = self.settings.encryption_key
        env = fingerprint(key.get_secret_value()) if key else None
        fingerprints = KeyRing.from_settings(self.settings).fingerprints if key else []
        return EncryptionStatus(
            env_fingerprint=env,
            database_fingerprint=db,
            match=None if db is None or env is None else db in fingerprints,
            rotation_in_progress=db is not None and db != env and db in fingerprints,
        )

    async def forget_secrets(self) -> int:
        """Delete every encrypted value and reset the canary to the key in .env."""
        ring = KeyRing.from_settings(self.settings)
        async with self._conn("forget-secrets") as conn, conn.transaction():
            count = 0
            for table, _, _ in ENCRYPTED_COLUMNS:
                done = await conn.execute(f"DELETE FROM {table}")
                count += int(done.split()[-1])
            await self._set_canary(conn, ring)
        return count

    async def _reencrypt(self, conn: asyncpg.Connection, ring: KeyRing) -> int:
        """Re-encrypt every stored value under the primary key, and move the canary."""
        count = 0
        async with conn.transaction():
            await self._guard(conn, ring, write=True)
            for table, pk, column in ENCRYPTED_COLUMNS:
                for row in await conn.fetch(f"SELECT {pk}, {column} FROM {table} FOR UPDATE"):
                    await conn.execute(
                        f"UPDATE {table} SET {column} = $2 WHERE {pk} = $1",
                        row[pk],
                        ring.rotate(bytes(row[column])),
                    )
                    count += 1
            await self._set_canary(conn, ring)
        return count

    async def rotate_key(self) -> RotationReport:
        """New ENCRYPTION_KEY, every stored value re-encrypted, .env updated atomically.

        Steps, each leaving every stored value readable with the keys .env holds:
        1. .env gets the new key as primary; the old one joins ENCRYPTION_KEYS_PREVIOUS,
           where it stays: backups taken before the rotation need it to restore;
        2. one transaction re-encrypts everything under the new key and moves the canary.
        A rotation interrupted after step 1 (the canary still names a retired key) is
        finished by the next run.
        """
        env_path = self.settings.kg_home / ".env"
        ring = KeyRing.from_settings(self.settings)
        async with self._conn("rotate-key") as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", ROTATION_LOCK)
            await self._guard(conn, ring, write=False)
            canary = await canary_fingerprint(conn)
            resumed = canary is not None and canary != ring.primary_fingerprint
            if resumed:  # finish the interrupted rotation first
                await self._reencrypt(conn, ring)
            new = generate_key()
            retired = list(dict.fromkeys([ring.primary, *ring.previous]))
            _checkpoint("before-env")
            # Under .env's lock, re-read: keys a restore added meanwhile stay (a union).
            add_encryption_keys(env_path, retired, primary=new)
            _checkpoint("after-env")
            count = await self._reencrypt(conn, KeyRing(new, retired))
            _checkpoint("after-db")
        return RotationReport(count, fingerprint(new), resumed, len(retired))

    async def reencrypt_database(self, conn: asyncpg.Connection) -> int:
        """Bring the stored secrets of the database behind ``conn`` (a restored one) under
        the primary key; 0 when they already are."""
        ring = KeyRing.from_settings(self.settings)
        canary = await canary_fingerprint(conn)
        if canary is None or canary == ring.primary_fingerprint:
            return 0
        return await self._reencrypt(conn, ring)
