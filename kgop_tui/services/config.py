"""Platform configuration: admin users, AI provider, embedding profile, API keys, keys.

Every write that involves encrypted values first checks the key canary, so a wrong
``ENCRYPTION_KEY`` is refused before anything is written (exit 4).
"""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import bcrypt

from kgop_tui.errors import OperationFailed, RefusedForSafety, UsageError
from kgop_tui.models import (
    AdminUser,
    AiProviderSetting,
    ConfigStatus,
    Device,
    EmbeddingProfile,
    EncryptionStatus,
    Provider,
    StoredApiKey,
    ValidationStatus,
)
from kgop_tui.services.database import DatabaseTarget, connect
from kgop_tui.services.files import update_env_file, write_secret_file
from kgop_tui.services.secrets import CANARY_PLAINTEXT, KeyRing, fingerprint, generate_key
from kgop_tui.settings import Settings

ROTATION_LOCK = 0x6B676F70726F7461  # "kgoprota"
ENCRYPTED_COLUMNS = (
    ("kg_api.system_api_keys", "provider", "encrypted_key"),
    ("kg_api.platform_secrets", "name", "encrypted_value"),
)
MIN_PASSWORD = 12


class KeyMismatch(RefusedForSafety):
    """The key in .env is not the key the stored secrets were encrypted with."""

    title = "Encryption key mismatch"


@dataclass(frozen=True)
class RotationReport:
    reencrypted: int
    fingerprint: str
    finished_interrupted: bool
    backup: Path


def check_password(username: str, password: str) -> None:
    """The password policy: at least 12 characters, not the username, bcrypt's 72 bytes."""
    if len(password) < MIN_PASSWORD:
        raise UsageError(
            f"The password is too short ({len(password)} characters)",
            hint=f"use at least {MIN_PASSWORD} characters, e.g. four random words",
        )
    if password.strip().lower() == username.strip().lower():
        raise UsageError("The password is the username", hint="choose a different password")
    if len(password.encode()) > 72:
        raise UsageError(
            "The password is longer than 72 bytes, which bcrypt would silently cut",
            hint="use a shorter password",
        )


