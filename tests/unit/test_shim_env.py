"""operator.sh, sourced: it reads .env as kgop does, and defines its verbs without running."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kgop_tui.settings import parse_env_text

ROOT = Path(__file__).resolve().parents[2]

ENV = """\
# a comment
COMPOSE_PROJECT_NAME=kg # prod
export KG_VERSION="0.17.1"  # pinned
  KG_DOCKER_SOCKET = /run/docker.sock  \t
HASH=a#b
QUOTED='x # y'
EMPTY=
TWICE=first
TWICE=second
"""


@pytest.fixture
def shim(tmp_path: Path) -> Path:
    """A copy of operator.sh beside the .env above (the script's folder is its KG_HOME)."""
    shutil.copy(ROOT / "operator.sh", tmp_path / "operator.sh")
    (tmp_path / ".env").write_text(ENV)
    return tmp_path


def sourced(shim: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f"source ./operator.sh && {command}"],
        cwd=shim, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    "key", ["COMPOSE_PROJECT_NAME", "KG_VERSION", "KG_DOCKER_SOCKET", "HASH", "QUOTED", "EMPTY",
            "TWICE", "MISSING"]
)  # fmt: skip
def test_the_shim_reads_env_values_as_kgop_does(shim: Path, key: str) -> None:
    done = sourced(shim, f"env_value {key}")
    assert done.returncode == 0, done.stderr
    entry = parse_env_text(ENV).get(key)
    assert done.stdout == (entry.value if entry else "")


def test_sourcing_the_shim_runs_nothing(shim: Path) -> None:
    done = sourced(shim, "declare -F | grep -c ' cmd_'")
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 5
    assert "Usage" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("kg.example.com", True),
        ("10.0.0.7", True),
        ("fd00::7", True),
        ("localhost", True),
        ("-bad.example.com", False),
        ("kg_example.com", False),
        ("a" * 64 + ".example.com", False),
        ("kg.example.com;rm -rf /", False),
    ],
)
def test_install_sh_sourced_runs_nothing_and_checks_hostnames(
    tmp_path: Path, name: str, valid: bool
) -> None:
    """install.sh, sourced, defines its functions without installing anything (no output, no
    file written): its checks can be tried one by one."""
    done = subprocess.run(
        ["bash", "-c", f'source {ROOT / "install.sh"} && valid_hostname "$1"', "_", name],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (done.returncode == 0) == valid, done.stderr
    assert done.stdout == ""
    assert done.stderr == ""
    assert list(tmp_path.iterdir()) == []
