"""The AI extraction provider and the embedding profile, as the platform's operator writes
them (``operator/configure.py``: ``cmd_ai_provider`` lines 178-249, ``cmd_embedding``
lines 251-321) and its api reads them (``api/app/lib/ai_extraction_config.py:15``
``load_active_extraction_config``; ``api/app/lib/embedding_config.py:73``
``load_active_embedding_config``: the one row ``WHERE active = TRUE``)."""

from __future__ import annotations

import asyncpg

from kgop_tui.errors import UsageError
from kgop_tui.models import AiProviderSetting, Device, EmbeddingProfile
from kgop_tui.services.platform.config.base import ConfigBase

PROFILE_COLUMNS = (
    "id, name, text_provider AS provider, text_model_name AS model, "
    "text_dimensions AS dimensions, device, active"
)


class PlatformConfig(ConfigBase):
    """Which AI provider extracts, and which embedding profile is active."""

    async def set_ai_provider(self, setting: AiProviderSetting) -> str | None:
        """Make ``setting`` the one active extraction config; a warning when the model is not
        an enabled extraction model of the platform's catalog (written all the same)."""
        provider, model = setting.provider.value, setting.model
        async with self._conn("ai-provider") as conn, conn.transaction():
            await conn.execute("LOCK TABLE kg_api.ai_extraction_config IN EXCLUSIVE MODE")
            # The table is UNIQUE(provider) with one active row: a stored row of this provider
            # becomes the active one; else the platform's upsert on the active row.
            own = await conn.fetchval(
                "SELECT id FROM kg_api.ai_extraction_config WHERE provider = $1", provider
            )
            if own is not None:
                await conn.execute(
                    "UPDATE kg_api.ai_extraction_config SET active = false "
                    "WHERE active AND id <> $1",
                    own,
                )
                await conn.execute(
                    "UPDATE kg_api.ai_extraction_config SET model_name = $2, "
                    "max_tokens = coalesce($3, max_tokens), active = true, updated_at = now() "
                    "WHERE id = $1",
                    own,
                    model,
                    setting.max_tokens,
                )
            else:
                await conn.execute(
                    "INSERT INTO kg_api.ai_extraction_config (provider, model_name, "
                    "supports_vision, supports_json_mode, max_tokens, active) "
                    "VALUES ($1, $2, true, true, $3, true) "
                    "ON CONFLICT (active) WHERE active = true DO UPDATE SET "
                    "provider = EXCLUDED.provider, model_name = EXCLUDED.model_name, "
                    "max_tokens = coalesce(EXCLUDED.max_tokens, "
                    "kg_api.ai_extraction_config.max_tokens), updated_at = now()",
                    provider,
                    model,
                    setting.max_tokens,
                )
            return await _catalog_warning(conn, provider, model)

    async def ai_provider(self) -> AiProviderSetting | None:
        async with self._conn("ai-provider") as conn:
            return await _active_provider(conn)

    async def embeddings(self) -> list[EmbeddingProfile]:
        async with self._conn("embedding") as conn:
            rows = await conn.fetch(
                f"SELECT {PROFILE_COLUMNS} FROM kg_api.embedding_profile ORDER BY id"
            )
        return [EmbeddingProfile.model_validate(dict(r)) for r in rows]

    async def set_embedding(self, profile: str, device: Device | None) -> EmbeddingProfile:
        """Activate the profile named by id or stored name (exact, else the only one equal
        ignoring case), optionally setting its device."""
        async with self._conn("embedding") as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, name FROM kg_api.embedding_profile ORDER BY id FOR UPDATE"
            )
            chosen = _choose(profile, [(int(r["id"]), str(r["name"])) for r in rows])
            await conn.execute("UPDATE kg_api.embedding_profile SET active = false WHERE active")
            row = await conn.fetchrow(
                "UPDATE kg_api.embedding_profile SET active = true, "
                "device = coalesce($2, device) WHERE id = $1 "
                f"RETURNING {PROFILE_COLUMNS}",
                chosen,
                device.value if device else None,
            )
        assert row is not None  # chosen among the rows locked above
        return EmbeddingProfile.model_validate(dict(row))


def _choose(wanted: str, profiles: list[tuple[int, str]]) -> int:
    if wanted.isdigit() and any(pid == int(wanted) for pid, _ in profiles):
        return int(wanted)
    exact = [pid for pid, name in profiles if name == wanted]
    loose = [pid for pid, name in profiles if name.casefold() == wanted.casefold()]
    if exact or len(loose) == 1:
        return (exact or loose)[0]
    listed = ", ".join(f"{pid} ({name})" for pid, name in profiles) or "none"
    raise UsageError(
        f"No embedding profile {wanted!r}",
        hint=f"give an id or a name: {listed}",
    )


async def _active_provider(conn: asyncpg.Connection) -> AiProviderSetting | None:
    row = await conn.fetchrow(
        "SELECT provider, model_name AS model, max_tokens FROM kg_api.ai_extraction_config "
        "WHERE active LIMIT 1"
    )
    return AiProviderSetting.model_validate(dict(row)) if row else None


async def _active_embedding(conn: asyncpg.Connection) -> EmbeddingProfile | None:
    row = await conn.fetchrow(
        f"SELECT {PROFILE_COLUMNS} FROM kg_api.embedding_profile WHERE active LIMIT 1"
    )
    return EmbeddingProfile.model_validate(dict(row)) if row else None


async def _catalog_warning(conn: asyncpg.Connection, provider: str, model: str) -> str | None:
    """The platform's check (``operator/configure.py:211-225``): warn, never refuse."""
    if not await conn.fetchval("SELECT to_regclass('kg_api.provider_model_catalog') IS NOT NULL"):
        return None
    enabled = await conn.fetchval(
        "SELECT enabled FROM kg_api.provider_model_catalog "
        "WHERE provider = $1 AND model_id = $2 AND category = 'extraction'",
        provider,
        model,
    )
    if enabled is None:
        return f"model {model!r} is not in the platform's {provider} model catalog"
    if not enabled:
        return f"model {model!r} is in the platform's {provider} catalog but not enabled"
    return None
