"""`kgop garage` against the Garage stand-in, run as the real image runs.

There is no Garage binary or registry here: the stand-in (images/garage-standin, see
docs/stand-ins.md) follows Garage v1.0.1's sources for what kgop relies on, including how
it refuses: no config file, a key search that does not match exactly one key, a bad token.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kgop_tui.services.platform.garage import CONFIG_TEMPLATE, config_path, ensure_config
from tests.support.engines import TEST_LABEL, DockerEngine, free_port, wait_for
from tests.support.helpers import kgop_env, run_kgop

IMAGE = "kg-garage-standin:test"


def docker(engine: DockerEngine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, env=engine.env(), timeout=120
    )


@pytest.fixture(scope="module")
def network(docker_engine: DockerEngine) -> Iterator[str]:
    if docker(docker_engine, "image", "inspect", IMAGE).returncode != 0:
        pytest.fail(f"image {IMAGE} is missing (scripts/test.sh builds it)")
    name = f"kgop-garage-{uuid.uuid4().hex[:6]}"
    done = docker(docker_engine, "network", "create", "--label", f"{TEST_LABEL}=1", name)
    assert done.returncode == 0, done.stderr
    yield name
    docker(docker_engine, "network", "rm", name)


@dataclass
class Garage:
    engine: DockerEngine
    container: str
    url: str
    token: str
    s3_url: str = ""  # the S3 API (port 3900), published on the loopback as the admin API is

    def api(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)


def run_garage(
    engine: DockerEngine, network: str, home: Path, rpc: str = "", token: str = "", **env: str
) -> Garage:
    """A stand-in node; nodes of one cluster share ``rpc`` (the RPC secret) and ``token``."""
    port, s3_port, token = free_port(), free_port(), token or secrets.token_hex(16)
    rpc = rpc or secrets.token_hex(32)
    name = f"kgop-garage-{uuid.uuid4().hex[:8]}"
    done = docker(
        engine, "run", "-d", "--name", name, "--network", network, "--label", f"{TEST_LABEL}=1",
        "-e", f"GARAGE_RPC_SECRET={rpc}", "-e", f"GARAGE_ADMIN_TOKEN={token}",
        *(a for k, v in env.items() for a in ("-e", f"{k}={v}")),
        "-v", f"{config_path(home)}:/etc/garage.toml:ro",
        "-p", f"127.0.0.1:{port}:3903", "-p", f"127.0.0.1:{s3_port}:3900",
        "--health-cmd", "/garage status", "--health-interval", "1s",
        IMAGE,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    garage = Garage(engine, name, f"http://127.0.0.1:{port}", token, f"http://127.0.0.1:{s3_port}")

    def healthy() -> bool:
        state = docker(engine, "inspect", "-f", "{{.State.Health.Status}}", name).stdout
        return state.strip() == "healthy"

    wait_for(healthy, 60, "the garage stand-in to be healthy")
    return garage


@pytest.fixture
def garage(docker_engine: DockerEngine, network: str, tmp_path: Path) -> Iterator[Garage]:
    ensure_config(tmp_path)
    created = run_garage(docker_engine, network, tmp_path)
    yield created
    docker(docker_engine, "rm", "-f", created.container)


@pytest.fixture
def env(tmp_path: Path, postgres: str, garage: Garage) -> dict[str, str]:
    from cryptography.fernet import Fernet

    values = kgop_env(
        tmp_path,
        KGOP_DATABASE_URL=postgres,
        ENCRYPTION_KEY=Fernet.generate_key().decode(),
        GARAGE_ADMIN_TOKEN=garage.token,
        KG_GARAGE_ADMIN_URL=garage.url,
    )
    done = run_kgop("migrate", "up", env=values)  # the key's secret is stored encrypted
    assert done.returncode == 0, done.stderr
    return values


def test_the_bucket_is_the_one_the_api_is_given(env: dict[str, str], garage: Garage) -> None:
    """GARAGE_BUCKET, which compose gives the api too: an install that names another bucket
    (an earlier one's knowledge-graph) gets that one."""
    done = run_kgop("garage", "init", env={**env, "GARAGE_BUCKET": "knowledge-graph"})
    assert done.returncode == 0, done.stderr
    assert "bucket knowledge-graph created" in done.stdout
    status, buckets = garage.api("GET", "/v1/bucket")
    assert status == 200
    assert [b["globalAliases"] for b in buckets] == [["knowledge-graph"]]
    again = run_kgop("garage", "status", env={**env, "GARAGE_BUCKET": "knowledge-graph"})
    assert "bucket: present" in again.stdout
    assert "bucket: missing" in run_kgop("garage", "status", env=env).stdout  # kg-storage


def test_init_on_a_fresh_cluster_then_again(env: dict[str, str], garage: Garage) -> None:
    before = run_kgop("garage", "status", env=env)
    assert before.returncode == 0, before.stderr
    assert "no role yet" in before.stdout
    assert "bucket: missing; key: missing" in before.stdout
    first = run_kgop("garage", "init", env=env)
    assert first.returncode == 0, first.stderr
    for step in ("layout assigned", "bucket kg-storage created", "key kg-api created",
                 "key allowed on the bucket", "credentials stored encrypted"):  # fmt: skip
        assert step in first.stdout
    again = run_kgop("garage", "init", env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "already set up"
    status, keys = garage.api("GET", "/v1/key")
    assert status == 200
    assert [k["name"] for k in keys] == ["kg-api"]
    status, buckets = garage.api("GET", "/v1/bucket")
    assert status == 200
    assert len(buckets) == 1
    after = run_kgop("garage", "status", env=env)
    assert "role assigned" in after.stdout
    assert "bucket: present; key: present" in after.stdout


def test_two_keys_with_the_api_name_are_refused(env: dict[str, str], garage: Garage) -> None:
    assert run_kgop("garage", "init", env=env).returncode == 0
    status, created = garage.api("POST", "/v1/key", {"name": "kg-api"})
    assert status == 200
    done = run_kgop("garage", "status", env=env)
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1
    assert "2 keys named kg-api" in done.stderr
    assert created["accessKeyId"] in done.stderr  # type: ignore[index]


def test_a_bad_token_is_one_line_with_garages_own_reason(env: dict[str, str]) -> None:
    done = run_kgop("garage", "status", env={**env, "GARAGE_ADMIN_TOKEN": "not-the-token"})
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "Garage refused the admin token (AccessDenied: Forbidden: Invalid authorization " \
        "token)" in done.stderr  # fmt: skip
    assert "not-the-token" not in done.stderr


def test_garage_errors_carry_code_and_message(garage: Garage) -> None:
    status, body = garage.api("GET", "/v1/key?search=kg-api")
    assert status == 400
    assert body["code"] == "InvalidRequest"
    assert "0 matching keys" in body["message"]
    status, body = garage.api("GET", "/v1/bucket?globalAlias=nope")
    assert (status, body["code"]) == (404, "NoSuchBucket")  # type: ignore[index]
    status, layout = garage.api("GET", "/v1/layout")
    status, body = garage.api("POST", "/v1/layout/apply", {"version": layout["version"] + 2})  # type: ignore[index]
    assert status == 500
    assert "Invalid new layout version" in body["message"]


def test_unreachable_admin_api_is_exit_3(tmp_path: Path) -> None:
    env = kgop_env(tmp_path, GARAGE_ADMIN_TOKEN="t", KG_GARAGE_ADMIN_URL="http://127.0.0.1:9")
    done = run_kgop("garage", "status", env=env)
    assert done.returncode == 3
    assert "Cannot reach Garage's admin API" in done.stderr


def test_without_its_config_file_garage_exits(
    docker_engine: DockerEngine, network: str, tmp_path: Path
) -> None:
    done = docker(
        docker_engine, "run", "--rm", "--network", network, "-e",
        f"GARAGE_RPC_SECRET={secrets.token_hex(32)}", IMAGE, "/garage", "server",
    )  # fmt: skip
    assert done.returncode == 1
    assert "Unable to read configuration file /etc/garage.toml" in done.stderr
    config = tmp_path / "garage.toml"
    config.write_text(CONFIG_TEMPLATE.format(region="garage").replace("replication_factor", "#"))
    done = docker(
        docker_engine, "run", "--rm", "--network", network, "-v", f"{config}:/etc/garage.toml:ro",
        "-e", f"GARAGE_RPC_SECRET={secrets.token_hex(32)}", IMAGE,
    )  # fmt: skip
    assert done.returncode == 1
    assert "replication_factor" in done.stderr
    config.write_text(CONFIG_TEMPLATE.format(region="garage"))
    done = docker(
        docker_engine, "run", "--rm", "--network", network, "-v", f"{config}:/etc/garage.toml:ro",
        IMAGE,
    )  # fmt: skip
    assert done.returncode == 1
    assert "rpc_secret" in done.stderr


def test_config_file_is_written_once_and_replaces_dockers_empty_directory(
    docker_engine: DockerEngine, network: str, tmp_path: Path
) -> None:
    # Docker mounting a missing file leaves an empty directory in its place.
    home = tmp_path / "kg"
    done = docker(
        docker_engine, "run", "--rm", "--network", network,
        "-v", f"{config_path(home)}:/etc/garage.toml:ro", IMAGE,
    )  # fmt: skip
    assert done.returncode == 1
    assert config_path(home).is_dir()
    env = kgop_env(home)
    written = run_kgop("garage", "config", env=env)
    assert written.returncode == 0, written.stderr
    assert written.stdout.strip().endswith(": written")
    assert config_path(home).is_file()
    text = config_path(home).read_text()
    assert "replication_factor = 1" in text
    assert 'db_engine = "lmdb"' in text
    assert "rpc_secret" not in text
    assert "admin_token" not in text
    config_path(home).write_text(text + "\n# edited by the operator\n")
    kept = run_kgop("garage", "config", env=env)
    assert kept.stdout.strip().endswith(": present, kept as it is")
    assert config_path(home).read_text().endswith("# edited by the operator\n")
    garage = run_garage(docker_engine, network, home)
    docker(docker_engine, "rm", "-f", garage.container)


def test_a_cluster_of_nodes_is_connected_and_every_node_gets_a_role(
    docker_engine: DockerEngine, network: str, tmp_path: Path
) -> None:
    """Garage on three nodes (three tasks of a Swarm stack): init connects them, gives each
    a role in one layout, and every node ends up knowing the others and that layout."""
    from kgop_tui.errors import OperationFailed
    from kgop_tui.services.platform.garage import GarageAdmin

    ensure_config(tmp_path)
    rpc, token = secrets.token_hex(32), secrets.token_hex(16)
    nodes = [run_garage(docker_engine, network, tmp_path, rpc, token) for _ in range(3)]
    stranger = run_garage(docker_engine, network, tmp_path, token=token)  # another secret
    try:
        ids = [GarageAdmin(n.url, token).node_id() for n in nodes]
        peers = [f"{i}@{n.container}:3901" for i, n in zip(ids[1:], nodes[1:], strict=True)]
        first = GarageAdmin(nodes[0].url, token)
        steps, credentials = first.init(peers=peers)
        assert steps[:2] == ["3 nodes connected", "layout: 3 nodes assigned"]
        assert credentials is not None

        def converged() -> bool:
            for node in nodes:
                _, status = node.api("GET", "/v1/status")
                assert isinstance(status, dict)
                seen = {n["id"]: n for n in status["nodes"]}
                if status["layoutVersion"] != 1 or set(seen) != set(ids):
                    return False
                if not all(n["isUp"] and n["role"] for n in seen.values()):
                    return False
            return True

        # Nodes 2 and 3 never met directly: they learn of each other through node 1.
        wait_for(converged, 30, "every node knowing the three, up, with roles, layout v1")
        again, _ = first.init(peers=peers)
        assert again == ["3 nodes connected"]  # nothing else to do
        status = first.status()
        assert (status.nodes, status.down, status.has_role) == (3, (), True)
        # A node that stops is seen down by the others (kgop doctor warns with its id).
        docker(docker_engine, "stop", "-t", "1", nodes[2].container)
        wait_for(lambda: first.status().down == (ids[2],), 30, "node 3 seen down")

        odd = GarageAdmin(stranger.url, token).node_id()
        with pytest.raises(OperationFailed) as refused:
            first.connect([f"{odd}@{stranger.container}:3901"])
        assert f"at {stranger.container}:3901" in str(refused.value)
        assert "Error establishing RPC connection to remote node" in str(refused.value)
        assert "same GARAGE_RPC_SECRET" in refused.value.hint
    finally:
        for node in (*nodes, stranger):
            docker(docker_engine, "rm", "-f", node.container)
