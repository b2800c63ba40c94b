"""Platform configuration: admin users, AI provider, embedding profile, stored keys, the
platform's flags and OAuth clients, the encryption key.

One service for the CLI and the TUI (the ``ConfigPort``), made of one part per job:
:mod:`.admin`, :mod:`.platform_config`, :mod:`.platform_settings`, :mod:`.api_keys`,
:mod:`.encryption`, over :mod:`.base` (the connection and the key canary). Each writes the
platform's own tables as the platform's operator writes them and its api reads them.
"""

from __future__ import annotations

from kgop_tui.models import AdminUser, ConfigStatus
from kgop_tui.services.platform.config.admin import (
    ADMIN_ROLES,
    MIN_PASSWORD,
    AdminConfig,
    check_password,
    is_factory_hash,
)
from kgop_tui.services.platform.config.api_keys import ApiKeysConfig
from kgop_tui.services.platform.config.base import KeyMismatch
from kgop_tui.services.platform.config.encryption import (
    ENCRYPTED_COLUMNS,
    ROTATION_LOCK,
    EncryptionConfig,
    RotationReport,
)
from kgop_tui.services.platform.config.platform_config import (
    PlatformConfig,
    _active_embedding,
    _active_provider,
)
from kgop_tui.services.platform.config.platform_settings import PlatformSettings, _clients, _flags

__all__ = [
    "ENCRYPTED_COLUMNS",
    "MIN_PASSWORD",
    "ROTATION_LOCK",
    "ConfigService",
    "KeyMismatch",
    "RotationReport",
    "check_password",
]


class ConfigService(AdminConfig, PlatformConfig, PlatformSettings, ApiKeysConfig, EncryptionConfig):
    """Configuration reads and writes on the platform database."""

    async def status(self) -> ConfigStatus:
        async with self._conn("status") as conn:
            users = await conn.fetch(
                "SELECT u.id, u.username, u.primary_role, coalesce(u.disabled, false) AS "
                "disabled, u.password_hash, coalesce((SELECT array_agg(g.group_name ORDER BY "
                "g.group_name) FROM kg_auth.user_groups m JOIN kg_auth.groups g "
                "ON g.id = m.group_id WHERE m.user_id = u.id), '{}') AS groups "
                "FROM kg_auth.users u WHERE u.primary_role = ANY($1::text[]) "
                "AND u.password_hash LIKE '$2%' ORDER BY u.username",
                list(ADMIN_ROLES),
            )
            ai = await _active_provider(conn)
            emb = await _active_embedding(conn)
            encryption = await self.encryption_status(conn)
            keys = await self._api_keys(conn)
            flags = await _flags(conn)
            clients = await _clients(conn)
        factory = [is_factory_hash(str(u["password_hash"])) for u in users]
        admins = [
            AdminUser(
                username=u["username"],
                role=u["primary_role"],
                disabled=u["disabled"],
                groups=list(u["groups"]),
            )  # fmt: skip
            for u, seeded in zip(users, factory, strict=True)
            if not seeded
        ]
        return ConfigStatus(
            admins=admins,
            factory_password=[u["username"] for u, s in zip(users, factory, strict=True) if s],
            ai_provider=ai,
            embedding=emb,
            api_keys=keys,
            platform_config=flags,
            oauth_clients=clients,
            encryption=encryption,
        )
