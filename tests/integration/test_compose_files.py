"""Every combination of the compose overlays is a valid compose project."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.engines import DockerEngine

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
OVERLAYS = ["ssl", "macvlan", "dev"]
ENV = {
    "KG_HOME": "/srv/kg",
    "KG_VERSION": "0.6.0",
    "POSTGRES_PASSWORD": "x",
    "ENCRYPTION_KEY": "k",
    "OAUTH_SIGNING_KEY": "o",
    "INTERNAL_KEY_SERVICE_SECRET": "i",
    "GARAGE_RPC_SECRET": "y",
    "GARAGE_ADMIN_TOKEN": "z",
    "KG_MACVLAN_PARENT": "eth0",
    "KG_MACVLAN_SUBNET": "192.168.50.0/24",
    "KG_MACVLAN_GATEWAY": "192.168.50.1",
    "KG_MACVLAN_IP": "192.168.50.20",
    "KG_SOURCE": str(COMPOSE.parent),
}


# The platform's api environment (docker/docker-compose.yml:137-150), as ENV above fills it.
PLATFORM_API = {
    "ENCRYPTION_KEY": "k",
    "OAUTH_SIGNING_KEY": "o",
    "INTERNAL_KEY_SERVICE_SECRET": "i",
    "POSTGRES_HOST": "postgres",
    "POSTGRES_PORT": "5432",
    "POSTGRES_DB": "knowledge_graph",
    "POSTGRES_USER": "admin",
    "POSTGRES_PASSWORD": "x",
    "GARAGE_S3_ENDPOINT": "http://garage:3900",
    "GARAGE_BUCKET": "kg-storage",
}


def overlay_files(overlays: list[str]) -> list[str]:
    """The files install.sh puts in COMPOSE_FILE: with TLS, the TLS front takes the LAN."""
    files = ["compose.yml"]
    for name in overlays:
        if name == "macvlan" and "ssl" in overlays:
            files.append("compose.macvlan-tls.yml")
        else:
            files.append(f"compose.{name}.yml")
    return files


def config(files: list[str], env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    args = [arg for name in files for arg in ("-f", str(COMPOSE / name))]
    return subprocess.run(
        ["docker", "compose", "--project-name", "kgcheck", *args, "config", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    "overlays",
    [list(c) for n in range(len(OVERLAYS) + 1) for c in itertools.combinations(OVERLAYS, n)],
    ids=lambda c: "+".join(c) or "base",
)
def test_overlay_combination_is_valid(docker_engine: DockerEngine, overlays: list[str]) -> None:
    files = overlay_files(overlays)
    done = config(files, {**os.environ, **ENV})
    assert done.returncode == 0, done.stderr
    rendered = done.stdout
    doc = json.loads(config(files, {**os.environ, **ENV}, "--format", "json").stdout)
    garage = doc["services"]["garage"]
    mounts = {v["target"]: v for v in garage["volumes"]}
    assert mounts["/etc/garage.toml"]["source"] == "/srv/kg/garage/garage.toml"
    assert mounts["/etc/garage.toml"]["read_only"] is True
    assert garage["healthcheck"]["test"] == ["CMD", "/garage", "status"]  # exec form: no shell
    assert garage["command"] == ["/garage", "server"]
    assert "standin" not in rendered
    assert doc["services"]["api"]["depends_on"]["garage"]["condition"] == "service_healthy"
    api, web = doc["services"]["api"]["environment"], doc["services"]["web"]
    assert api["GARAGE_REGION"] == "garage"
    # What the platform's api reads, with its compose's names and defaults.
    assert {k: api[k] for k in PLATFORM_API} == PLATFORM_API
    assert [p["target"] for p in web["ports"]] == [80]  # the platform's web image serves on 80
    assert web["environment"] == {
        "VITE_API_URL": "/api" if "ssl" in overlays else "http://localhost:8000",
        "VITE_OAUTH_CLIENT_ID": "kg-web",
        "VITE_OAUTH_REDIRECT_URI": "http://localhost:3000/callback",
        "VITE_APP_NAME": "Knowledge Graph",
    }
    on_lan = sorted(n for n, s in doc["services"].items() if "lan" in (s.get("networks") or {}))
    if "macvlan" in overlays:
        assert on_lan == (["nginx"] if "ssl" in overlays else ["web"])
    else:
        assert on_lan == []
    assert "/srv/kg:/srv/kg" in rendered or "source: /srv/kg" in rendered  # same-path mount
    assert "host_ip: 127.0.0.1" in rendered
    if "ssl" in overlays:
        assert "nginx" in rendered
    if "macvlan" in overlays:
        assert "ipv4_address: 192.168.50.20" in rendered
        assert "driver: macvlan" in rendered


@pytest.mark.parametrize(
    "name",
    ["POSTGRES_PASSWORD", "ENCRYPTION_KEY", "OAUTH_SIGNING_KEY", "INTERNAL_KEY_SERVICE_SECRET"],
)
def test_missing_secret_is_named(docker_engine: DockerEngine, name: str) -> None:
    env = {k: v for k, v in {**os.environ, **ENV}.items() if k != name}
    done = config(["compose.yml"], env)
    assert done.returncode != 0
    assert f"set {name} in .env" in done.stderr


def test_the_web_address_and_the_api_url_come_from_env(docker_engine: DockerEngine) -> None:
    env = {**os.environ, **ENV, "EXTERNAL_URL": "https://kg.example.org:8443",
           "GARAGE_BUCKET": "knowledge-graph", "POSTGRES_USER": "kg"}  # fmt: skip
    doc = json.loads(config(["compose.yml"], env, "--format", "json").stdout)
    web = doc["services"]["web"]["environment"]
    assert web["VITE_OAUTH_REDIRECT_URI"] == "https://kg.example.org:8443/callback"
    api = doc["services"]["api"]["environment"]
    assert (api["GARAGE_BUCKET"], api["POSTGRES_USER"]) == ("knowledge-graph", "kg")
    assert doc["services"]["postgres"]["environment"]["POSTGRES_USER"] == "kg"
