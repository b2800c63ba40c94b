"""TLS certificates: check a certificate/key pair, make a self-signed one, report expiry."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kgop_tui.errors import UsageError
from kgop_tui.services.files import write_secret_file
from kgop_tui.tls import CertificateStatus


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    issuer: str
    self_signed: bool
    names: list[str]
    not_after: datetime
    days_left: int
    fingerprint: str


def _load(cert_path: Path, key_path: Path | None) -> tuple[x509.Certificate, object | None]:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{cert_path} is not a PEM certificate ({exc})",
            hint="give the certificate (fullchain) in PEM form",
        ) from None
    key = None
    if key_path is not None:
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(
                f"{key_path} is not an unencrypted PEM private key ({exc})",
                hint="give the key without a passphrase",
            ) from None
    return cert, key


def inspect(
    cert_path: Path, key_path: Path | None = None, now: datetime | None = None
) -> CertificateInfo:
    """Parse, check that the key matches and that the certificate is valid now."""
    now = now or datetime.now(UTC)
    cert, key = _load(cert_path, key_path)
    if key is not None:
        public = key.public_key()  # type: ignore[attr-defined]
        pem = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        if public.public_bytes(*pem) != cert.public_key().public_bytes(*pem):
            raise UsageError(
                f"{key_path} is not the key of {cert_path}",
                hint="give the key the certificate was issued for",
            )
    not_after = cert.not_valid_after_utc
    if not_after <= now:
        raise UsageError(f"{cert_path} expired on {not_after:%Y-%m-%d}", hint="renew it")
    if cert.not_valid_before_utc > now:
        raise UsageError(
            f"{cert_path} is not valid before {cert.not_valid_before_utc:%Y-%m-%d}",
            hint="check the clock, or the certificate",
        )
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in sans]
    except x509.ExtensionNotFound:
        names = []
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        self_signed=cert.issuer == cert.subject,
        names=names,
        not_after=not_after,
        days_left=(not_after - now).days,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
    )


def self_signed(hostname: str, cert_path: Path, key_path: Path, days: int = 825) -> None:
    """A self-signed certificate for hostname, localhost and 127.0.0.1 (SANs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    try:
        names.insert(0, x509.IPAddress(ipaddress.ip_address(hostname)))
    except ValueError:
        names.insert(0, x509.DNSName(hostname))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_secret_file(key_path, key_pem)
    write_secret_file(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


__all__ = ["CertificateInfo", "inspect", "self_signed"]


def certificate_status(kg_home: Path) -> CertificateStatus | None:
    """The TLS front's certificate (None when KG_SSL_MODE is none or unset)."""
    from kgop_tui.errors import ConfigInvalid
    from kgop_tui.settings import read_env_file

    try:
        entry = read_env_file(kg_home / ".env").get("KG_SSL_MODE")
    except ConfigInvalid:
        return None
    mode = entry.value if entry else "none"
    if mode in ("", "none"):
        return None
    try:
        info = inspect(kg_home / "certs" / "kg.crt", kg_home / "certs" / "kg.key")
    except UsageError as exc:
        return CertificateStatus(mode, problem=exc.message[:160] + " — run `kgop recert`")
    return CertificateStatus(mode, days_left=info.days_left, not_after=info.not_after)
