"""Retired encryption keys in .env only ever grow: each writer re-reads .env under its lock."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

from kgop_tui.services.files import add_encryption_keys
from kgop_tui.settings import read_env_file


def keys() -> list[str]:
    return [Fernet.generate_key().decode() for _ in range(4)]


def values(path: Path) -> dict[str, str]:
    return {k: e.value for k, e in read_env_file(path).items()}


def test_a_rotation_that_read_env_before_a_restore_keeps_the_restored_key(tmp_path: Path) -> None:
    old, new, from_backup, retired_earlier = keys()
    env = tmp_path / ".env"
    env.write_text(f"ENCRYPTION_KEY={old}\nENCRYPTION_KEYS_PREVIOUS={retired_earlier}\n# note\n")
    # The rotation read .env (old + retired_earlier) at its start; a restore then added the
    # backup's key; the rotation writes what it knew.
    assert add_encryption_keys(env, [from_backup]) == 1
    added = add_encryption_keys(env, [old, retired_earlier], primary=new)
    after = values(env)
    assert after["ENCRYPTION_KEY"] == new
    assert set(after["ENCRYPTION_KEYS_PREVIOUS"].split(",")) == {old, retired_earlier, from_backup}
    assert added == 1  # old joined; the others were there
    assert "# note" in env.read_text()
    assert env.stat().st_mode & 0o777 == 0o600


def test_a_restore_that_read_env_before_a_rotation_keeps_the_retired_key(tmp_path: Path) -> None:
    old, new, from_backup, _ = keys()
    env = tmp_path / ".env"
    env.write_text(f"ENCRYPTION_KEY={old}\n")
    add_encryption_keys(env, [old], primary=new)  # the rotation, first this time
    assert add_encryption_keys(env, [from_backup, old]) == 1  # the restore's keys
    after = values(env)
    assert after["ENCRYPTION_KEY"] == new
    assert set(after["ENCRYPTION_KEYS_PREVIOUS"].split(",")) == {old, from_backup}


def test_the_primary_key_is_never_listed_as_retired(tmp_path: Path) -> None:
    old, *_ = keys()
    env = tmp_path / ".env"
    env.write_text(f"ENCRYPTION_KEY={old}\n")
    assert add_encryption_keys(env, [old]) == 0
    assert values(env).get("ENCRYPTION_KEYS_PREVIOUS", "") == ""
