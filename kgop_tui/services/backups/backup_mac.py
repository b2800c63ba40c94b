"""A backup's signature: HMAC-SHA256 under ``KG_BACKUP_KEY`` over what a restore trusts.

A restore runs the dump's SQL as the database's superuser. A SHA-256 beside the dump only
tells a damaged copy from a whole one: whoever can change a copy kept off the host can
rewrite the dump *and* its checksum. The MAC closes that: it is keyed from a secret that
lives in ``.env`` only (``KG_BACKUP_KEY``, 32 random bytes, urlsafe base64), which a copy
of the backups never holds.

What is signed, exactly (format 1)::

    HMAC-SHA256(key, b"kgop-backup-mac-1\\n" + dump_sha256 + b"\\n" + canonical(manifest))

- ``dump_sha256``: the SHA-256 of ``database.dump`` in lowercase hex. On a restore it is
  computed from the file itself, not read from the manifest.
- ``manifest``: the JSON object in ``backup.json`` as stored, every field except ``mac``
  (versions, image pins, schema, key fingerprint, row and graph counts, the sealed secrets'
  SHA-256, the folder it was written in, ...); ``canonical`` is JSON with sorted keys, no
  whitespace, ASCII only. A manifest with a duplicated key is refused outright, so what is
  checked is what is read.
- ``key``: the 32 bytes of ``KG_BACKUP_KEY``. ``mac.key_id`` names the key that signed
  (an HMAC of a fixed label, not the key) so a backup of another install is told apart from
  a changed one. ``secrets.sealed`` is covered through its SHA-256 in the manifest and its
  own AES-GCM tag.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from kgop_tui.errors import ConfigInvalid, RefusedForSafety
from kgop_tui.models import BackupInfo, BackupMac, CheckedBackup
from kgop_tui.services.files import env_lock, update_env_file
from kgop_tui.settings import read_env_file

KEY_VARIABLE = "KG_BACKUP_KEY"
ALGORITHM = "hmac-sha256"
DOMAIN = b"kgop-backup-mac-1\n"
FIELD = "mac"
VERIFIED, UNSIGNED, OTHER_KEY, INVALID = "verified", "unsigned", "other-key", "invalid"
ACCEPT_FLAG = "--accept-unsigned"


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode() + b"=" * (-len(text.strip()) % 4))
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise ConfigInvalid(
            f"{KEY_VARIABLE} in .env is not 32 bytes in urlsafe base64",
            hint="put back the value from your copy of .env, or remove the line: the next "
            "backup makes a new key (backups signed with the old one then need "
            f"{ACCEPT_FLAG})",
        )
    return key


def read_key(env_path: Path) -> bytes | None:
    """This install's backup key, or None when .env has none yet."""
    entry = read_env_file(env_path).get(KEY_VARIABLE)
    return decode_key(entry.value) if entry is not None and entry.value.strip() else None


def listing_key(env_path: Path) -> bytes | None:
    """The key to show backups' signatures with: none when .env cannot give one (a list
    still lists; a restore reads the key with :func:`read_key` and says what is wrong)."""
    try:
        return read_key(env_path)
    except ConfigInvalid:
        return None


def ensure_key(env_path: Path) -> bytes:
    """This install's backup key, made and written to .env (0600) when it has none.

    Read again under the .env lock: two backups that start together agree on one key.
    """
    key = read_key(env_path)
    if key is not None:
        return key
    with env_lock(env_path.parent):
        key = read_key(env_path)
        if key is None:
            text = new_key()
            update_env_file(env_path, {KEY_VARIABLE: text})
            key = decode_key(text)
    return key


def key_id(key: bytes) -> str:
    """A short, one-way name of a key: safe to store in a manifest and to show."""
    return hmac.new(key, b"kgop-backup-key-id", hashlib.sha256).hexdigest()[:16]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name, value in pairs:
        if name in doc:
            raise ValueError(f"duplicate key {name!r}")
        doc[name] = value
    return doc


def parse_manifest(text: str) -> dict[str, Any]:
    """``backup.json`` as a JSON object; ValueError when it is not one (or repeats a key)."""
    doc = json.loads(text, object_pairs_hook=_no_duplicates)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc


