"""A passphrase-sealed copy of secrets (a backup's ``.env``): scrypt, then AES-256-GCM.

The file is JSON: the format, scrypt's parameters and salt, the nonce and the ciphertext.
The key is derived from the passphrase with scrypt (memory-hard, so a stolen copy is slow to
guess at); AES-GCM authenticates as it decrypts, so a wrong passphrase or a changed byte is
refused, never decrypted into garbage. ``context`` (the backup's dump checksum) is bound as
associated data: a sealed copy moved beside another dump does not open.
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
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE = 12


def _key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def seal(data: bytes, passphrase: str, context: bytes) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE:
        raise UsageError(
            f"The passphrase is shorter than {MIN_PASSPHRASE} characters",
            hint="choose a longer one; it is the only way to open the copy of the secrets",
        )
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
