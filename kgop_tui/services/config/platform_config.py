"""The AI extraction provider and the embedding profile."""

from __future__ import annotations

from kgop_tui.errors import UsageError
from kgop_tui.models import (
    AiProviderSetting,
    Device,
    EmbeddingProfile,
)
from kgop_tui.services.config.base import ConfigBase


class PlatformConfig(ConfigBase):
    """Which AI provider extracts, and which embedding profile is active."""

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
