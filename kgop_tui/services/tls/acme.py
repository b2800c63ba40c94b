"""ACME certificates (RFC 8555, http-01) with the ``acme`` library, the one certbot is
built on: one certificate for one hostname.

The challenge file is written under a webroot that nginx serves at
``/.well-known/acme-challenge/``. The account key is kept in ``KG_HOME/acme/`` (beside the
certificates' folder, which nginx mounts, not in it) so renewals reuse the account. Works
against Let's Encrypt and against Pebble (the ACME test server).

What the server sends is not trusted: the directory must be https, every request goes to
the directory's own origin (checked on each request the library makes), a challenge token
must be a plain base64url word before it names a file (the library already refuses other
tokens when it decodes them), and a new certificate replaces the old one only after it is
checked against its key and hostname.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.errors import DeserializationError
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from kgop_tui.errors import OperationFailed
from kgop_tui.services.files import write_secret_file

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
BAD_NONCE_TRIES = 8
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def check_token(token: object) -> str:
    """A challenge token as RFC 8555 defines it (base64url): anything else would be a path."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise OperationFailed(
            f"The ACME server sent a challenge token that is not a base64url word: {token!r:.60}",
            hint="refused before writing any file; check KG_ACME_DIRECTORY",
        )
    return token


def origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, parts.netloc


def check_url(url: object, directory: str) -> str:
    """A URL the server handed out: only on the directory's own https origin."""
    if not isinstance(url, str) or origin(url) != origin(directory):
        raise OperationFailed(
            f"The ACME server pointed kgop at {url!r:.80}, outside {directory}",
            hint="refused; check KG_ACME_DIRECTORY",
        )
    return url


def account_key_path(cert_path: Path) -> Path:
    """KG_HOME/acme/account.key for KG_HOME/certs/kg.crt: outside what nginx mounts."""
    return cert_path.parent.parent / "acme" / "account.key"


