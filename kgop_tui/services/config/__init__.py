"""Platform configuration: admin users, AI provider, embedding profile, API keys, keys.

One service for the CLI and the TUI (the ``ConfigPort``), made of one part per job:
:mod:`.admin`, :mod:`.platform_config`, :mod:`.api_keys`, :mod:`.encryption`, over
:mod:`.base` (the connection and the key canary).
"""

from __future__ import annotations

from kgop_tui.models import AdminUser, AiProviderSetting, ConfigStatus, EmbeddingProfile
from kgop_tui.services.config.admin import MIN_PASSWORD, AdminConfig, check_password
from kgop_tui.services.config.api_keys import ApiKeysConfig
from kgop_tui.services.config.base import KeyMismatch
from kgop_tui.services.config.encryption import (
    ENCRYPTED_COLUMNS,
    ROTATION_LOCK,
    EncryptionConfig,
    RotationReport,
)
from kgop_tui.services.config.platform_config import PlatformConfig

__all__ = [
    "ENCRYPTED_COLUMNS",
    "MIN_PASSWORD",
    "ROTATION_LOCK",
    "ConfigService",
    "KeyMismatch",
    "RotationReport",
    "check_password",
]


class ConfigService(AdminConfig, PlatformConfig, ApiKeysConfig, EncryptionConfig):
    """Configuration reads and writes on the platform database."""

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