def _message(doc: dict[str, Any], dump_sha256: str) -> bytes:
    body = {k: v for k, v in doc.items() if k != FIELD}
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return DOMAIN + dump_sha256.encode("ascii") + b"\n" + canonical.encode("ascii")


def _mac(key: bytes, doc: dict[str, Any], dump_sha256: str) -> str:
    return hmac.new(key, _message(doc, dump_sha256), hashlib.sha256).hexdigest()


def signed_manifest(info: BackupInfo, key: bytes) -> bytes:
    """The text of ``backup.json`` for ``info``, signed with ``key``."""
    doc = json.loads(info.model_dump_json(exclude={FIELD}))
    mac = BackupMac(algorithm=ALGORITHM, key_id=key_id(key), value=_mac(key, doc, info.dump_sha256))
    doc[FIELD] = mac.model_dump()
    return (json.dumps(doc, indent=2) + "\n").encode()


def verdict(doc: dict[str, Any], dump_sha256: str, key: bytes | None) -> str:
    """verified, unsigned, other-key or invalid: what the manifest's MAC says of the backup."""
    raw = doc.get(FIELD)
    if raw is None:
        return UNSIGNED
    try:
        mac = BackupMac.model_validate(raw)
    except ValueError:
        return INVALID
    if mac.algorithm != ALGORITHM:
        return INVALID
    if key is None or not hmac.compare_digest(mac.key_id, key_id(key)):
        return OTHER_KEY
    try:
        expected = _mac(key, doc, dump_sha256)
    except ValueError:  # NaN or a non-ASCII checksum: never what kgop writes
        return INVALID
    good = hmac.compare_digest(mac.value.encode(), expected.encode())
    return VERIFIED if good else INVALID


def checked(
    doc: dict[str, Any], folder: Path, dump_sha256: str, key: bytes | None
) -> CheckedBackup:
    """The manifest as a model, with its verdict; the path is the folder it was found in."""
    found = verdict(doc, dump_sha256, key)
    body = {**doc, "path": str(folder), "signature": found}
    if found == INVALID:
        try:
            BackupMac.model_validate(doc.get(FIELD))
        except ValueError:
            body[FIELD] = None  # a garbled signature: ``invalid``, never read further
    return CheckedBackup.model_validate(body)


def require_verified(info: CheckedBackup, accept_unsigned: bool, has_key: bool) -> None:
    """Refuse (exit 4) a backup whose MAC does not verify here; ``accept_unsigned`` lets an
    unsigned one, or one signed by another install, through. A changed one never passes."""
    folder = info.path
    if info.signature == VERIFIED:
        return
    if info.signature == INVALID:
        raise RefusedForSafety(
            f"{folder} was changed after it was written: its signature does not match its "
            "dump and manifest, so none of its SQL was run",
            hint="restore another backup (`kgop backup --list`), and check who can write "
            "where the backups are kept",
        )
    if accept_unsigned:
        return
    if info.signature == UNSIGNED:
        raise RefusedForSafety(
            f"{folder} is not signed (made by kgop {info.kgop_version}, before backups were "
            "signed): nothing shows its dump is the one written",
            hint=f"restore it with {ACCEPT_FLAG} if you trust where it was kept",
        )
    whose = "another install's KG_BACKUP_KEY" if has_key else "a KG_BACKUP_KEY this .env lacks"
    mac = info.mac.key_id if info.mac else "?"
    raise RefusedForSafety(
        f"{folder} was signed with {whose} (key id {mac}), so it cannot be verified here",
        hint=f"put that install's {KEY_VARIABLE} into .env (keep it with .env), or restore "
        f"with {ACCEPT_FLAG} if you trust this copy",
    )


def describe_signature(signature: str) -> str:
    return {
        VERIFIED: "signed",
        UNSIGNED: "UNSIGNED",
        OTHER_KEY: "signed with another KG_BACKUP_KEY",
        INVALID: "SIGNATURE DOES NOT VERIFY",
    }.get(signature, signature)