def _load_or_make_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise OperationFailed(
                f"{path} is not an EC account key", hint="move it away; a new account is made"
            )
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_secret_file(path, _pem(key))
    return key


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class _Network(client.ClientNetwork):
    """The library's network layer, held to the directory's origin on every request."""

    def __init__(self, directory: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.directory_url = directory

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        check_url(url, self.directory_url)
        return super()._send_request(method, url, *args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        """POST, again with a fresh nonce while the server answers badNonce (RFC 8555 6.5:
        servers may reject any nonce; Pebble rejects 5 % on purpose). The library tries twice;
        two rejections in a row happen often enough over the ten requests of an issuance."""
        for attempt in range(BAD_NONCE_TRIES):
            try:
                return self._post_once(*args, **kwargs)
            except messages.Error as error:
                if error.code != "badNonce" or attempt == BAD_NONCE_TRIES - 1:
                    raise
        raise AssertionError("not reached")


class AcmeClient:
    """Account, order, http-01, finalize: one certificate."""

    def __init__(
        self,
        directory: str,
        account_key: ec.EllipticCurvePrivateKey,
        ca_bundle: str | None = None,
        timeout: int = 15,
    ) -> None:
        if origin(directory)[0] != "https":
            raise OperationFailed(
                f"The ACME directory {directory} is not https",
                hint="use the CA's https directory URL",
            )
        self.url = directory
        self.jwk = JWKEC(key=account_key)
        # requests takes a CA bundle's path where a bool is typed.
        verify = cast(bool, ca_bundle or True)
        self.net = _Network(
            directory, key=self.jwk, alg=ES256, verify_ssl=verify, user_agent="kgop",
            timeout=timeout,
        )  # fmt: skip
        with _server_errors():
            self.client = client.ClientV2(
                client.ClientV2.get_directory(directory, self.net), self.net
            )

    def issue(
        self,
        hostname: str,
        email: str,
        webroot: Path,
        cert_path: Path,
        key_path: Path,
        deadline_seconds: float = 180,
    ) -> None:
        deadline = datetime.now() + timedelta(seconds=deadline_seconds)
        cert_key = ec.generate_private_key(ec.SECP256R1())
        key_pem = _pem(cert_key)
        challenge_dir = webroot / ".well-known" / "acme-challenge"
        written: list[Path] = []
        with _server_errors():
            self._account(email)
            order = self.client.new_order(crypto_util.make_csr(key_pem, [hostname]))
            try:
                for authz in order.authorizations:
                    if authz.body.status == messages.STATUS_VALID:
                        continue
                    challb = next(
                        (
                            c
                            for c in authz.body.challenges
                            if isinstance(c.chall, challenges.HTTP01)
                        ),
                        None,
                    )
                    if challb is None:
                        raise OperationFailed(
                            f"The ACME server offers no http-01 challenge for {hostname}",
                            hint="kgop answers http-01 only (port 80 through nginx)",
                        )
                    response, validation = challb.response_and_validation(self.jwk)
                    token = check_token(challb.chall.encode("token"))
                    challenge_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
                    token_file = challenge_dir / token
                    token_file.write_text(validation)
                    token_file.chmod(0o644)
                    written.append(token_file)
                    self.client.answer_challenge(challb, response)
                order = self.client.poll_and_finalize(order, deadline=deadline)
            finally:
                for path in written:
                    path.unlink(missing_ok=True)
        _install_pair(order.fullchain_pem.encode(), key_pem, hostname, cert_path, key_path)

    def _account(self, email: str) -> None:
        registration = messages.NewRegistration.from_data(email=email, terms_of_service_agreed=True)
        try:
            self.client.new_account(registration)
        except errors.ConflictError as exc:  # this key has an account: use it
            self.client.query_registration(
                messages.RegistrationResource(uri=exc.location, body=messages.Registration())
            )


@contextlib.contextmanager
def _server_errors() -> Iterator[None]:
    """The library's failures as one-line kgop errors (nothing of a key in them)."""
    try:
        yield
    except messages.Error as exc:
        detail = f"{(exc.typ or '').rsplit(':', 1)[-1]}: {exc.detail or exc.title or ''}"
        raise _failed(detail) from None
    except (errors.TimeoutError, errors.ValidationError):
        raise _failed(
            "the challenge was not validated in time (can the CA reach port 80 of this host?)"
        ) from None
    except DeserializationError as exc:
        raise _failed(f"a malformed answer was refused ({str(exc)[:160]})") from None
    except (requests.RequestException, errors.Error) as exc:
        raise _failed(str(exc)[:200]) from None


def _failed(detail: str) -> OperationFailed:
    return OperationFailed(
        f"ACME failed: {detail}", hint="the previous certificate is still in place"
    )


def _install_pair(
    chain: bytes, key_pem: bytes, hostname: str, cert_path: Path, key_path: Path
) -> None:
    """Check the new pair (parses, key matches, valid now, names the host) in staging files,
    then move both into place: a bad answer never replaces a working certificate."""
    from kgop_tui.errors import UsageError
    from kgop_tui.services.tls.certs import inspect

    staged_cert = cert_path.with_name(f".{cert_path.name}.new")
    staged_key = key_path.with_name(f".{key_path.name}.new")
    write_secret_file(staged_key, key_pem)
    write_secret_file(staged_cert, chain, mode=0o644)
    try:
        info = inspect(staged_cert, staged_key)
        if hostname not in info.names:
            raise UsageError(f"it is for {', '.join(info.names) or 'no name'}, not {hostname}")
    except UsageError as exc:
        staged_cert.unlink(missing_ok=True)
        staged_key.unlink(missing_ok=True)
        raise OperationFailed(
            f"The ACME server's certificate was refused: {exc.message}",
            hint="the previous certificate is still in place",
        ) from None
    os.replace(staged_key, key_path)
    os.replace(staged_cert, cert_path)


def issue_certificate(
    directory: str,
    hostname: str,
    email: str,
    webroot: Path,
    cert_path: Path,
    key_path: Path,
    ca_bundle: str | None = None,
) -> None:
    account = account_key_path(cert_path)
    legacy = cert_path.parent / "acme-account.key"  # where it was kept before: nginx mounts it
    if legacy.exists() and not account.exists():
        account.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(legacy, account)
    account_key = _load_or_make_key(account)
    AcmeClient(directory, account_key, ca_bundle).issue(
        hostname, email, webroot, cert_path, key_path
    )
