"""The encryption keys of stored secrets: Fernet, fingerprints and the key canary.

``ENCRYPTION_KEY`` (in ``.env``) encrypts provider API keys and other stored secrets.
A fingerprint of the key that encrypted them is kept in the database
(``kgop.key_canary``); kgop refuses to read or write encrypted values when the key
it holds does not match, *before* touching anything — the failure that otherwise surfaces
weeks later as "credentials could not be decrypted".

During a rotation ``.env`` also holds ``ENCRYPTION_KEYS_PREVIOUS``: values encrypted with
any of the keys decrypt (MultiFernet), new ones are written with the primary key.
"""

from __future__ import annotations

import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from kgop_tui.errors import ConfigInvalid, OperationFailed
from kgop_tui.settings import Settings

CANARY_PLAINTEXT = b"kgop-encryption-canary"


def fingerprint(key: str) -> str:
    """A short, one-way identifier of a key: safe to show and to store."""
    return hashlib.sha256(b"kgop-key-fingerprint:" + key.encode()).hexdigest()[:16]


def generate_key() -> str:
    return Fernet.generate_key().decode()


def _fernet(key: str, name: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except (ValueError, TypeError):
        raise ConfigInvalid(
            f"{name} in .env is not a valid Fernet key",
            hint="it must be 32 url-safe base64-encoded bytes; restore it from your backup of .env",
        ) from None


class KeyRing:
    """The primary key and any keys being rotated out."""

    def __init__(self, primary: str, previous: list[str] | None = None) -> None:
        self.primary = primary
        self.previous = previous or []
        fernets = [_fernet(primary, "ENCRYPTION_KEY")]
        fernets += [_fernet(k, "ENCRYPTION_KEYS_PREVIOUS") for k in self.previous]
        self._multi = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        if settings.encryption_key is None:
            raise ConfigInvalid(
                "ENCRYPTION_KEY is not set in .env",
                hint="install.sh generates it; restore .env from your backup if it was lost",
            )
        previous = settings.encryption_keys_previous
        extra = [k for k in (previous.get_secret_value() if previous else "").split(",") if k]
        return cls(settings.encryption_key.get_secret_value(), extra)

    @property
    def fingerprints(self) -> list[str]:
        return [fingerprint(k) for k in [self.primary, *self.previous]]

    @property
    def primary_fingerprint(self) -> str:
        return fingerprint(self.primary)

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._multi.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._multi.decrypt(token)
        except InvalidToken:
            raise OperationFailed(
                "A stored secret does not decrypt with the keys in .env",
                hint="restore ENCRYPTION_KEY from your backup of .env",
            ) from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt a token under the primary key."""
        try:
            return self._multi.rotate(token)
        except InvalidToken:
            raise OperationFailed(
                "A stored secret does not decrypt with the keys in .env",
                hint="restore ENCRYPTION_KEY from your backup of .env",
            ) from None
