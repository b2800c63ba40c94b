"""The sealed copy of the secrets: its cost to guess at, old copies, weak passphrases."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kgop_tui.errors import UsageError
from kgop_tui.services.backups import sealed
from tests.support.helpers import kgop_env, run_kgop

CONTEXT = b"sha256 of the dump"
SECRET = b"ENCRYPTION_KEY=old-key\n"


def sealed_before(passphrase: str) -> bytes:
    """A copy as kgop sealed it before N was raised: N = 2**15, recorded in the file."""
    salt, nonce = os.urandom(16), os.urandom(12)
    key = sealed._key(passphrase, salt, 2**15, 8, 1)
    doc = {
        "format": sealed.FORMAT,
        "kdf": {"name": "scrypt", "n": 2**15, "r": 8, "p": 1},
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(AESGCM(key).encrypt(nonce, SECRET, CONTEXT)).decode(),
    }
    return json.dumps(doc).encode()


def test_new_copies_cost_owasp_s_minimum_and_old_ones_still_open() -> None:
    blob = sealed.seal(SECRET, "correct horse battery staple", CONTEXT)
    assert json.loads(blob)["kdf"]["n"] >= 2**17
    assert sealed.unseal(blob, "correct horse battery staple", CONTEXT) == SECRET
    old = sealed_before("Tr0ub4dor&3-passphrase")
    assert sealed.unseal(old, "Tr0ub4dor&3-passphrase", CONTEXT) == SECRET


@pytest.mark.parametrize(
    ("passphrase", "why"),
    [
        ("short", "shorter than 12"),
        ("aaaaaaaaaaaaaaaa", "fewer than 8 different"),
        ("123412341234", "fewer than 8 different"),
        ("qwertyuiopas", "all one kind"),
        ("314159265358", "all one kind"),
    ],
)
def test_weak_passphrases_are_refused_before_anything_is_sealed(passphrase: str, why: str) -> None:
    with pytest.raises(UsageError, match=why) as caught:
        sealed.seal(SECRET, passphrase, CONTEXT)
    assert "--generate-passphrase" in (caught.value.hint or "")


@pytest.mark.parametrize(
    "passphrase",
    ["correct horse battery staple", "Qwertyuiopas", "r7-Kx9pLm2qZ", "thequickbrownfoxjumps"],
)
def test_reasonable_passphrases_pass(passphrase: str) -> None:
    assert sealed.passphrase_problem(passphrase) is None


def test_generated_passphrases_pass_and_differ() -> None:
    made = {sealed.generate_passphrase() for _ in range(20)}
    assert len(made) == 20
    assert all(sealed.passphrase_problem(p) is None and len(p) == 24 for p in made)


def test_backup_refuses_a_weak_passphrase_with_exit_2_and_a_hint(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=kg\n")
    (tmp_path / ".env").chmod(0o600)
    done = run_kgop("backup", "--with-secrets", env=kgop_env(tmp_path), stdin="aaaaaaaaaaaa\n")
    assert done.returncode == 2, done.stderr
    assert "fewer than 8 different characters" in done.stderr
    assert "Hint:" in done.stderr
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())


def test_a_generated_passphrase_is_never_written_where_no_one_sees_it(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=kg\n")
    (tmp_path / ".env").chmod(0o600)
    done = run_kgop("backup", "--generate-passphrase", env=kgop_env(tmp_path))
    assert done.returncode == 2, done.stderr
    assert "on a terminal" in done.stderr
