"""`kgop stack render`: the install's compose files + compose/stack.yml, as Swarm takes them
(checked by `docker stack config`, the Docker CLI's own reading of a stack file)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "stack-password-0123"


# An install's own overlay, mounting a file of KG_HOME that only its owner may read.
OWN = "services:\n  api:\n    volumes:\n      - ${KG_HOME}/api-token:/run/kg/api-token:ro\n"


def install(home: Path, files: str) -> Path:
    shutil.copytree(ROOT / "compose", home / "compose")
    (home / "compose" / "own.yml").write_text(OWN)
    (home / "api-token").write_text("token-0123")
    (home / "api-token").chmod(0o600)
    (home / "garage").mkdir()
    (home / "garage" / "garage.toml").write_text("")
    (home / "nginx").mkdir()
    (home / "nginx" / "kg.conf").write_text("")
    (home / "certs").mkdir()
    (home / ".env").write_text(
        f"COMPOSE_PROJECT_NAME=kgstack\nKG_HOME={home}\nKG_VERSION=0.6.0\n"
        f"COMPOSE_FILE={files}:compose/own.yml\n"
        f"POSTGRES_PASSWORD={SECRET}\nGARAGE_RPC_SECRET=rpc\nGARAGE_ADMIN_TOKEN=admin\n"
        "ENCRYPTION_KEY=enc\nOAUTH_SIGNING_KEY=oauth\nINTERNAL_KEY_SERVICE_SECRET=internal\n"
    )
    return home


def kgop(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kgop_tui.cli", "--home", str(home), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def stack_config(document: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "stack", "config", "-c", "-"], input=document, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    "files",
    ["compose/compose.yml", "compose/compose.yml:compose/compose.ssl.yml"],
    ids=["plain", "tls"],
)
def test_the_rendered_stack_is_what_swarm_takes(tmp_path: Path, files: str) -> None:
    home = install(tmp_path / "kg", files)
    before = sorted(str(p) for p in home.rglob("*"))
    done = kgop(home, "stack", "render")
    assert done.returncode == 0, done.stderr
    checked = stack_config(done.stdout)
    assert checked.returncode == 0, checked.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    services = doc["services"]
    for name in ("api", "web"):
        deploy = services[name]["deploy"]
        assert deploy["replicas"] == 2
        assert deploy["update_config"]["order"] == "start-first"
        assert deploy["update_config"]["failure_action"] == "rollback"
    assert services["postgres"]["deploy"]["update_config"]["order"] == "stop-first"
    for service in services.values():
        assert not {"depends_on", "container_name", "restart"} & set(service)
    # Loopback-only ports of compose are not opened on every node; nginx's are published.
    assert "ports" not in services["postgres"]
    assert "ports" not in services["api"]
    if "ssl" in files:
        assert {p["published"] for p in services["nginx"]["ports"]} == {80, 443}
    assert doc["networks"]["default"]["driver"] == "overlay"
    assert doc["networks"]["default"]["attachable"] is True
    assert "encrypted" in doc["networks"]["default"]["driver_opts"]
    # KG_HOME's files reach the tasks on any node: garage.toml as a config, the private
    # token as a secret, each named after its content; its folders stay mounts, on this node.
    assert services["garage"]["configs"] == [
        {"source": "garage-garage.toml", "target": "/etc/garage.toml"}
    ]
    assert services["api"]["secrets"] == [
        {"source": "api-api-token", "target": "/run/kg/api-token"}
    ]
    assert not [v for v in services["garage"]["volumes"] if v["type"] == "bind"]
    config = doc["configs"]["garage-garage.toml"]
    assert config["file"] == str(home / "garage" / "garage.toml")
    assert config["name"].startswith("kgstack_garage-garage.toml-")
    assert doc["secrets"]["api-api-token"]["file"] == str(home / "api-token")
    assert "token-0123" not in done.stdout
    operator = services["operator"]
    assert {"source": str(home), "target": str(home)}.items() <= operator["volumes"][1].items()
    assert "node.role == manager" in operator["deploy"]["placement"]["constraints"]
    if "ssl" in files:
        assert "kg.conf" not in json.dumps(services["nginx"]["volumes"])
        assert {v["target"] for v in services["nginx"]["volumes"]} == {
            "/etc/nginx/certs", "/var/www/acme"
        }  # fmt: skip
    # The secrets of .env are in the output (Swarm needs them), never in a file; the one
    # thing render adds is a missing folder to mount (Swarm would refuse the task).
    assert SECRET in done.stdout
    after = sorted(str(p) for p in home.rglob("*"))
    assert set(after) - set(before) == ({str(home / "nginx" / "acme")} if "ssl" in files else set())

    # An edited file is a new config (Swarm's cannot change), the same one the same name.
    again = json.loads(kgop(home, "stack", "render").stdout)
    assert again["configs"]["garage-garage.toml"]["name"] == config["name"]
    (home / "garage" / "garage.toml").write_text("# edited\n")
    edited = json.loads(kgop(home, "stack", "render").stdout)
    assert edited["configs"]["garage-garage.toml"]["name"] != config["name"]


def test_without_the_overlay_it_says_what_is_missing(tmp_path: Path) -> None:
    home = install(tmp_path / "kg", "compose/compose.yml")
    (home / "compose" / "stack.yml").unlink()
    done = kgop(home, "stack", "render")
    assert done.returncode == 2
    assert "compose/stack.yml is missing" in done.stderr
    assert done.stderr.count("\n") == 1
