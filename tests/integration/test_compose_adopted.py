"""compose.adopted.yml on compose.yml: an adopted install's services mount the platform's own
volumes where its standalone compose chain did, its garage.toml unchanged, its ports."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests.integration.test_compose_files import COMPOSE, ENV
from tests.support.engines import DockerEngine

ADOPTED = {
    "KG_ADOPT_POSTGRES_VOLUME": "knowledge-graph_postgres_data",
    "KG_ADOPT_GARAGE_META_VOLUME": "knowledge-graph_garage_meta",
    "KG_ADOPT_GARAGE_DATA_VOLUME": "knowledge-graph_garage_data",
    "KG_ADOPT_GARAGE_CONFIG": "/home/me/knowledge-graph/config/garage.toml",
    "KG_ADOPT_API_PUBLISH": "8000",
    "KG_ADOPT_WEB_PUBLISH": "3000",
}


def rendered(env: dict[str, str]) -> tuple[int, str, dict[str, Any]]:
    files = [
        a for name in ("compose.yml", "compose.adopted.yml") for a in ("-f", str(COMPOSE / name))
    ]
    done = subprocess.run(
        ["docker", "compose", "--project-name", "kgcheck", *files, "config", "--format", "json"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    return done.returncode, done.stderr, json.loads(done.stdout) if done.returncode == 0 else {}


def mounts(service: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(v["type"], v["source"], v["target"]) for v in service["volumes"]}


def test_the_platforms_volumes_mounted_where_it_mounted_them(docker_engine: DockerEngine) -> None:
    code, err, doc = rendered({**os.environ, **ENV, **ADOPTED})
    assert code == 0, err
    services, volumes = doc["services"], doc["volumes"]
    assert mounts(services["postgres"]) == {("volume", "postgres-data", "/var/lib/postgresql")}
    assert mounts(services["garage"]) == {
        ("bind", ADOPTED["KG_ADOPT_GARAGE_CONFIG"], "/etc/garage.toml"),
        ("volume", "garage-meta", "/meta"),
        ("volume", "garage-data", "/data"),
    }
    assert services["garage"]["command"] == ["/garage", "-c", "/etc/garage.toml", "server"]
    for key, name in (("postgres-data", "knowledge-graph_postgres_data"),
                      ("garage-meta", "knowledge-graph_garage_meta"),
                      ("garage-data", "knowledge-graph_garage_data")):  # fmt: skip
        assert (volumes[key]["name"], volumes[key]["external"]) == (name, True)
    # "8000:8000" and "3000:80" in the platform's compose: every address, not loopback only.
    api = services["api"]["ports"]
    assert [(p.get("host_ip", ""), p["published"], p["target"]) for p in api] == [
        ("", "8000", 8000)
    ]
    web = services["web"]["ports"]
    assert [(p.get("host_ip", ""), p["published"], p["target"]) for p in web] == [("", "3000", 80)]


def test_without_the_adopted_values_compose_refuses(docker_engine: DockerEngine) -> None:
    env = {**os.environ, **ENV, **ADOPTED}
    del env["KG_ADOPT_POSTGRES_VOLUME"]
    code, err, _ = rendered(env)
    assert code != 0
    assert "set KG_ADOPT_POSTGRES_VOLUME in .env" in err
