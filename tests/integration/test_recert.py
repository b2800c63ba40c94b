"""`kgop recert` renews a certificate that has already expired or cannot be read (the real
engine answers the nginx reload; no nginx runs in this project)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.engines import DockerEngine
from tests.support.helpers import kgop_env, run_kgop


def expired_pair(cert: Path, key: Path) -> None:
    """A self-signed certificate for localhost that expired yesterday."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    issued = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now - timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture
def home(tmp_path: Path, docker_engine: DockerEngine) -> Path:
    (tmp_path / "certs").mkdir()
    (tmp_path / ".env").write_text(
        "COMPOSE_PROJECT_NAME=kgoprecert\nKG_SSL_MODE=self-signed\nKG_HOSTNAME=localhost\n"
        f"DOCKER_HOST={docker_engine.host}\n"
    )
    return tmp_path


def test_an_expired_certificate_is_renewed(home: Path) -> None:
    from kgop_tui.services.tls.certs import certificate_status

    expired_pair(home / "certs" / "kg.crt", home / "certs" / "kg.key")
    before = certificate_status(home)
    assert before is not None
    assert before.problem is not None
    assert "run `kgop recert`" in before.line()
    done = run_kgop("recert", "--json", env=kgop_env(home))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["action"] == "renewed"
    assert "expired on" in report["previous_problem"]
    assert report["previous_not_after"] is None
    assert report["days_left"] > 800


def test_an_unreadable_certificate_is_renewed(home: Path) -> None:
    (home / "certs" / "kg.crt").write_text("not a certificate\n")
    (home / "certs" / "kg.key").write_text("not a key\n")
    done = run_kgop("recert", "--json", env=kgop_env(home))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["action"] == "renewed"


def test_an_expired_manual_certificate_is_reported_not_replaced(home: Path) -> None:
    env_file = home / ".env"
    env_file.write_text(env_file.read_text().replace("self-signed", "manual"))
    expired_pair(home / "certs" / "kg.crt", home / "certs" / "kg.key")
    before = (home / "certs" / "kg.crt").read_bytes()
    done = run_kgop("recert", env=kgop_env(home))
    assert done.returncode == 1
    assert "yours to renew" in done.stderr
    assert "expired on" in done.stderr
    assert (home / "certs" / "kg.crt").read_bytes() == before
