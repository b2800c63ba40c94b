"""A passphrase-sealed copy of secrets (a backup's ``.env``): scrypt, then AES-256-GCM.

The file is JSON: the format, scrypt's parameters and salt, the nonce and the ciphertext.
The key is derived from the passphrase with scrypt (memory-hard, so a stolen copy is slow to
guess at); AES-GCM authenticates as it decrypts, so a wrong passphrase or a changed byte is
refused, never decrypted into garbage. ``context`` (the backup's dump checksum) is bound as
associated data: a sealed copy moved beside another dump does not open.

New copies are sealed with N = 2**17 (OWASP's minimum for scrypt; ~0.3 s and 128 MiB per
try). Each file records its own parameters, so copies sealed before (N = 2**15) still open.
"""

from __future__ import annotations

import base64
import json
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from kgop_tui.errors import RefusedForSafety, UsageError

FORMAT = "kgop-sealed-1"
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE = 12
MIN_DISTINCT = 8
LONG_PASSPHRASE = 20
_GENERATED_GROUPS = 5  # of 4 characters of 32: 100 bits


def passphrase_problem(passphrase: str) -> str | None:
    """Why ``passphrase`` is too weak to seal with, or None.

    A stolen backup can be guessed at offline for as long as the thief likes, so length
    alone is not enough: ``aaaaaaaaaaaa`` and ``123412341234`` have it. Required: at least
    12 characters, at least 8 different ones, and two kinds of characters (lowercase,
    uppercase, digits, others such as spaces) unless it has 20 characters or more (a
    phrase of several words, which is long instead).
    """
    if len(passphrase) < MIN_PASSPHRASE:
        return f"is shorter than {MIN_PASSPHRASE} characters"
    if len(set(passphrase)) < MIN_DISTINCT:
        return f"has fewer than {MIN_DISTINCT} different characters"
    kinds = {
        "lower" if c.islower() else "upper" if c.isupper() else "digit" if c.isdigit() else "other"
        for c in passphrase
    }
    if len(kinds) < 2 and len(passphrase) < LONG_PASSPHRASE:
        return f"is all one kind of character and shorter than {LONG_PASSPHRASE}"
    return None


def check_passphrase(passphrase: str) -> None:
    """Refuse (exit 2, with a hint) a passphrase :func:`passphrase_problem` finds weak."""
    problem = passphrase_problem(passphrase)
    if problem is not None:
        raise UsageError(
            f"The passphrase {problem}",
            hint=f"use {MIN_PASSPHRASE}+ characters, {MIN_DISTINCT}+ different, mixing letters "
            f"with digits, capitals or spaces (or {LONG_PASSPHRASE}+ characters, several "
            "words), or let `--generate-passphrase` make one; it is the only way to open the "
            "copy of the secrets",
        )


def generate_passphrase() -> str:
    """A random passphrase: groups of lowercase letters and digits, easy to copy by hand."""
    import secrets

    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"  # 32 characters, none mistaken for another
    groups = ("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(_GENERATED_GROUPS))
    return "-".join(groups)


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal(data: bytes, passphrase: str, context: bytes) -> bytes:
    check_passphrase(passphrase)
    salt, nonce = os.urandom(16), os.urandom(12)
    key = _key(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    sealed = AESGCM(key).encrypt(nonce, data, context)
    doc = {
        "format": FORMAT,
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
        "salt": base64.b64encode(salt).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def unseal(blob: bytes, passphrase: str, context: bytes) -> bytes:
    try:
        doc = json.loads(blob)
        if doc.get("format") != FORMAT or doc["kdf"]["name"] != "scrypt":
            raise ValueError(doc.get("format"))
        n, r, p = (int(doc["kdf"][k]) for k in ("n", "r", "p"))
        if not (2**10 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError("scrypt parameters out of range")
        salt, nonce, sealed = (base64.b64decode(doc[k]) for k in ("salt", "nonce", "ciphertext"))
    except (ValueError, KeyError, TypeError):
        raise RefusedForSafety(
            "The sealed copy of the secrets is damaged or not a kgop file",
            hint="pick another backup taken with --with-secrets",
        ) from None
    try:
        return AESGCM(_key(passphrase, salt, n, r, p)).decrypt(nonce, sealed, context)
    except InvalidTag:
        raise RefusedForSafety(
            "Wrong passphrase for the backup's copy of the secrets (or the copy was changed)",
            hint="give the passphrase used with `kgop backup --with-secrets`",
        ) from None


def read_passphrase(from_stdin: bool, confirm: bool) -> str:
    """The passphrase: the first line of stdin, or asked on the terminal (twice for a new one)."""
    import getpass

    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        passphrase = line.rstrip("\r\n")
    else:
        passphrase = getpass.getpass("Passphrase for the copy of the secrets: ")
        if confirm and getpass.getpass("Again: ") != passphrase:
            raise UsageError("The two passphrases differ", hint="type the same one twice")
    if not passphrase:
        raise UsageError(
            "No passphrase was given", hint="pipe it on stdin, or run on a terminal to be asked"
        )
    return passphrase
