"""`kgop doctor`, the bind-mount preflight and `kgop bundle` on the real engine and Postgres."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.engines import ComposeProject, DockerEngine, compose_project, wait_for
from tests.support.helpers import kgop_env, run_kgop

ROOT = Path(__file__).resolve().parents[2]
PG_PASSWORD = "doctor-Pg-Secret-81f3e2"
GARAGE_TOKEN = "c0ffee" * 10 + "beef"
OPENAI_KEY = "sk-proj-doctorBundle0123456789abcdefXYZ"
ADMIN_PASSWORD = "Bundle-admin-pass-4711"


def services(image: str, sick: bool) -> str:
    common = f"    image: {image}\n    stop_signal: SIGKILL\n    labels:\n      kgop.test: '1'\n"
    yaml = (
        "  good:\n" + common
        + "    command: [sleep, infinity]\n"
        "    volumes:\n      - ${KG_HOME}/conf/app.conf:/etc/app.conf:ro\n"
        "    healthcheck:\n      test: [CMD, 'true']\n      interval: 1s\n      retries: 1\n"
    )  # fmt: skip
    if sick:
        yaml += (
            "  sick:\n" + common
            + "    environment:\n      DB_PASSWORD: ${POSTGRES_PASSWORD}\n"
            "    command: [sh, -c, 'echo connecting with password $$DB_PASSWORD; sleep infinity']\n"
            "    healthcheck:\n"
            "      test: [CMD-SHELL, 'echo db not ready: connection refused; exit 1']\n"
            "      interval: 1s\n      retries: 1\n"
        )  # fmt: skip
    return yaml


def expiring_pair(cert: Path, key: Path, days: int) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    issued = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(private, hashes.SHA256())
    )  # fmt: skip
    cert.write_bytes(issued.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )  # fmt: skip


class Site:
    def __init__(self, project: ComposeProject, dsn: str) -> None:
        self.project, self.home, self.dsn = project, project.home, dsn
        self.env = kgop_env(self.home, KGOP_DATABASE_URL=dsn)
        self.env.pop("DOCKER_HOST", None)  # from .env, as on an install

    def kgop(self, *args: str, stdin: str | None = None, **extra: str):  # noqa: ANN201
        return run_kgop(*args, env={**self.env, **extra}, stdin=stdin, timeout=180)

    def doctor(self, **extra: str) -> tuple[int, dict[str, dict[str, str]], str]:
        done = self.kgop("doctor", "--json", **extra)
        assert "Traceback" not in done.stderr, done.stderr
        doc = json.loads(done.stdout)
        return done.returncode, {c["id"]: c for c in doc["checks"]}, done.stderr


def make_site(engine: DockerEngine, home: Path, dsn: str, sick: bool) -> Site:
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "app.conf").write_text("setting = 1\n")
    project = compose_project(engine, home, services(engine.base_image, sick))
    migrations = home / "sql" / "migrations"  # the packaged schema: baseline + migrations
    shutil.copytree(ROOT / "kgop_tui" / "sql", home / "sql")
    # One migration after the baseline's 80, for the drift check to have a file to judge.
    (migrations / "081_doctor_site.sql").write_text(
        "SELECT kg_api.set_platform_config('doctor_site', 'yes');\n"
    )
    with (home / ".env").open("a") as env:
        env.write(
            f"KG_HOME={home}\nPOSTGRES_PASSWORD={PG_PASSWORD}\n"
            f"ENCRYPTION_KEY={Fernet.generate_key().decode()}\nGARAGE_ADMIN_TOKEN={GARAGE_TOKEN}\n"
            f"KGOP_MIGRATIONS_DIR={migrations}\n"
        )
    (home / ".env").chmod(0o600)
    site = Site(project, dsn)
    migrated = site.kgop("migrate", "up")
    assert migrated.returncode == 0, migrated.stderr
    # .env of KG_HOME, as kgop and operator.sh pass it (KG_HOME and the secrets are there).
    project.compose("--env-file", str(home / ".env"), "up", "-d")
    wait_for(lambda: project.state("good") == ("running", "healthy"), 60, "good to be healthy")
    if sick:
        wait_for(lambda: project.state("sick") == ("running", "unhealthy"), 60, "sick to fail")
    return site


@contextlib.contextmanager
def running_site(engine: DockerEngine, home: Path, dsn: str, sick: bool) -> Iterator[Site]:
    site = make_site(engine, home, dsn, sick)
    try:
        yield site
    finally:
        site.project.compose(
            "--env-file", str(site.home / ".env"), "down", "-v", "--remove-orphans"
        )


@pytest.fixture
def troubled(docker_engine: DockerEngine, tmp_path: Path, postgres: str) -> Iterator[Site]:
    """An unhealthy service, a drifted migration, a certificate 5 days from expiry."""
    with running_site(docker_engine, tmp_path / "kg", postgres, sick=True) as site:
        yield site


@pytest.fixture
def healthy(docker_engine: DockerEngine, tmp_path: Path, postgres: str) -> Iterator[Site]:
    with running_site(docker_engine, tmp_path / "kg", postgres, sick=False) as site:
        yield site


def test_doctor_names_each_problem_and_exits_1(troubled: Site) -> None:
    home = troubled.home
    migration = home / "sql" / "migrations" / "081_doctor_site.sql"
    migration.write_text(migration.read_text() + "\n-- edited after it was applied\n")
    (home / "certs").mkdir()
    expiring_pair(home / "certs" / "kg.crt", home / "certs" / "kg.key", days=5)
    with (home / ".env").open("a") as env:
        env.write("KG_SSL_MODE=self-signed\nKG_HOSTNAME=localhost\n")

    code, checks, _ = troubled.doctor()
    assert code == 1
    assert checks["engine"]["state"] == "ok"
    assert checks["service.good"]["state"] == "ok"
    sick = checks["service.sick"]
    assert sick["state"] == "fail"
    assert "unhealthy" in sick["detail"]
    assert "db not ready: connection refused" in sick["detail"]
    assert sick["hint"] == "./operator.sh logs sick"
    assert checks["migrations"]["state"] == "fail"
    assert migration.name in checks["migrations"]["detail"]
    assert checks["tls"]["state"] == "fail"
    assert "5 days left" in checks["tls"]["detail"] or "4 days left" in checks["tls"]["detail"]
    assert checks["env.mode"]["state"] == "ok"
    assert checks["mount.good:/etc/app.conf"]["state"] == "ok"
    assert checks["garage"]["state"] == "skip"
    assert checks["encryption"]["state"] == "ok"
    text = troubled.kgop("doctor")
    assert text.returncode == 1
    assert "✖ fail service.sick" in text.stdout
    assert "hint: ./operator.sh logs sick" in text.stdout


def test_a_healthy_install_passes(healthy: Site) -> None:
    made = healthy.kgop("backup")
    assert made.returncode == 0, made.stderr
    code, checks, stderr = healthy.doctor()
    failed = {k: v for k, v in checks.items() if v["state"] == "fail"}
    assert code == 0, failed
    assert checks["backup"]["state"] == "ok"
    assert "checksum matches" in checks["backup"]["detail"]
    assert "signature verifies" in checks["backup"]["detail"]
    assert checks["migrations"]["state"] == "ok"
    assert checks["clock"]["state"] == "ok"
    assert checks["ports"]["state"] == "ok"


def test_a_missing_mount_source_is_refused_and_no_directory_appears(healthy: Site) -> None:
    home = healthy.home
    missing = home / "conf" / "extra.conf"
    (home / "compose" / "compose.extra.yml").write_text(
        "services:\n  good:\n    volumes:\n      - ${KG_HOME}/conf/extra.conf:/etc/extra.conf:ro\n"
    )
    env = (
        (home / ".env")
        .read_text()
        .replace(
            "COMPOSE_FILE=compose/compose.yml",
            "COMPOSE_FILE=compose/compose.yml:compose/compose.extra.yml",
        )
    )
    (home / ".env").write_text(env)
    code, checks, _ = healthy.doctor()
    assert code == 1
    check = checks["mount.good:/etc/extra.conf"]
    assert check["state"] == "fail"
    assert str(missing) in check["detail"]
    assert "Docker would create a directory" in check["detail"]
    refused = healthy.kgop("check-mounts")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert str(missing) in refused.stderr
    assert refused.stderr.count("\n") == 1
    started = healthy.kgop("start")
    assert started.returncode == 4
    assert not missing.exists()  # nothing created in its place

    missing.mkdir()  # what Docker leaves behind when it did start
    code, checks, _ = healthy.doctor()
    check = checks["mount.good:/etc/extra.conf"]
    assert check["state"] == "fail"
    assert "a directory where a file belongs" in check["detail"]
    assert f"rmdir {missing}" in check["hint"]


def test_doctor_without_docker_or_postgres_still_reports_everything(healthy: Site) -> None:
    code, checks, stderr = healthy.doctor(
        DOCKER_HOST="unix:///nonexistent/docker.sock",
        KGOP_DATABASE_URL="postgresql://kg:x@127.0.0.1:9/knowledge_graph",
    )
    assert code == 1
    assert checks["engine"]["state"] == "fail"
    assert "Cannot reach the Docker engine" in checks["engine"]["detail"]
    assert checks["services"]["state"] == "skip"
    assert checks["database"]["state"] == "fail"
    for ident in ("env", "env.mode", "disk.kg_home", "tls", "backup", "clock", "ports"):
        assert ident in checks, ident
    assert "Traceback" not in stderr


def test_bundle_holds_the_files_and_no_secret(troubled: Site, tmp_path: Path) -> None:
    site = troubled
    stored = site.kgop("configure", "api-key", "openai", "--key-stdin", stdin=OPENAI_KEY)
    assert stored.returncode == 0, stored.stderr
    admin = site.kgop("configure", "admin", "--password-stdin", stdin=ADMIN_PASSWORD)
    assert admin.returncode == 0, admin.stderr
    (site.home / "logs").mkdir()
    (site.home / "logs" / "install-20260101T000000Z-abc123.log").write_text(
        f"== .env\nPOSTGRES_PASSWORD={PG_PASSWORD}\nkey {OPENAI_KEY} and sk-other0123456789abcdef\n"
    )
    wait_for(lambda: PG_PASSWORD in site.project.compose("logs", "sick").stdout, 30, "the sick log")
    done = site.kgop(
        "bundle", "--output", str(tmp_path / "out" / "bundle.tar.gz"), "--log-lines", "50"
    )
    assert done.returncode == 0, done.stderr
    bundle = tmp_path / "out" / "bundle.tar.gz"
    assert bundle.stat().st_mode & 0o777 == 0o600
    with tarfile.open(bundle) as tar:
        members = {
            m.name.split("/", 1)[1]: tar.extractfile(m).read()
            for m in tar.getmembers()
            if m.isfile()
        }  # type: ignore[union-attr]
    for name in (
        "doctor.json", "status.json", "versions.json", "compose-config.yaml", "migrations.json",
        "logs/good.log", "logs/sick.log", "install/install-20260101T000000Z-abc123.log",
        "redactions.txt",
    ):  # fmt: skip
        assert name in members, sorted(members)
    env = {
        k: v
        for k, _, v in (
            line.partition("=") for line in (site.home / ".env").read_text().splitlines()
        )
    }
    secrets = [PG_PASSWORD, GARAGE_TOKEN, env["ENCRYPTION_KEY"], OPENAI_KEY, ADMIN_PASSWORD]
    for name, data in members.items():
        for secret in secrets:
            assert secret.encode() not in data, f"{name} holds a secret"
        assert b"sk-other0123456789abcdef" not in data
    assert b"[redacted]" in members["logs/sick.log"]
    assert b"[redacted]" in members["compose-config.yaml"]
    redactions = members["redactions.txt"].decode()
    assert "POSTGRES_PASSWORD" in redactions
    assert "stored openai key" in redactions
    versions = json.loads(members["versions.json"])
    assert versions["postgres"]
    assert versions["engine"]["Version"]
    assert json.loads(members["doctor.json"])["summary"]["exit"] == 1
    assert os.listdir(tmp_path / "out") == ["bundle.tar.gz"]
