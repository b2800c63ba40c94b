"""Plain verbs import only what they use: start-up is their whole cost in a script's loop.

Each verb runs in a fresh interpreter against an engine address where nothing answers (the
verb fails after its imports, which is what is measured here), then reports which heavy
modules it loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "docker", "requests", "urllib3", "textual", "asyncpg", "acme", "cryptography", "re2",
    "pydantic",
)  # fmt: skip
PROBE = """
import json, sys
from kgop_tui.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
"""


def loaded_by(tmp_path: Path, *argv: str) -> tuple[int, list[str]]:
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=kgbudget\n")
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *argv],
        capture_output=True, text=True, timeout=60,
        env={"KG_HOME": str(tmp_path), "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
             "KGOP_DATABASE_URL": f"postgresql://kg@/kg?host={tmp_path}",
             "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )  # fmt: skip
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return int(report["code"]), list(report["loaded"])


@pytest.mark.parametrize(
    "argv",
    [["status"], ["status", "--json"], ["logs", "api", "--tail", "100"], ["--version"]],
    ids=["status", "status-json", "logs", "version"],
)
def test_plain_verbs_do_not_import_the_sdk_or_the_tui(tmp_path: Path, argv: list[str]) -> None:
    code, loaded = loaded_by(tmp_path, *argv)
    if argv != ["--version"]:
        assert code == 3  # no engine there: the verb got as far as asking it
    assert loaded == [], f"kgop {' '.join(argv)} imported {loaded}"


def test_migrate_status_needs_the_driver_but_not_pydantic(tmp_path: Path) -> None:
    (tmp_path / "sql" / "migrations").mkdir(parents=True)
    (tmp_path / "sql" / "migrations" / "001_one.sql").write_text("SELECT 1;\n")
    code, loaded = loaded_by(tmp_path, "migrate", "status", "--json")
    assert code == 3  # no Postgres there: the verb read the files and tried to connect
    assert loaded == ["asyncpg"], f"kgop migrate status imported {loaded}"