def _checkpoint(step: str) -> None:
    """Crash-test point: the suite kills a rotation here (KGOP_CRASH_AT=step) to prove every
    interruption leaves a readable state. Does nothing otherwise."""
    if os.environ.get("KGOP_CRASH_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


class ConfigService:
    """Configuration reads and writes on the platform database."""

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
        row = await conn.fetchrow(
            "SELECT key_fingerprint FROM kg_api.encryption_canary WHERE id = 1"
            + (" FOR UPDATE" if write else "")
        )
        if row is None:
            if write:
                await self._set_canary(conn, ring)
            return
        if row["key_fingerprint"] not in ring.fingerprints:
            raise KeyMismatch(
                f"The ENCRYPTION_KEY in .env (fingerprint {ring.primary_fingerprint}) is not the "
                f"key the stored secrets were encrypted with (fingerprint "
                f"{row['key_fingerprint']}); nothing was read or written",
                hint="put the original key back in .env (copies are kept in KG_HOME/backups/); "
                "if it is lost for good, `kgop configure forget-secrets --yes` deletes the "
                "unreadable secrets so they can be entered again",
            )

    @staticmethod
    async def _set_canary(conn: asyncpg.Connection, ring: KeyRing) -> None:
        await conn.execute(
            "INSERT INTO kg_api.encryption_canary (id, key_fingerprint, token) VALUES (1, $1, $2) "
            "ON CONFLICT (id) DO UPDATE SET key_fingerprint = $1, token = $2, rotated_at = now()",
            ring.primary_fingerprint,
            ring.encrypt(CANARY_PLAINTEXT),
        )

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

    # ---- admin ---------------------------------------------------------------------------

    async def set_admin(self, username: str, password: str) -> bool:
        """Create the admin or set its password; True when created."""
        check_password(username, password)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=12)).decode()
        async with self._conn("admin") as conn:
            updated = await conn.execute(
                "UPDATE kg_auth.users SET password_hash = $2, primary_role = 'admin', "
                "disabled = false, updated_at = now() WHERE lower(username) = lower($1)",
                username,
                hashed,
            )
            if updated != "UPDATE 0":
                return False
            try:
                await conn.execute(
                    "INSERT INTO kg_auth.users (username, password_hash, primary_role) "
                    "VALUES ($1, $2, 'admin')",
                    username,
                    hashed,
                )
            except asyncpg.CheckViolationError:
                raise UsageError(
                    f"{username!r} is not a valid username",
                    hint="use letters, digits, '.', '_', '-' or '@' (at most 64)",
                ) from None
            return True

    async def verify_admin(self, username: str, password: str) -> bool:
        async with self._conn("verify") as conn:
            stored = await conn.fetchval(
                "SELECT password_hash FROM kg_auth.users WHERE lower(username) = lower($1)",
                username,
            )
        return bool(stored) and bcrypt.checkpw(password.encode(), str(stored).encode())

    # ---- AI provider and embedding -------------------------------------------------------

    async def set_ai_provider(self, setting: AiProviderSetting) -> None:
        async with self._conn("ai-provider") as conn, conn.transaction():
            await conn.execute("UPDATE kg_api.ai_extraction_config SET active = false")
            await conn.execute(
                "INSERT INTO kg_api.ai_extraction_config (provider, model, max_tokens, active) "
                "VALUES ($1, $2, $3, true) ON CONFLICT (provider, model) DO UPDATE "
                "SET max_tokens = $3, active = true, updated_at = now()",
                setting.provider.value,
                setting.model,
                setting.max_tokens,
            )

    async def embeddings(self) -> list[EmbeddingProfile]:
        async with self._conn("embedding") as conn:
            rows = await conn.fetch(
                "SELECT name, provider, model, dimensions, device, active "
                "FROM kg_api.embedding_profile ORDER BY name"
            )
        return [EmbeddingProfile.model_validate(dict(r)) for r in rows]

    async def set_embedding(self, name: str, device: Device | None) -> EmbeddingProfile:
        async with self._conn("embedding") as conn, conn.transaction():
            names = [r["name"] for r in await conn.fetch(
                "SELECT name FROM kg_api.embedding_profile ORDER BY name FOR UPDATE")]  # fmt: skip
            if name not in names:
                raise UsageError(
                    f"No embedding profile named {name!r}", hint=f"profiles: {', '.join(names)}"
                )
            await conn.execute("UPDATE kg_api.embedding_profile SET active = false WHERE active")
            row = await conn.fetchrow(
                "UPDATE kg_api.embedding_profile SET active = true, "
                "device = coalesce($2, device), updated_at = now() WHERE name = $1 "
                "RETURNING name, provider, model, dimensions, device, active",
                name,
                device.value if device else None,
            )
        assert row is not None  # the name was checked under the same lock
        return EmbeddingProfile.model_validate(dict(row))

    # ---- API keys ------------------------------------------------------------------------

    async def api_keys(self) -> list[StoredApiKey]:
        async with self._conn("api-key") as conn:
            return await self._api_keys(conn)

    @staticmethod
    async def _api_keys(
        conn: asyncpg.Connection, provider: str | None = None
    ) -> list[StoredApiKey]:
        rows = await conn.fetch(
            "SELECT provider, key_hint, validation_status, validated_at, updated_at "
            "FROM kg_api.system_api_keys WHERE $1::text IS NULL OR provider = $1 "
            "ORDER BY provider",
            provider,
        )
        return [StoredApiKey.model_validate(dict(r)) for r in rows]

    async def store_api_key(
        self, provider: Provider, key: str, hint: str, status: ValidationStatus
    ) -> StoredApiKey:
        ring = KeyRing.from_settings(self.settings)
        async with self._conn("api-key") as conn, conn.transaction():
            await self._guard(conn, ring, write=True)
            validated = datetime.now(UTC) if status is not ValidationStatus.UNTESTED else None
            await conn.execute(
                "INSERT INTO kg_api.system_api_keys (provider, encrypted_key, key_hint, "
                "validation_status, validated_at) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (provider) DO UPDATE SET encrypted_key = $2, key_hint = $3, "
                "validation_status = $4, validated_at = $5, updated_at = now()",
                provider.value,
                ring.encrypt(key.encode()),
                hint,
                status.value,
                validated,
            )
            return (await self._api_keys(conn, provider.value))[0]

    async def add_api_key(
        self, provider: Provider, key: str, validate: bool = True
    ) -> StoredApiKey:
        """Check the key's format, optionally ask the provider, store it encrypted.

        A key the provider rejects is not stored (OperationFailed); an unreachable
        provider means "untested".
        """
        import asyncio

        from kgop_tui.services.provider_keys import check_format, mask, validate_online

        key = check_format(provider, key)
        status = ValidationStatus.UNTESTED
        if validate:
            status = await asyncio.to_thread(validate_online, provider, key)
        if status is ValidationStatus.INVALID:
            raise OperationFailed(
                f"{provider.value} rejected this key; nothing was stored",
                hint="check the key in the provider's console, or store it without the check",
            )
        return await self.store_api_key(provider, key, mask(key), status)

    async def read_api_key(self, provider: Provider) -> str | None:
        ring = KeyRing.from_settings(self.settings)
        async with self._conn("api-key") as conn:
            await self._guard(conn, ring, write=False)
            token = await conn.fetchval(
                "SELECT encrypted_key FROM kg_api.system_api_keys WHERE provider = $1",
                provider.value,
            )
        return ring.decrypt(bytes(token)).decode() if token is not None else None

    async def store_secret(self, name: str, value: str) -> None:
        """Store a platform secret encrypted (canary-checked first)."""
        ring = KeyRing.from_settings(self.settings)
        async with self._conn("secret") as conn, conn.transaction():
            await self._guard(conn, ring, write=True)
            await conn.execute(
                "INSERT INTO kg_api.platform_secrets (name, encrypted_value) VALUES ($1, $2) "
                "ON CONFLICT (name) DO UPDATE SET encrypted_value = $2, updated_at = now()",
                name,
                ring.encrypt(value.encode()),
            )

    async def read_secret(self, name: str) -> str | None:
        ring = KeyRing.from_settings(self.settings)
        async with self._conn("secret") as conn:
            await self._guard(conn, ring, write=False)
            token = await conn.fetchval(
                "SELECT encrypted_value FROM kg_api.platform_secrets WHERE name = $1", name
            )
        return ring.decrypt(bytes(token)).decode() if token is not None else None

    async def delete_api_key(self, provider: Provider) -> bool:
        async with self._conn("api-key") as conn:
            done = await conn.execute(
                "DELETE FROM kg_api.system_api_keys WHERE provider = $1", provider.value
            )
        return done != "DELETE 0"

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

    # ---- status --------------------------------------------------------------------------

    async def status(self) -> ConfigStatus:
        async with self._conn("status") as conn:
            admins = await conn.fetch(
                "SELECT username, disabled, updated_at FROM kg_auth.users "
                "WHERE primary_role = 'admin' ORDER BY username"
            )
            ai = await conn.fetchrow(
                "SELECT provider, model, max_tokens FROM kg_api.ai_extraction_config WHERE active"
            )
            emb = await conn.fetchrow(
                "SELECT name, provider, model, dimensions, device, active "
                "FROM kg_api.embedding_profile WHERE active"
            )
            encryption = await self.encryption_status(conn)
            keys = await self._api_keys(conn)
        return ConfigStatus(
            admins=[AdminUser.model_validate(dict(r)) for r in admins],
            ai_provider=AiProviderSetting.model_validate(dict(ai)) if ai else None,
            embedding=EmbeddingProfile.model_validate(dict(emb)) if emb else None,
            api_keys=keys,
            encryption=encryption,
        )

    # ---- key rotation --------------------------------------------------------------------

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
