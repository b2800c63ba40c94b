"""A small ACME (RFC 8555) client: an http-01 certificate for one hostname.

The challenge file is written under a webroot that nginx serves at
``/.well-known/acme-challenge/``. The account key is kept in ``KG_HOME/acme/`` (beside the
certificates' folder, which nginx mounts, not in it) so renewals reuse the account. Works
against Let's Encrypt and against Pebble (the ACME test server).

What the server sends is not trusted: the directory must be https, every URL the server
hands out must be on the directory's own origin, a challenge token must be a plain
base64url word before it names a file, and a new certificate replaces the old one only
after it is checked against its key and hostname.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from kgop_tui.errors import DependencyUnavailable, OperationFailed
from kgop_tui.services.files import write_secret_file

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
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


class _BadNonce(Exception):
    """The server wants the request again with a fresh nonce (RFC 8555, section 6.5)."""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _load_or_make_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key
    key = ec.generate_private_key(ec.SECP256R1())
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_secret_file(path, pem)
    return key


class AcmeClient:
    """Just enough ACME for one certificate: account, order, http-01, finalize."""

    def __init__(
        self,
        directory: str,
        account_key: ec.EllipticCurvePrivateKey,
        ca_bundle: str | None = None,
        timeout: float = 15.0,
    ) -> None:
        if origin(directory)[0] != "https":
            raise OperationFailed(
                f"The ACME directory {directory} is not https",
                hint="use the CA's https directory URL",
            )
        self.key = account_key
        self.timeout = timeout
        self.url = directory
        self.context = ssl.create_default_context(cafile=ca_bundle)
        self.directory: dict[str, Any] = self._request("GET", directory)[0]
        for name in ("newNonce", "newAccount", "newOrder"):
            check_url(self.directory.get(name), directory)
        self.nonce: str | None = None
        self.kid: str | None = None
        numbers = account_key.public_key().public_numbers()
        self.jwk = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big")),
        }

    @property
    def thumbprint(self) -> str:
        canonical = json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()
        return b64(hashlib.sha256(canonical).digest())

    def _request(
        self, method: str, url: str, body: bytes | None = None, accept: str = "application/json"
    ) -> tuple[Any, dict[str, str]]:
        headers = {"User-Agent": "kgop", "Accept": accept}
        if body is not None:
            headers["Content-Type"] = "application/jose+json"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as r:
                raw, head = r.read(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            raw, head = exc.read(), dict(exc.headers)
            if "Replay-Nonce" in head:
                self.nonce = head["Replay-Nonce"]
            problem = json.loads(raw or b"{}")
            if str(problem.get("type", "")).endswith(":badNonce"):
                raise _BadNonce from None
            raise OperationFailed(
                f"The ACME server refused {url.rsplit('/', 1)[-1]}: "
                f"{problem.get('detail') or problem.get('type') or exc.code}",
                hint="check the hostname's DNS and that port 80 reaches nginx",
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DependencyUnavailable(
                f"Cannot reach the ACME server at {url} ({getattr(exc, 'reason', exc)})",
                hint="check the network, or KG_ACME_DIRECTORY / KG_ACME_CA_BUNDLE",
            ) from None
        if "Replay-Nonce" in head:
            self.nonce = head["Replay-Nonce"]
        if "json" in head.get("Content-Type", ""):
            return json.loads(raw or b"null"), head
        return raw.decode(), head

    def _post(
        self, url: str, payload: Any | None, accept: str = "application/json"
    ) -> tuple[Any, dict[str, str]]:
        for _ in range(10):
            try:
                return self._signed(url, payload, accept)
            except _BadNonce:
                continue  # self.nonce now holds the fresh one from the refusal
        raise OperationFailed("The ACME server kept refusing our nonces", hint="try again")

    def _signed(self, url: str, payload: Any | None, accept: str) -> tuple[Any, dict[str, str]]:
        if self.nonce is None:
            self._request("HEAD", self.directory["newNonce"])
        protected: dict[str, Any] = {"alg": "ES256", "nonce": self.nonce, "url": url}
        if self.kid:
            protected["kid"] = self.kid
        else:
            protected["jwk"] = self.jwk
        encoded_payload = "" if payload is None else b64(json.dumps(payload).encode())
        signing_input = f"{b64(json.dumps(protected).encode())}.{encoded_payload}".encode()
        r, s = decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        body = json.dumps(
            {
                "protected": b64(json.dumps(protected).encode()),
                "payload": encoded_payload,
                "signature": b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
            }
        ).encode()
        self.nonce = None
        return self._request("POST", url, body, accept)

    def _poll(self, url: str, done: str, deadline: float) -> dict[str, Any]:
        while True:
            state, _ = self._post(url, None)
            if state["status"] == done:
                return dict(state)
            if state["status"] == "invalid":
                detail = json.dumps(state.get("error") or state.get("challenges") or state)[:400]
                raise OperationFailed(
                    f"The ACME validation failed: {detail}",
                    hint="port 80 of the hostname must reach nginx",
                )
            if time.monotonic() > deadline:
                raise OperationFailed(
                    f"The ACME server did not finish within the deadline "
                    f"(status {state['status']})",
                    hint="try again later",
                )
            time.sleep(1)

    def issue(
        self,
        hostname: str,
        email: str,
        webroot: Path,
        cert_path: Path,
        key_path: Path,
        deadline_seconds: float = 180,
    ) -> None:
        deadline = time.monotonic() + deadline_seconds
        _, head = self._post(
            self.directory["newAccount"],
            {"termsOfServiceAgreed": True, "contact": [f"mailto:{email}"]},
        )
        self.kid = check_url(head.get("Location"), self.url)
        order, head = self._post(
            self.directory["newOrder"], {"identifiers": [{"type": "dns", "value": hostname}]}
        )
        order_url = check_url(head.get("Location"), self.url)
        challenges = webroot / ".well-known" / "acme-challenge"
        challenges.mkdir(parents=True, exist_ok=True)
        for authz_url in order["authorizations"]:
            authz, _ = self._post(check_url(authz_url, self.url), None)
            if authz["status"] == "valid":
                continue
            challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
            token = check_token(challenge.get("token"))
            token_file = challenges / token
            token_file.write_text(f"{token}.{self.thumbprint}")
            token_file.chmod(0o644)
            try:
                self._post(check_url(challenge.get("url"), self.url), {})
                self._poll(authz_url, "valid", deadline)
            finally:
                token_file.unlink(missing_ok=True)
        cert_key = ec.generate_private_key(ec.SECP256R1())
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
            .sign(cert_key, hashes.SHA256())
        )
        finalize = check_url(order.get("finalize"), self.url)
        self._post(finalize, {"csr": b64(csr.public_bytes(serialization.Encoding.DER))})
        final = self._poll(order_url, "valid", deadline)
        chain, _ = self._post(
            check_url(final.get("certificate"), self.url),
            None,
            accept="application/pem-certificate-chain",
        )
        key_pem = cert_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _install_pair(str(chain).encode(), key_pem, hostname, cert_path, key_path)


def _install_pair(
    chain: bytes, key_pem: bytes, hostname: str, cert_path: Path, key_path: Path
) -> None:
    """Check the new pair (parses, key matches, valid now, names the host) in staging files,
    then move both into place: a bad answer never replaces a working certificate."""
    from kgop_tui.errors import UsageError
    from kgop_tui.services.certs import inspect

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
