"""images/postgres (``kg-postgres:15``): PostgreSQL 15 with Apache AGE, as the platform runs it.

The platform's database is the apache/age image; these tests start the stand-in the way the
platform's compose does (``POSTGRES_USER=admin``, ``POSTGRES_DB=knowledge_graph``, its
``schema/00_baseline.sql`` mounted as ``/docker-entrypoint-initdb.d/10-baseline.sql``) on the
test engine, and check how it refuses, as the official postgres image does. The platform's
release archive comes from ``shared/upstream`` beside the checkout.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.engines import DockerEngine, require_or_skip, wait_for
from tests.support.platform import baseline_for_pg15, file_versions

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "kg-postgres:15"
PLATFORM = "0.17.1"
# The official image's first line when it refuses an empty data directory without a password.
REFUSAL = "Error: Database is uninitialized and superuser password is not specified."


@pytest.fixture(scope="module")
def platform_schema(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[int]]:
    """The platform's 0.17.1 baseline for PG 15, and the versions of its migration files
    (``schema/migrations/``, its ``archived/`` and ``migrations-warm/``).

    The baseline was dumped from PG 18: its ``SET transaction_timeout`` lines (a PG 17+
    setting) go, nothing else changes.
    """
    path = tmp_path_factory.mktemp("platform") / "00_baseline.sql"
    path.write_text(baseline_for_pg15(PLATFORM))
    path.chmod(0o644)
    return path, file_versions(PLATFORM)


@pytest.fixture(scope="module")
def image(docker_engine: DockerEngine) -> str:
    done = docker(docker_engine, "image", "inspect", IMAGE)
    if done.returncode != 0:
        require_or_skip(f"{IMAGE} is not built (scripts/test.sh builds it)")
    return IMAGE


def docker(
    engine: DockerEngine, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, env=engine.env(), timeout=timeout
    )


class Server:
    """A container of the image, started detached; psql inside it over the socket."""

    def __init__(self, engine: DockerEngine, name: str) -> None:
        self.engine, self.name = engine, name

    def state(self) -> tuple[str, str]:
        done = docker(
            self.engine, "inspect", "--format",
            "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", self.name,
        )  # fmt: skip
        status, _, health = done.stdout.strip().partition(" ")
        return status, health

    def logs(self) -> str:
        done = docker(self.engine, "logs", self.name)
        return done.stdout + done.stderr

    def wait_healthy(self, timeout: float = 180) -> None:
        def healthy() -> bool:
            status, health = self.state()
            if status in ("exited", "dead"):
                pytest.fail(f"{self.name} exited:\n{self.logs()[-3000:]}")
            return health == "healthy"

        wait_for(healthy, timeout, f"{self.name} to be healthy", interval=0.5)

    def psql(self, *args: str, database: str = "knowledge_graph") -> str:
        done = docker(
            self.engine, "exec", self.name, "psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", "-At",
            "-U", "admin", "-d", database, *args,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@pytest.fixture
def start(docker_engine: DockerEngine, image: str) -> Iterator[Callable[..., Server]]:
    """Start containers of the image (``start(*docker_run_args)``); removed afterwards."""
    names: list[str] = []

    def run(*args: str) -> Server:
        name = f"kgoptest-pg-{uuid.uuid4().hex[:8]}"
        done = docker(
            docker_engine, "run", "-d", "--name", name, "--network", "none",
            "--label", "kgop.test=1", *args, image,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        names.append(name)
        return Server(docker_engine, name)

    yield run
    if names:
        docker(docker_engine, "rm", "-f", "-v", *names)


PLATFORM_ENV = ("-e", "POSTGRES_USER=admin", "-e", "POSTGRES_DB=knowledge_graph")


def test_the_image_names_its_postgres_and_age(docker_engine: DockerEngine, image: str) -> None:
    done = docker(docker_engine, "image", "inspect", "--format",
                  '{{index .Config.Labels "io.kgop.postgres.major"}} '
                  '{{index .Config.Labels "io.kgop.age.version"}}', image)  # fmt: skip
    assert done.stdout.split() == ["15", "1.6.0"]


def test_the_platforms_variables_give_a_database_with_age_and_cypher_works(
    start: Callable[..., Server],
) -> None:
    server = start(*PLATFORM_ENV, "-e", "POSTGRES_PASSWORD=s3cret")
    server.wait_healthy()
    # As apache/age: AGE created in POSTGRES_DB by the first init script, and preloaded.
    assert server.psql("-c", "SELECT extversion FROM pg_extension WHERE extname = 'age'") == "1.6.0"
    assert server.psql("-c", "SHOW shared_preload_libraries") == "age"
    assert "kg-postgres: running /docker-entrypoint-initdb.d/00-create-extension-age.sql" in (
        server.logs()
    )
    # A database of its own: CREATE EXTENSION, LOAD, a graph, cypher CREATE and MATCH.
    server.psql("-c", "CREATE DATABASE probe")
    out = server.psql(
        "-c", "CREATE EXTENSION age",
        "-c", "LOAD 'age'",
        "-c", 'SET search_path = ag_catalog, "$user", public',
        "-c", "SELECT create_graph('kgop_probe')",
        "-c", "SELECT * FROM cypher('kgop_probe', $$ CREATE (:Person {name: 'Ada'})-[:KNOWS]->"
              "(:Person {name: 'Alan'}) $$) AS (v agtype)",
        "-c", "SELECT * FROM cypher('kgop_probe', $$ MATCH (a:Person)-[:KNOWS]->(b:Person) "
              "RETURN a.name, b.name $$) AS (a agtype, b agtype)",
        database="probe",
    )  # fmt: skip
    assert out.splitlines()[-1] == '"Ada"|"Alan"'
    # Password authentication over TCP, as api connects.
    tcp = ["psql", "-X", "-At", "-h", "127.0.0.1", "-U", "admin", "-d", "knowledge_graph",
           "-c", "SELECT 1"]  # fmt: skip
    good = docker(server.engine, "exec", "-e", "PGPASSWORD=s3cret", server.name, *tcp)
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "1"
    bad = docker(server.engine, "exec", "-e", "PGPASSWORD=wrong", server.name, *tcp)
    assert bad.returncode != 0
    assert 'password authentication failed for user "admin"' in bad.stderr


def test_the_platforms_baseline_initialises_the_database_as_its_compose_mounts_it(
    start: Callable[..., Server], platform_schema: tuple[Path, set[int]]
) -> None:
    baseline, versions = platform_schema
    server = start(
        *PLATFORM_ENV, "-e", "POSTGRES_PASSWORD=s3cret",
        "-v", f"{baseline}:/docker-entrypoint-initdb.d/10-baseline.sql:ro",
    )  # fmt: skip
    server.wait_healthy()
    logs = server.logs()
    first = logs.index("running /docker-entrypoint-initdb.d/00-create-extension-age.sql")
    assert first < logs.index("running /docker-entrypoint-initdb.d/10-baseline.sql")
    assert server.psql("-c", "SELECT name FROM ag_catalog.ag_graph") == "knowledge_graph"
    recorded = server.psql("-c", "SELECT version FROM public.schema_migrations ORDER BY 1")
    assert {int(v) for v in recorded.split()} == versions
    assert min(versions) == 1
    assert max(versions) == 80
    # The graph answers cypher as the api queries it.
    out = server.psql(
        "-c", "LOAD 'age'",
        "-c", 'SET search_path = ag_catalog, "$user", public',
        "-c", "SELECT * FROM cypher('knowledge_graph', $$ MATCH (n) RETURN count(n) $$) "
              "AS (n agtype)",
    )  # fmt: skip
    assert out.splitlines()[-1].isdigit()


def test_an_empty_data_directory_without_a_password_is_refused(
    docker_engine: DockerEngine, image: str, start: Callable[..., Server]
) -> None:
    base = ["run", "--rm", "--network", "none", "--label", "kgop.test=1", *PLATFORM_ENV]
    refused = docker(docker_engine, *base, image)
    assert refused.returncode != 0
    assert REFUSAL in refused.stderr
    both = docker(docker_engine, *base, "-e", "POSTGRES_PASSWORD=a",
                  "-e", "POSTGRES_PASSWORD_FILE=/etc/hostname", image)  # fmt: skip
    assert both.returncode != 0
    assert "both POSTGRES_PASSWORD and POSTGRES_PASSWORD_FILE are set" in both.stderr
    # A data directory that holds a database starts without one, as upstream.
    volume = f"kgoptest-pg-{uuid.uuid4().hex[:8]}"
    mount = ("-v", f"{volume}:/var/lib/postgresql/data")
    servers: list[Server] = []
    try:
        servers.append(start(*PLATFORM_ENV, "-e", "POSTGRES_PASSWORD=s3cret", *mount))
        servers[0].wait_healthy()
        assert docker(docker_engine, "rm", "-f", servers[0].name).returncode == 0
        servers.append(start(*PLATFORM_ENV, *mount))
        servers[1].wait_healthy()
        assert "initialisation skipped" in servers[1].logs()
        assert (
            servers[1].psql("-c", "SELECT extname FROM pg_extension ORDER BY 1") == "age\nplpgsql"
        )
    finally:
        docker(docker_engine, "rm", "-f", *(server.name for server in servers))
        docker(docker_engine, "volume", "rm", "-f", volume)


def test_a_source_tarball_that_does_not_match_its_sha256_fails_the_build(
    docker_engine: DockerEngine,
) -> None:
    context = ROOT / "images" / "postgres"
    if not (context / "build" / "age.tar.gz").is_file():
        pytest.fail("images/postgres/build/age.tar.gz is missing (scripts/test.sh puts it there)")
    done = docker(
        docker_engine, "build", "--network", "host", "--force-rm",
        "--build-arg", f"BASE_IMAGE={docker_engine.base_image}",
        "--build-arg", f"AGE_SHA256={'0' * 64}", "--target", "age-build",
        "-t", "kgop-test-refused-age", str(context), timeout=900,
    )  # fmt: skip
    assert done.returncode != 0
    assert "/tmp/age.tar.gz: FAILED" in done.stdout + done.stderr
