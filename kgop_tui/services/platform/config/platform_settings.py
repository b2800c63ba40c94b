"""The platform's flags (``kg_api.platform_config``) and its OAuth clients' redirect URIs.

Flags go through the platform's own functions ``kg_api.get_platform_config`` and
``kg_api.set_platform_config`` (as its operator, ``operator/configure.py:113-176``); the api
reads them the same way (``api/app/routes/auth.py:120``: ``registration_enabled``). kg-web's
redirect URIs are ``kg_auth.oauth_clients.redirect_uris`` (``operator/configure.py:751-817``),
which the api checks a login's redirect against (``api/app/routes/oauth.py:1163``, ``:1191``).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import asyncpg

from kgop_tui.errors import UsageError
from kgop_tui.models import OAuthClient
from kgop_tui.services.platform.config.base import ConfigBase

UPDATED_BY = "operator"
"""Who ``set_platform_config`` records, as the platform's operator records itself."""
_KEY = re.compile(r"[a-z][a-z0-9_.]{0,99}")  # platform_config.key: varchar(100)


def check_redirect_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise UsageError(
            f"{uri!r} is not a redirect URI",
            hint="give an absolute http(s) URL without a fragment, e.g. https://kg.example.com/callback",
        )
    return uri


class PlatformSettings(ConfigBase):
    """Platform flags and OAuth clients."""

    async def platform_config(self) -> dict[str, str]:
        async with self._conn("platform-config") as conn:
            return await _flags(conn)

    async def get_platform_config(self, key: str) -> str | None:
        async with self._conn("platform-config") as conn:
            value = await conn.fetchval("SELECT kg_api.get_platform_config($1)", key)
        return None if value is None else str(value)

    async def set_platform_config(self, key: str, value: str) -> bool:
        """Set ``key``; True when it was not there before (likely a typo: the platform's
        migrations seed every key it reads)."""
        if not _KEY.fullmatch(key):
            raise UsageError(
                f"{key!r} is not a platform setting name",
                hint="see `kgop configure platform-config --list`",
            )
        async with self._conn("platform-config") as conn, conn.transaction():
            new = not await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM kg_api.platform_config WHERE key = $1)", key
            )
            await conn.execute("SELECT kg_api.set_platform_config($1, $2, $3)", key, value,
                               UPDATED_BY)  # fmt: skip
        return new

    async def oauth_clients(self) -> list[OAuthClient]:
        async with self._conn("oauth") as conn:
            return await _clients(conn)

    async def set_redirect_uris(self, client_id: str, uris: list[str]) -> OAuthClient:
        checked = [check_redirect_uri(u.strip()) for u in uris]
        async with self._conn("oauth") as conn:
            row = await conn.fetchrow(
                "UPDATE kg_auth.oauth_clients SET redirect_uris = $2 WHERE client_id = $1 "
                "RETURNING client_id, client_type, coalesce(redirect_uris, '{}') AS redirect_uris",
                client_id,
                checked,
            )
            if row is None:
                known = ", ".join(c.client_id for c in await _clients(conn)) or "none"
                raise UsageError(f"No OAuth client {client_id!r}", hint=f"clients: {known}")
        return OAuthClient.model_validate(dict(row))


async def _flags(conn: asyncpg.Connection) -> dict[str, str]:
    if not await conn.fetchval("SELECT to_regclass('kg_api.platform_config') IS NOT NULL"):
        return {}
    rows = await conn.fetch("SELECT key, value FROM kg_api.platform_config ORDER BY key")
    return {str(r["key"]): str(r["value"]) for r in rows}


async def _clients(conn: asyncpg.Connection) -> list[OAuthClient]:
    if not await conn.fetchval("SELECT to_regclass('kg_auth.oauth_clients') IS NOT NULL"):
        return []
    rows = await conn.fetch(
        "SELECT client_id, client_type, coalesce(redirect_uris, '{}') AS redirect_uris "
        "FROM kg_auth.oauth_clients ORDER BY client_id"
    )
    return [OAuthClient.model_validate(dict(r)) for r in rows]
