"""Provider API keys and the platform's other secrets, stored encrypted."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from kgop_tui.errors import OperationFailed
from kgop_tui.models import (
    Provider,
    StoredApiKey,
    ValidationStatus,
)
from kgop_tui.services.config.base import ConfigBase
from kgop_tui.services.secrets import KeyRing


class ApiKeysConfig(ConfigBase):
    """API keys (validated, masked) and named secrets, Fernet-encrypted with ENCRYPTION_KEY."""

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
