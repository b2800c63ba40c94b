"""install.sh --adopt: recognising the platform's standalone install by its files, and the
.env lines an adoption adds. Needs only bash (the Docker side is tests/e2e/test_adopt.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = "services:\n  garage:\n    volumes:\n      - ./config/garage.toml:/etc/garage.toml:ro\n"
FILES = {
    ".env": "POSTGRES_PASSWORD=pw\n",
    ".operator.conf": (
        "OPERATOR_MODE=standalone\nCOMPOSE_PROJECT_NAME=knowledge-graph\nGPU_MODE=cpu\n"
    ),
    "docker-compose.yml": COMPOSE,
    "docker-compose.ghcr.yml": "services: {}\n",
    "docker-compose.standalone.yml": "services: {}\n",
    "config/garage.toml": 'metadata_dir = "/meta"\n',
    "schema/00_baseline.sql": "SELECT 1;\n",
}


def install_folder(root: Path, **changes: str | None) -> Path:
    folder = root / "knowledge-graph"
    for name, text in {**FILES, **changes}.items():
        if text is None:
            continue
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def adopt(tmp_path: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "install.sh"), "--adopt", str(folder), "--yes", *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DOCKER_HOST": "unix:///nonexistent"},
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "code", "says"),
    [
        ({".env": None}, 2, "(.env is missing)"),
        ({"config/garage.toml": None}, 2, "(config/garage.toml is missing)"),
        ({".operator.conf": "OPERATOR_MODE=dev\n"}, 2, "OPERATOR_MODE=dev, not standalone"),
        (
            {"docker-compose.yml": COMPOSE.replace("./config", "../config")},
            2,
            "a repository checkout?",
        ),
        ({".operator.conf": FILES[".operator.conf"] + "GPU_MODE=nvidia\n"}, 4, "GPU_MODE=nvidia"),
        (
            {
                ".operator.conf": FILES[".operator.conf"] + "SSL_MODE=selfsigned\n",
                "docker-compose.ssl.yml": "services: {}\n",
            },
            4,
            "SSL_MODE=selfsigned",
        ),  # fmt: skip
    ],
)
def test_only_a_standalone_install_is_recognised(
    tmp_path: Path, changes: dict[str, str | None], code: int, says: str
) -> None:
    folder = install_folder(tmp_path, **changes)
    done = adopt(tmp_path, folder, "--dry-run")
    assert (done.returncode, done.stdout) == (code, "")
    assert says in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (folder / "kgop").exists()


def test_a_recognised_install_needs_the_engine(tmp_path: Path) -> None:
    """Recognised by its files; then what runs is asked of Docker (exit 3 without it)."""
    folder = install_folder(tmp_path)
    done = adopt(tmp_path, folder, "--dry-run")
    assert done.returncode == 3, done.stderr
    assert not (folder / "kgop").exists()


def test_kgop_keeps_its_files_apart(tmp_path: Path) -> None:
    folder = install_folder(tmp_path)
    done = adopt(tmp_path, folder, "--dir", str(folder), "--dry-run")
    assert done.returncode == 2
    assert "that is the platform's folder" in done.stderr


def test_kgop_refuses_a_home_below_a_compose_file(tmp_path: Path) -> None:
    """compose would find the platform's docker-compose.yml above DIR/kgop and run its project."""
    folder = install_folder(tmp_path)
    done = adopt(tmp_path, folder, "--dir", str(folder / "kgop"), "--dry-run")
    assert done.returncode == 2
    assert f"{folder}/docker-compose.yml is above it" in done.stderr
    assert not (folder / "kgop").exists()


def bash(script: str) -> str:
    """Run ``script`` with install.sh's own helpers and install.d/adopt.sh sourced (the
    operator image's name stubbed: it would read the source's VERSION)."""
    prelude = f"""
source {ROOT}/install.sh
OPT[dir]=/srv/kg/kgop
SOURCE={ROOT}
image() {{ printf 'kg-operator:test'; }}
source {ROOT}/install.d/adopt.sh
"""
    done = subprocess.run(
        ["bash", "-c", prelude + script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_conf_values_are_read_as_data_not_run(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.write_text('GPU_MODE=cpu\nSSL_MODE="offload"\nX=$(touch ' + str(tmp_path / "ran") + ")\n")
    out = bash(f"adopt_conf_value {conf} SSL_MODE; echo; adopt_conf_value {conf} X; echo")
    assert out.splitlines() == ["offload", f"$(touch {tmp_path / 'ran'})"]
    assert not (tmp_path / "ran").exists()


def test_the_env_lines_an_adoption_adds() -> None:
    """kgop's settings; the volumes, garage.toml and ports as the platform had them; none of
    the platform's own keys (they stay byte for byte); kgop's secrets only when missing."""
    out = bash(
        """
ADOPT=([dir]=/srv/kg [version]=0.16.0 [kgop_project]=knowledge-graph-kgop
  [img_api]=ghcr.io/x/kg-api:latest [img_web]=ghcr.io/x/kg-web:latest
  [img_postgres]=ghcr.io/x/kg-postgres:latest [img_garage]=dxflrs/garage:v1.0.0
  [vol_postgres]=0f3a9c [vol_garage_meta]=knowledge-graph_garage_meta
  [vol_garage_data]=knowledge-graph_garage_data [pub_postgres]=127.0.0.1:5432
  [pub_s3]=127.0.0.1:3900 [pub_admin]=127.0.0.1:3903 [pub_api]=8000 [pub_web]=3000)
adopt_env_directives
"""
    )
    lines = out.splitlines()
    assert "set COMPOSE_PROJECT_NAME=knowledge-graph-kgop" in lines
    assert "set COMPOSE_FILE=compose/compose.yml:compose/compose.adopted.yml" in lines
    assert "set KG_ADOPT_POSTGRES_VOLUME=0f3a9c" in lines  # an anonymous volume's name
    assert "set KG_ADOPT_GARAGE_CONFIG=/srv/kg/config/garage.toml" in lines
    assert "set KG_ADOPT_API_PUBLISH=8000" in lines  # every address, as "8000:8000" published it
    assert "set KG_POSTGRES_PORT=5432" in lines
    assert "set KG_API_IMAGE=ghcr.io/x/kg-api:latest" in lines
    assert "set KG_OPERATOR_IMAGE=kg-operator:test" in lines
    assert "secret GARAGE_ADMIN_TOKEN hex:32" in lines
    platform_keys = ("POSTGRES_PASSWORD", "ENCRYPTION_KEY", "OAUTH_SIGNING_KEY",
                     "INTERNAL_KEY_SERVICE_SECRET", "GARAGE_RPC_SECRET")  # fmt: skip
    assert not [line for line in lines if line.split(" ")[1].split("=")[0] in platform_keys]
    assert not [line for line in lines if line.startswith("header")]


def test_a_port_published_on_every_address_keeps_its_host_port() -> None:
    assert bash(
        "adopt_port 8000 1; echo; adopt_port 127.0.0.1:15432 1; echo; adopt_port '' 3000"
    ).split() == ["8000", "15432", "3000"]
