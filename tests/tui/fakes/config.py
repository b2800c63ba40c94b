"""The configuration port: admins, provider, embedding profiles, keys."""

from __future__ import annotations

from dataclasses import dataclass, field

from kgop_tui.errors import (
    DatabaseUnavailable,
    UsageError,
)
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
from kgop_tui.services.provider_keys import check_format, mask
from tests.tui.fakes.clock import NOW


def _profiles() -> list[EmbeddingProfile]:
    return [
        EmbeddingProfile(
            name="local-minilm",
            provider="local",
            model="all-MiniLM-L6-v2",
            dimensions=384,
            device=Device.CPU,
            active=True,
        ),
        EmbeddingProfile(
            name="openai-small",
            provider="openai",
            model="text-embedding-3-small",
            dimensions=1536,
            device=Device.CPU,
            active=False,
        ),
    ]


@dataclass
class FakeConfig:
    admins: dict[str, str] = field(default_factory=dict)
    ai: AiProviderSetting | None = None
    profiles: list[EmbeddingProfile] = field(default_factory=_profiles)
    keys: dict[Provider, StoredApiKey] = field(default_factory=dict)
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise DatabaseUnavailable(
                "Cannot reach Postgres at postgres:5432/knowledge_graph", hint="start it"
            )

    async def status(self) -> ConfigStatus:
        self._check()
        active = next((p for p in self.profiles if p.active), None)
        return ConfigStatus(
            admins=[AdminUser(username=u, disabled=False, updated_at=NOW) for u in self.admins],
            ai_provider=self.ai,
            embedding=active,
            api_keys=sorted(self.keys.values(), key=lambda k: k.provider.value),
            encryption=EncryptionStatus(
                env_fingerprint="3f9c2a7d1b0e4c55",
                database_fingerprint="3f9c2a7d1b0e4c55" if self.keys else None,
                match=True if self.keys else None,
            ),
        )

    async def set_admin(self, username: str, password: str) -> bool:
        from kgop_tui.services.config import check_password

        self._check()
        check_password(username, password)
        created = username not in self.admins
        self.admins[username] = password
        return created

    async def set_ai_provider(self, setting: AiProviderSetting) -> None:
        self._check()
        self.ai = setting

    async def embeddings(self) -> list[EmbeddingProfile]:
        self._check()
        return list(self.profiles)

    async def set_embedding(self, name: str, device: Device | None) -> EmbeddingProfile:
        self._check()
        if name not in {p.name for p in self.profiles}:
            raise UsageError(f"No embedding profile named {name!r}", hint="see the list")
        self.profiles = [
            p.model_copy(
                update={
                    "active": p.name == name,
                    **({"device": device} if device and p.name == name else {}),
                }
            )
            for p in self.profiles
        ]
        return next(p for p in self.profiles if p.active)

    async def add_api_key(
        self, provider: Provider, key: str, validate: bool = True
    ) -> StoredApiKey:
        self._check()
        key = check_format(provider, key)
        stored = StoredApiKey(
            provider=provider,
            key_hint=mask(key),
            validation_status=ValidationStatus.UNTESTED,
            validated_at=None,
            updated_at=NOW,
        )
        self.keys[provider] = stored
        return stored

    async def delete_api_key(self, provider: Provider) -> bool:
        self._check()
        return self.keys.pop(provider, None) is not None
