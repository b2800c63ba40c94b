"""The keys a backup needs, kept in .env only: plaintext copies of earlier releases folded
in, and the keys of a backup's sealed .env taken in (``kgop restore --secrets-passphrase-stdin``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kgop_tui.errors import ConfigInvalid, RefusedForSafety
from kgop_tui.models import BackupInfo
from kgop_tui.services.backups.backup import (
    KEY_VARIABLES,
    LEGACY_COPIES,
    RECORD,
    SEALED,
    BackupService,
    pins_of,
)
from kgop_tui.services.backups.sealed import unseal
from kgop_tui.services.files import add_encryption_keys, write_secret_file
from kgop_tui.settings import parse_env_text


def keys_in(values: dict[str, str]) -> list[str]:
    """ENCRYPTION_KEY and ENCRYPTION_KEYS_PREVIOUS (comma-separated) of a .env's values."""
    return [
        k.strip() for variable in KEY_VARIABLES for k in values.get(variable, "").split(",")
        if k.strip()
    ]  # fmt: skip


def keep_keys(service: BackupService, keys: list[str]) -> int:
    """Add the keys .env does not hold yet to ENCRYPTION_KEYS_PREVIOUS; how many."""
    # .env is read again under its lock: a rotation meanwhile keeps its retired key too.
    return add_encryption_keys(service.env_path, keys)


def scrub_plaintext(service: BackupService) -> list[Path]:
    """Remove the plaintext copies of .env earlier releases left in KG_HOME/backups.

    Their keys first join ENCRYPTION_KEYS_PREVIOUS in .env (the backups they served still
    restore), a backup's image pins move into its manifest; then the copy goes. A copy that
    cannot be read whole stays: deleting it would lose the keys it holds.
    """
    folder = service.folder
    copies = [
        p
        for pattern in LEGACY_COPIES
        for p in (folder.glob(pattern) if folder.is_dir() else [])
        if p.is_file() and not p.is_symlink()
    ]
    if not copies:
        return []
    known = service._known_keys()
    folded: list[Path] = []  # what was read whole: only these go
    for copy in copies:
        try:
            values = {k: e.value for k, e in parse_env_text(copy.read_text()).items()}
        except (OSError, UnicodeDecodeError, ConfigInvalid):
            continue  # not readable as a .env: left where it is, its keys unread
        known += keys_in(values)
        record = copy.parent / RECORD
        if copy.name == "env" and record.is_file():
            try:
                info = BackupInfo.model_validate_json(record.read_text())
            except ValueError:
                continue
            if not info.images:
                updated = info.model_copy(update={"images": pins_of(values)})
                write_secret_file(record, updated.model_dump_json(indent=2).encode())
        folded.append(copy)
    keep_keys(service, known)
    for copy in folded:
        copy.unlink()
    return folded


def open_secrets(service: BackupService, info: BackupInfo, passphrase: str) -> int:
    """Open the backup's sealed .env with ``passphrase``; the keys in it that .env lacks
    join ENCRYPTION_KEYS_PREVIOUS. Returns how many were added."""
    sealed = Path(info.path) / SEALED
    if info.secrets_sha256 is None or not sealed.is_file():
        raise RefusedForSafety(
            f"{info.path} holds no copy of the secrets",
            hint="only backups taken with `kgop backup --with-secrets` have one",
        )
    blob = sealed.read_bytes()
    if hashlib.sha256(blob).hexdigest() != info.secrets_sha256:
        raise RefusedForSafety(
            f"The copy of the secrets in {info.path} does not match its checksum",
            hint="pick another backup taken with --with-secrets",
        )
    plain = unseal(blob, passphrase, info.dump_sha256.encode())
    values = parse_env_text(plain.decode("utf-8"), source="the sealed .env")
    return keep_keys(service, keys_in({k: e.value for k, e in values.items()}))
