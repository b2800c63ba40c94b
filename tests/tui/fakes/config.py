"""The configuration port: admins, provider, embedding profiles, keys, flags, OAuth clients.

Seeded as kgop's packaged schema (the platform's 0.17.1 seed rows) is; behaving as
:class:`kgop_tui.services.platform.config.ConfigService` does there
(tests/integration/test_contract.py keeps the two honest)."""

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
    OAuthClient,
    Provider,
    StoredApiKey,
    ValidationStatus,
)
from kgop_tui.services.platform.provider_keys import check_format, mask
from tests.tui.fakes.clock import NOW


def _profiles() -> list[EmbeddingProfile]:
    return [
        EmbeddingProfile(
            id=1,
            name="Nomic v1.5",
            provider="local",
            model="nomic-ai/nomic-embed-text-v1.5",
            dimensions=768,
            device="cpu",
            active=True,
        ),
        EmbeddingProfile(
            id=2,
            name="OpenAI Small",
            provider="openai",
            model="text-embedding-3-small",
            dimensions=1536,
            device=None,
            active=False,
        ),
    ]


@dataclass
class FakeConfig:
    admins: dict[str, str] = field(default_factory=dict)
    """Passwords set through the port, by username."""
    seeded: dict[str, str] = field(default_factory=lambda: {"admin": "platform_admin"})
    """The platform's seeded admins (factory password) and their roles."""
    ai: AiProviderSetting | None = field(
        default_factory=lambda: AiProviderSetting(
            provider=Provider.OPENAI, model="gpt-4o", max_tokens=16384
        )
    )
    profiles: list[EmbeddingProfile] = field(default_factory=_profiles)
    keys: dict[str, StoredApiKey] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=lambda: {"registration_enabled": "true"})
    clients: list[OAuthClient] = field(
        default_factory=lambda: [
            OAuthClient(
                client_id="kg-web",
                client_type="public",
                redirect_uris=["https://kg.example.com/callback"],
            )
        ]
    )
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
            admins=[
                AdminUser(
                    username=u, role=self.seeded.get(u, "admin"), disabled=False, groups=["admins"]
                )
                for u in sorted(self.admins)
            ],  # fmt: skip
            factory_password=sorted(set(self.seeded) - set(self.admins)),
            ai_provider=self.ai,
            embedding=active,
            api_keys=sorted(self.keys.values(), key=lambda k: k.provider),
            platform_config=dict(self.flags),
            oauth_clients=list(self.clients),
            encryption=EncryptionStatus(
                env_fingerprint="3f9c2a7d1b0e4c55",
                database_fingerprint="3f9c2a7d1b0e4c55" if self.keys else None,
                match=True if self.keys else None,
            ),
        )

    async def set_admin(self, username: str, password: str) -> tuple[bool, str]:
        from kgop_tui.services.platform.config import check_password

        self._check()
        check_password(username, password)
        created = username not in self.admins and username not in self.seeded
        self.admins[username] = password
        return created, self.seeded.get(username, "admin")

    async def set_ai_provider(self, setting: AiProviderSetting) -> str | None:
        self._check()
        kept = self.ai.max_tokens if self.ai and setting.max_tokens is None else None
        self.ai = setting.model_copy(update={"max_tokens": kept}) if kept else setting
        return None

    async def embeddings(self) -> list[EmbeddingProfile]:
        self._check()
        return list(self.profiles)

    async def set_embedding(self, profile: str, device: Device | None) -> EmbeddingProfile:
        self._check()
        chosen = next((p.id for p in self.profiles if profile in (str(p.id), p.name)), None)
        if chosen is None:
            raise UsageError(f"No embedding profile {profile!r}", hint="give an id or a name")
        self.profiles = [
            p.model_copy(
                update={
                    "active": p.id == chosen,
                    **({"device": device.value} if device and p.id == chosen else {}),
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
            provider=provider.value,
            masked_key=mask(key),
            validation_status=ValidationStatus.UNTESTED,
            last_validated_at=None,
            updated_at=NOW,
        )
        self.keys[provider.value] = stored
        return stored

    async def delete_api_key(self, provider: str) -> bool:
        self._check()
        return self.keys.pop(provider, None) is not None
