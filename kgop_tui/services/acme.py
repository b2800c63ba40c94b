"""A small ACME (RFC 8555) client: an http-01 certificate for one hostname.

The challenge file is written under a webroot that nginx serves at
``/.well-known/acme-challenge/``; the account key is kept beside the certificate so renewals
reuse the account. Works against Let's Encrypt and against Pebble (the ACME test server).
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time
import urllib.error
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
        self.key = account_key
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_bundle)
        self.directory: dict[str, Any] = self._request("GET", directory)[0]
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
        self.kid = head["Location"]
        order, head = self._post(
            self.directory["newOrder"], {"identifiers": [{"type": "dns", "value": hostname}]}
        )
        order_url = head["Location"]
        challenges = webroot / ".well-known" / "acme-challenge"
        challenges.mkdir(parents=True, exist_ok=True)
        for authz_url in order["authorizations"]:
            authz, _ = self._post(authz_url, None)
            if authz["status"] == "valid":
                continue
            challenge = next(c for c in authz["challenges"] if c["type"] == "http-01")
            token_file = challenges / challenge["token"]
            token_file.write_text(f"{challenge['token']}.{self.thumbprint}")
            token_file.chmod(0o644)
            try:
                self._post(challenge["url"], {})
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
        self._post(order["finalize"], {"csr": b64(csr.public_bytes(serialization.Encoding.DER))})
        final = self._poll(order_url, "valid", deadline)
        chain, _ = self._post(
            final["certificate"], None, accept="application/pem-certificate-chain"
        )
        key_pem = cert_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_secret_file(key_path, key_pem)
        write_secret_file(cert_path, str(chain).encode(), mode=0o644)


def issue_certificate(
    directory: str,
    hostname: str,
    email: str,
    webroot: Path,
    cert_path: Path,
    key_path: Path,
    ca_bundle: str | None = None,
) -> None:
    account_key = _load_or_make_key(cert_path.parent / "acme-account.key")
    AcmeClient(directory, account_key, ca_bundle).issue(
        hostname, email, webroot, cert_path, key_path
    )
