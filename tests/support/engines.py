"""Real engines for the tests: a throwaway Postgres cluster and the Docker engine.

When an engine is missing the tests that need it skip locally; the test command sets
``KGOP_REQUIRE_ENGINES=1``, which turns that skip into a failure.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

TEST_LABEL = "kgop.test"


def require_or_skip(reason: str) -> None:
    """Skip, or fail when the test command demands real engines."""
    if os.environ.get("KGOP_REQUIRE_ENGINES") == "1":
        pytest.fail(f"required test engine missing: {reason}", pytrace=False)
    pytest.skip(reason)


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll a condition until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port that is free now and that no other test will be handed.

    Ports are often bound only later (a container published minutes after its stack was
    written), so asking the kernel for any free port lets two xdist workers, or two tests of
    one worker, get the same one. Each worker takes ports from a range of its own, below the
    kernel's ephemeral range, and never hands one out twice.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw")
    index = (int(worker[2:]) + 1 if worker[2:].isdigit() else 0) % 3
    # Runs sharing the machine (each with its own KGOP_TEST_ADDRESS_POOL) share its loopback
    # too: each takes ports from a block of its own, chosen by its pool.
    pool = re.search(r"base=\d+\.(\d+)\.", os.environ.get("KGOP_TEST_ADDRESS_POOL", ""))
    block = int(pool.group(1)) % 5 if pool else 0
    first = 15000 + 3000 * block + 1000 * index
    for port in range(first, first + 1000):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port left in {first}-{first + 999} for {worker}")


# ---- Postgres ------------------------------------------------------------------------


@dataclass(frozen=True)
class PgServer:
    """A Postgres server the tests may create databases on (as a superuser)."""

    host: str
    port: int
    user: str
    password: str | None = None
    log_path: Path | None = None

    def dsn(self, database: str = "postgres") -> str:
        auth = self.user if not self.password else f"{self.user}:{self.password}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"


def _pg_bindir() -> Path | None:
    explicit = os.environ.get("KGOP_PG_BINDIR")
    if explicit:
        return Path(explicit)
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def age_missing(bindir: Path) -> str | None:
    """Why the Postgres in ``bindir`` cannot ``CREATE EXTENSION age``; None when it can.

    The platform's schema needs Apache AGE; scripts/test.sh installs it into the host's
    Postgres (the library and extension folders ``pg_config`` names).
    """
    pg_config = bindir / "pg_config"
    if not pg_config.exists():
        return f"{pg_config} not found, so neither is Apache AGE"
    done = subprocess.run(
        [str(pg_config), "--pkglibdir", "--sharedir"], capture_output=True, text=True
    )
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        return f"{pg_config} failed: {done.stderr.strip()[:200]}"
    needed = [Path(lines[0], "age.so"), Path(lines[1], "extension", "age.control")]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        return f"Apache AGE is not installed in {bindir.parent}'s Postgres ({', '.join(missing)})"
    return None


def start_cluster(fsync: bool = False) -> Iterator[PgServer]:
    """initdb + pg_ctl on a loopback port; as root, the cluster runs as ``postgres``.

    Tests run without fsync (speed); benchmarks ask for a durable server. The server must
    have Apache AGE when the test command demands real engines (the platform's schema
    creates it).
    """
    bindir = _pg_bindir()
    if bindir is None:
        require_or_skip("Postgres server binaries (initdb, pg_ctl) not found")
        return
    missing_age = age_missing(bindir)
    if missing_age and os.environ.get("KGOP_REQUIRE_ENGINES") == "1":
        pytest.fail(
            f"required test engine incomplete: {missing_age} (scripts/test.sh installs it)",
            pytrace=False,
        )
    tmp = Path(tempfile.mkdtemp(prefix="kgop-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(tmp, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = tmp / "data", free_port()
    # Password authentication over TCP, as in the platform: the tests' URLs carry one.
    password = uuid.uuid4().hex
    pwfile = tmp / "pw"
    pwfile.write_text(password)
    if prefix:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    subprocess.run(
        [*prefix, str(bindir / "initdb"), "-D", str(data), "--auth-local=trust",
         "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-U", "postgres",
         "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = (
        f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync={'on' if fsync else 'off'}"
    )
    subprocess.run(
        [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
         "-l", str(tmp / "server.log"), "-w", "-t", "60", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield PgServer("127.0.0.1", port, "postgres", password, log_path=tmp / "server.log")
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def create_database(server: PgServer) -> str:
    import asyncpg

    name = f"kgop_t_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(server.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return name


def drop_database(server: PgServer, name: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(server.dsn())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


# ---- Docker --------------------------------------------------------------------------


@dataclass(frozen=True)
class DockerEngine:
    """The engine the tests use, and the base image every test container runs."""

    host: str
    base_image: str

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}


def connect_engine() -> DockerEngine:
    import docker

    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.DockerClient(base_url=host, timeout=10)
    except docker.errors.DockerException as exc:
        require_or_skip(f"no Docker engine at {host}: {str(exc)[:120]}")
        raise
    try:
        base = os.environ.get("KGOP_BASE_IMAGE", "kgop-base:bookworm")
        try:
            client.images.get(base)
        except docker.errors.ImageNotFound:
            require_or_skip(f"base image {base} missing (scripts/test.sh imports it)")
        compose = subprocess.run(
            ["docker", "compose", "version"],
            capture_output=True,
            env={**os.environ, "DOCKER_HOST": host},
        )
        if compose.returncode != 0:
            require_or_skip("compose v2 (`docker compose`) is not installed")
    finally:
        client.close()
    return DockerEngine(host=host, base_image=base)


@dataclass
class ComposeProject:
    """A compose project of test services, run on the test engine in its own KG_HOME."""

    engine: DockerEngine
    home: Path
    name: str

    def compose(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["docker", "compose", "--project-name", self.name,
             "-f", str(self.home / "compose" / "compose.yml"), *args],
            capture_output=True, text=True, env=self.engine.env(), timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"docker compose {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done

    def inspect(self, service: str) -> dict[str, object]:
        import json

        ids = self.compose("ps", "-a", "-q", service).stdout.split()
        if not ids:
            return {}
        done = subprocess.run(
            ["docker", "inspect", ids[0]], capture_output=True, text=True,
            env=self.engine.env(), check=True,
        )  # fmt: skip
        doc: dict[str, object] = json.loads(done.stdout)[0]
        return doc

    def state(self, service: str) -> tuple[str, str]:
        """(state, health) of a service's container as docker reports them."""
        doc = self.inspect(service)
        state = doc.get("State", {}) if doc else {}
        assert isinstance(state, dict)
        health = state.get("Health") or {}
        return str(state.get("Status", "missing")), str(health.get("Status", "none"))


