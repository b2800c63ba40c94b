"""The host's Postgres, where the tests' throwaway clusters run, has Apache AGE.

The platform's schema creates the extension and queries its graph with cypher, so every
cluster the suite starts must be able to; scripts/test.sh installs AGE there, and
``start_cluster`` refuses to start one without it when the test command demands engines.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.engines import age_missing, require_or_skip


def psql(dsn: str, *commands: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("psql") is None:
        require_or_skip("psql is not installed")
    args = [arg for command in commands for arg in ("-c", command)]
    return subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-X", "-q", "-At", dsn, *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_test_cluster_creates_age_and_answers_cypher(postgres: str) -> None:
    available = psql(postgres, "SELECT 1 FROM pg_available_extensions WHERE name = 'age'")
    assert available.returncode == 0, available.stderr
    if available.stdout.strip() != "1":
        require_or_skip("Apache AGE is not installed in the test server's Postgres")
    done = psql(
        postgres,
        "CREATE EXTENSION age",
        "LOAD 'age'",
        'SET search_path = ag_catalog, "$user", public',
        "SELECT create_graph('kgop_probe')",
        "SELECT * FROM cypher('kgop_probe', $$ CREATE (:Concept {label: 'kg'}) $$) AS (v agtype)",
        "SELECT * FROM cypher('kgop_probe', $$ MATCH (c:Concept) RETURN c.label $$) AS (l agtype)",
        "SELECT extversion FROM pg_extension WHERE extname = 'age'",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ['"kg"', "1.6.0"]


def test_a_server_without_age_is_named(tmp_path: Path) -> None:
    """What start_cluster reports (and fails on, under KGOP_REQUIRE_ENGINES) is precise."""
    lib, share = tmp_path / "lib", tmp_path / "share"
    (share / "extension").mkdir(parents=True)
    lib.mkdir()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    pg_config = bindir / "pg_config"
    pg_config.write_text(f"#!/bin/sh\nprintf '%s\\n' {lib} {share}\n")
    pg_config.chmod(0o755)
    reason = age_missing(bindir)
    assert reason is not None
    assert f"{lib / 'age.so'}, {share / 'extension' / 'age.control'}" in reason
    (lib / "age.so").write_bytes(b"")
    (share / "extension" / "age.control").write_text("")
    assert age_missing(bindir) is None
    assert "pg_config not found" in (age_missing(tmp_path / "nowhere") or "")
