"""Encryption of stored secrets: the key's status, forgetting secrets, and key rotation
with its crash-test checkpoints."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from kgop_tui.models import (
    EncryptionStatus,
)
from kgop_tui.services.config.base import ConfigBase
from kgop_tui.services.files import update_env_file, write_secret_file
from kgop_tui.services.secrets import KeyRing, fingerprint, generate_key

ROTATION_LOCK = 0x6B676F70726F7461  # "kgoprota"
ENCRYPTED_COLUMNS = (
    ("kg_api.system_api_keys", "provider", "encrypted_key"),
    ("kg_api.platform_secrets", "name", "encrypted_value"),
)


@dataclass(frozen=True)
class RotationReport:
    reencrypted: int
    fingerprint: str
    finished_interrupted: bool
    backup: Path


def _checkpoint(step: str) -> None:
    """Crash-test point: the suite kills a rotation here (KGOP_CRASH_AT=step) to prove every
    interruption leaves a readable state. Does nothing otherwise."""
    if os.environ.get("KGOP_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


class EncryptionConfig(ConfigBase):
    """The key canary's status, forgetting secrets, rotating the key."""

    async def encryption_status(self, conn: asyncpg.Connection) -> EncryptionStatus:
        db = await conn.fetchval("SELECT key_fingerprint FROM kg_api.encryption_canary")
        key = self.settings.encryption_key
        env = fingerprint(key.get_secret_value()) if key else None
        previous = self.settings.encryption_keys_previous
        fingerprints = KeyRing.from_settings(self.settings).fingerprints if key else []
        return EncryptionStatus(
            env_fingerprint=env,
            database_fingerprint=db,
            match=None if db is None or env is None else db in fingerprints,
            rotation_in_progress=bool(previous and previous.get_secret_value()),
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
        1. .env gets the new key as primary and the old one as previous;
        2. one transaction re-encrypts everything under the new key;
        3. .env drops the previous key.
        A rotation interrupted after step 1 or 2 is finished by the next run.
        """
        env_path = self.settings.kg_home / ".env"
        ring = KeyRing.from_settings(self.settings)
        backup = self._backup_env(env_path)
        async with self._conn("rotate-key") as conn:
            await conn.execute("SELECT pg_advisory_lock($1)", ROTATION_LOCK)
            await self._guard(conn, ring, write=False)
            resumed = bool(ring.previous)
            if resumed:  # finish the interrupted rotation first
                await self._reencrypt(conn, ring)
                update_env_file(env_path, {"ENCRYPTION_KEYS_PREVIOUS": None})
                ring = KeyRing(ring.primary)
            new = generate_key()
            _checkpoint("before-env")
            update_env_file(
                env_path, {"ENCRYPTION_KEY": new, "ENCRYPTION_KEYS_PREVIOUS": ring.primary}
            )
            _checkpoint("after-env")
            count = await self._reencrypt(conn, KeyRing(new, [ring.primary]))
            _checkpoint("after-db")
            update_env_file(env_path, {"ENCRYPTION_KEYS_PREVIOUS": None})
        return RotationReport(count, fingerprint(new), resumed, backup)

    @staticmethod
    def _backup_env(env_path: Path) -> Path:
        backups = env_path.parent / "backups"
        backups.mkdir(mode=0o700, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = backups / f"env-before-rotate-{stamp}"
        write_secret_file(target, env_path.read_bytes())
        return target