def compose_project(engine: DockerEngine, home: Path, services_yaml: str) -> ComposeProject:
    """Write KG_HOME (compose/compose.yml and .env) for a labelled test project."""
    name = f"kgoptest{uuid.uuid4().hex[:8]}"
    (home / "compose").mkdir(parents=True, exist_ok=True)
    (home / "compose" / "compose.yml").write_text(
        f"services:\n{services_yaml}\nnetworks:\n  default:\n    labels:\n      {TEST_LABEL}: '1'\n"
    )
    (home / ".env").write_text(
        f"COMPOSE_PROJECT_NAME={name}\nCOMPOSE_FILE=compose/compose.yml\n"
        f"DOCKER_HOST={engine.host}\n"
    )
    return ComposeProject(engine=engine, home=home, name=name)


@contextmanager
def busy_and_idle(
    engine: DockerEngine, home: Path, finished: bool = False
) -> Iterator[ComposeProject]:
    """A project with a container burning a CPU (``busy``), a sleeping one (``idle``) and,
    with ``finished``, one that has exited (``done``); taken down afterwards."""
    common = (
        f"    image: {engine.base_image}\n    stop_signal: SIGKILL\n"
        "    labels:\n      kgop.test: '1'\n"
    )
    yaml = (
        "  idle:\n" + common + "    command: [sleep, infinity]\n"
        "  busy:\n" + common + "    command: [sh, -c, 'while :; do :; done']\n"
    )
    if finished:
        yaml += "  done:\n" + common + "    command: [sh, -c, 'exit 0']\n    restart: 'no'\n"
    project = compose_project(engine, home, yaml)
    project.compose("up", "-d")
    try:
        wait_for(lambda: project.state("busy")[0] == "running", 60, "busy to run")
        if finished:
            wait_for(lambda: project.state("done")[0] == "exited", 60, "done to exit")
        yield project
    finally:
        project.compose("down", "-v", "--remove-orphans")
