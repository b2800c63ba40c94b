"""The platform's own api and web images (scripts/platform-images.sh) on kgop's database.

kgop applies the platform's schema (`kgop migrate up`: the release's baseline and migrations)
to a ``kg-postgres`` container; the platform's own api, built from the same release archive,
then starts on that database and answers as the platform's code says it does: ``/health``
200 ``degraded`` while it has no Garage credentials, its login refusing a wrong password with
the platform's own message. The web serves the release's bundle on port 80 with the
``config.js`` its entrypoint writes from ``VITE_*``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.engines import DockerEngine, require_or_skip, wait_for
from tests.support.helpers import fetch, kgop_env, run_kgop
from tests.support.platform import schema

PLATFORM = os.environ.get("KGOP_TEST_PLATFORM", "0.17.1")
API = f"platform/kg-api:{PLATFORM}"
WEB = f"platform/kg-web:{PLATFORM}"


def docker(
    engine: DockerEngine, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, env=engine.env(), timeout=timeout
    )


def health(engine: DockerEngine, name: str) -> str:
    done = docker(engine, "inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", name)
    return done.stdout.strip()


@dataclass
class Site:
    engine: DockerEngine
    network: str
    api: str
    dsn: str

    def call(self, *curl: str) -> tuple[int, str]:
        """curl inside the api container (the api's own port, as its healthcheck reaches it)."""
        done = docker(
            self.engine, "exec", self.api, "curl", "-sS", "-o", "/dev/stderr",
            "-w", "%{http_code}", *curl,
        )  # fmt: skip
        assert done.stdout.isdigit(), done.stderr
        return int(done.stdout), done.stderr


@pytest.fixture(scope="module")
def images(docker_engine: DockerEngine) -> DockerEngine:
    for image in (API, WEB, "kg-postgres:15"):
        if docker(docker_engine, "image", "inspect", image).returncode != 0:
            require_or_skip(f"{image} is not built (scripts/test.sh builds it)")
    return docker_engine


@pytest.fixture(scope="module")
def site(images: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    engine = images
    tag = uuid.uuid4().hex[:8]
    network, db, api = f"kgplat-{tag}", f"kgplat-db-{tag}", f"kgplat-api-{tag}"
    password = secrets.token_urlsafe(16)
    assert docker(engine, "network", "create", network).returncode == 0
    try:
        started = docker(
            engine, "run", "-d", "--name", db, "--network", network, "--network-alias", "postgres",
            "-e", "POSTGRES_USER=admin", "-e", f"POSTGRES_PASSWORD={password}",
            "-e", "POSTGRES_DB=knowledge_graph", "-p", "127.0.0.1::5432", "kg-postgres:15",
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        wait_for(lambda: health(engine, db) == "running healthy", 180, "postgres healthy")
        port = docker(engine, "port", db, "5432/tcp").stdout.split(":")[-1].strip()
        dsn = f"postgresql://admin:{password}@127.0.0.1:{port}/knowledge_graph"
        home = tmp_path_factory.mktemp("platform-images")
        env = kgop_env(
            home, KGOP_DATABASE_URL=dsn, KGOP_MIGRATIONS_DIR=str(schema(PLATFORM) / "migrations")
        )
        done = run_kgop("migrate", "up", env=env, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        fernet = secrets.token_bytes(32)
        started = docker(
            engine, "run", "-d", "--name", api, "--network", network,
            "-e", "POSTGRES_HOST=postgres", "-e", "POSTGRES_PORT=5432",
            "-e", "POSTGRES_USER=admin", "-e", f"POSTGRES_PASSWORD={password}",
            "-e", "POSTGRES_DB=knowledge_graph",
            "-e", f"ENCRYPTION_KEY={base64.urlsafe_b64encode(fernet).decode()}",
            "-e", f"OAUTH_SIGNING_KEY={secrets.token_hex(32)}",
            "-e", f"INTERNAL_KEY_SERVICE_SECRET={secrets.token_urlsafe(32)}",
            "-e", "GARAGE_S3_ENDPOINT=http://garage:3900", API,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        wait_for(
            lambda: health(engine, api) in ("running healthy", "exited unhealthy", "exited "),
            240,
            "the platform's api healthy (its own curl healthcheck on /health)",
        )
        assert health(engine, api) == "running healthy", docker(engine, "logs", api).stderr[-3000:]
        yield Site(engine, network, api, dsn)
    finally:
        docker(engine, "rm", "-f", api, db)
        docker(engine, "network", "rm", network)


def test_the_api_image_lays_out_its_release_as_the_platform_does(images: DockerEngine) -> None:
    done = docker(
        images, "run", "--rm", "--entrypoint", "sh", API, "-c",
        "id -u; echo $PYTHONPATH; ls /app/schema /app/schema/migrations | head -50",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    uid, pythonpath, *listing = done.stdout.splitlines()
    assert (uid, pythonpath) == ("1000", "/app")
    assert "00_baseline.sql" in listing
    shipped = {p.name for p in (schema(PLATFORM) / "migrations").glob("*.sql")}
    image_files = docker(
        images, "run", "--rm", "--entrypoint", "ls", API, "/app/schema/migrations"
    ).stdout.split()
    assert shipped <= set(image_files)
    label = docker(
        images, "image", "inspect", "--format",
        '{{index .Config.Labels "org.opencontainers.image.version"}}', API,
    )  # fmt: skip
    assert label.stdout.strip() == PLATFORM


def test_the_platform_api_runs_on_the_schema_kgop_applied(site: Site) -> None:
    status, body = site.call("http://127.0.0.1:8000/health")
    assert status == 200, body
    answer = json.loads(body)
    # The platform's /health: degraded until it has Garage credentials and Garage answers.
    assert answer["status"] == "degraded"
    assert answer["components"]["database"]["status"] == "healthy"
    assert answer["components"]["garage"]["status"] == "unhealthy"
    assert "credentials" in answer["components"]["garage"]["error"]
    tables = fetch(site.dsn, "SELECT count(*) AS n FROM public.schema_migrations")
    assert tables[0]["n"] > 0


def test_the_platform_api_refuses_a_wrong_password_in_its_own_words(site: Site) -> None:
    status, body = site.call(
        "-X", "POST", "http://127.0.0.1:8000/auth/oauth/login-and-authorize",
        "--data-urlencode", "username=admin", "--data-urlencode", "password=not-the-password",
        "--data-urlencode", "client_id=kg-web",
        "--data-urlencode", "redirect_uri=http://localhost:3000/callback",
        "--data-urlencode", f"code_challenge={'A' * 43}",
        "--data-urlencode", "code_challenge_method=S256",
    )  # fmt: skip
    assert status == 401, body
    assert "Invalid username or password" in body


def test_the_platform_web_serves_its_bundle_and_runtime_config(images: DockerEngine) -> None:
    name = f"kgplat-web-{uuid.uuid4().hex[:8]}"
    started = docker(
        images, "run", "-d", "--name", name,
        "-e", "VITE_API_URL=https://kg.example.org/api",
        "-e", "VITE_OAUTH_REDIRECT_URI=https://kg.example.org/callback",
        "-e", "VITE_APP_NAME=Graph of Example", WEB,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        wait_for(lambda: health(images, name).startswith(("running healthy", "exited")), 120,
                 "the platform's web healthy")  # fmt: skip
        assert health(images, name) == "running healthy", docker(images, "logs", name).stderr
        page = docker(images, "exec", name, "wget", "-qO-", "http://127.0.0.1:80/")
        assert '<div id="root">' in page.stdout
        config = docker(images, "exec", name, "wget", "-qO-", "http://127.0.0.1:80/config.js")
        assert "apiUrl: 'https://kg.example.org/api'" in config.stdout
        assert 'redirectUri: "https://kg.example.org/callback"' in config.stdout
        assert "name: 'Graph of Example'" in config.stdout
    finally:
        docker(images, "rm", "-f", name)
