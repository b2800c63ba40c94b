"""Provider API keys and Garage's credentials: ``kg_api.system_api_keys``, Fernet-encrypted
with ENCRYPTION_KEY, as the platform's api stores and reads them
(``api/app/lib/encrypted_keys.py``: ``store_key`` line 94, ``get_key`` line 128,
``list_providers`` line 199, ``update_validation_status`` line 323). The api knows only the
current ENCRYPTION_KEY: every row must be readable with it (``rotate-key`` sees to that)."""

from __future__ import annotations

import asyncpg

from kgop_tui.errors import OperationFailed
from kgop_tui.models import Provider, StoredApiKey, ValidationStatus
from kgop_tui.services.platform.config.base import ConfigBase
from kgop_tui.services.platform.secrets import KeyRing

KEY_COLUMNS = (
    "provider, encrypted_key, updated_at, coalesce(validation_status, 'untested') AS "
    "validation_status, last_validated_at, validation_error"
)


class ApiKeysConfig(ConfigBase):
    """Stored keys (masked when shown), Fernet-encrypted with ENCRYPTION_KEY."""

    async def api_keys(self) -> list[StoredApiKey]:
        async with self._conn("api-key") as conn:
            return await self._api_keys(conn)

    async def _api_keys(
        self, conn: asyncpg.Connection, provider: str | None = None
    ) -> list[StoredApiKey]:
        from kgop_tui.services.platform.provider_keys import GARAGE, mask, mask_garage

        rows = await conn.fetch(
            f"SELECT {KEY_COLUMNS} FROM kg_api.system_api_keys "
            "WHERE $1::text IS NULL OR provider = $1 ORDER BY provider",
            provider,
        )
        ring = KeyRing.from_settings(self.settings) if self.settings.encryption_key else None
        shown = []
        for row in rows:
            masked = "***"  # unreadable with the keys in .env: as the api shows it
            if ring is not None:
                try:
                    plain = ring.decrypt(bytes(row["encrypted_key"])).decode()
                    masked = mask_garage(plain) if row["provider"] == GARAGE else mask(plain)
                except Exception:  # noqa: BLE001 - any undecryptable value is shown masked
                    pass
            values = {k: v for k, v in dict(row).items() if k != "encrypted_key"}
            shown.append(StoredApiKey.model_validate({**values, "masked_key": masked}))
        return shown

    async def store_api_key(
        self, provider: str, key: str, status: ValidationStatus, error: str | None = None
    ) -> StoredApiKey:
        """Store ``key`` encrypted (canary-checked first), with its validation state: the
        api's ``store_key`` then ``update_validation_status``."""
        ring = KeyRing.from_settings(self.settings)
        async with self._conn("api-key") as conn, conn.transaction():
            await self._guard(conn, ring, write=True)
            await conn.execute(
                "INSERT INTO kg_api.system_api_keys (provider, encrypted_key, validation_status, "
                "last_validated_at, validation_error) VALUES ($1, $2, $3::text, "
                "CASE WHEN $3::text = 'untested' THEN NULL ELSE now() END, $4) "
                "ON CONFLICT (provider) DO UPDATE SET encrypted_key = EXCLUDED.encrypted_key, "
                "updated_at = now(), validation_status = EXCLUDED.validation_status, "
                "last_validated_at = EXCLUDED.last_validated_at, "
                "validation_error = EXCLUDED.validation_error",
                provider,
                ring.encrypt(key.encode()),
                status.value,
                error,
            )
            return (await self._api_keys(conn, provider))[0]

    async def add_api_key(
        self, provider: Provider, key: str, validate: bool = True
    ) -> StoredApiKey:
        """Check the key's format, optionally ask the provider, store it encrypted.

        A key the provider rejects is not stored (OperationFailed); an unreachable
        provider means "untested".
        """
        import asyncio

        from kgop_tui.services.platform.provider_keys import check_format, validate_online

        key = check_format(provider, key)
        status = ValidationStatus.UNTESTED
        if validate:
            status = await asyncio.to_thread(validate_online, provider, key)
        if status is ValidationStatus.INVALID:
            raise OperationFailed(
                f"{provider.value} rejected this key; nothing was stored",
                hint="check the key in the provider's console, or store it without the check",
            )
        return await self.store_api_key(provider.value, key, status)

    async def store_garage_credentials(self, credentials: str) -> StoredApiKey:
        """Garage's ``ACCESS:SECRET`` as the api reads it (provider ``garage``)."""
        from kgop_tui.services.platform.provider_keys import GARAGE, check_garage

        return await self.store_api_key(GARAGE, check_garage(credentials),
                                         ValidationStatus.UNTESTED)  # fmt: skip

    async def read_api_key(self, provider: str) -> str | None:
        ring = KeyRing.from_settings(self.settings)
        async with self._conn("api-key") as conn:
            await self._guard(conn, ring, write=False)
            token = await conn.fetchval(
                "SELECT encrypted_key FROM kg_api.system_api_keys WHERE provider = $1", provider
            )
        return ring.decrypt(bytes(token)).decode() if token is not None else None

    async def stored_providers(self) -> list[str]:
        async with self._conn("api-key") as conn:
            rows = await conn.fetch("SELECT provider FROM kg_api.system_api_keys ORDER BY 1")
        return [str(r["provider"]) for r in rows]

    async def delete_api_key(self, provider: str) -> bool:
        async with self._conn("api-key") as conn:
            done = await conn.execute(
                "DELETE FROM kg_api.system_api_keys WHERE provider = $1", provider
            )
        return done != "DELETE 0"
