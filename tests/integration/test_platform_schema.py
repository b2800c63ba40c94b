"""The platform's own schema (baseline + migrations of each release) on Postgres with AGE.

Each release's ``schema/`` comes from the shared archives of the platform. What kgop does is
compared with what the platform's own way does (its baseline at initdb, then psql per file):
the same tables, columns and tracking rows, kgop's bookkeeping only in schema ``kgop``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.helpers import execute, fetch, kgop_env, run_kgop
from tests.support.platform import file_versions, platform_way, psql, release_tree, schema

PLATFORM_SCHEMAS = ("public", "kg_api", "kg_auth", "kg_logs", "ag_catalog", "knowledge_graph")


def env_for(tmp_path: Path, dsn: str, version: str) -> dict[str, str]:
    return kgop_env(
        tmp_path, KGOP_DATABASE_URL=dsn, KGOP_MIGRATIONS_DIR=str(schema(version) / "migrations")
    )


def up(env: dict[str, str], *args: str) -> str:
    done = run_kgop("migrate", "up", *args, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def status(env: dict[str, str]) -> dict[str, object]:
    done = run_kgop("migrate", "status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def structure(dsn: str) -> list[tuple[str, str, str, str]]:
    """Every column of every table and view in the platform's schemas."""
    rows = fetch(
        dsn,
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ANY($1::text[]) ORDER BY 1, 2, 3",
        list(PLATFORM_SCHEMAS),
    )
    return [(r["table_schema"], r["table_name"], r["column_name"], r["data_type"]) for r in rows]


def tracking(dsn: str) -> list[tuple[int, str]]:
    rows = fetch(dsn, "SELECT version, name FROM public.schema_migrations ORDER BY version")
    return [(r["version"], r["name"]) for r in rows]


def graph_counts(dsn: str) -> dict[str, int]:
    rows = fetch(
        dsn,
        "SELECT l.name, l.kind, l.relation::text AS rel FROM ag_catalog.ag_label l "
        "JOIN ag_catalog.ag_graph g ON g.graphid = l.graph WHERE g.name = 'knowledge_graph' "
        "ORDER BY 1",
    )
    counts = {}
    for r in rows:
        counts[r["name"]] = fetch(dsn, f"SELECT count(*) AS n FROM {r['rel']}")[0]["n"]
    return counts


def expected_recorded(version: str) -> set[int]:
    return file_versions(version) - ({58} if version != "0.17.1" else set())


def graph_data(dsn: str) -> dict[str, list[str]]:
    """Ids and properties of the vertices and edges the test made."""
    out = {}
    for label in ("Concept", "Source", "APPEARS"):
        rows = fetch(
            dsn, f'SELECT id::text || properties::text AS r FROM knowledge_graph."{label}"'
        )
        out[label] = sorted(r["r"] for r in rows)
    assert len(out["APPEARS"]) == 300
    return out


@pytest.mark.parametrize("version", ["0.14.0", "0.16.0", "0.17.0", "0.17.1"])
def test_each_release_schema_applies_as_the_platform_applies_it(
    version: str, tmp_path: Path, postgres: str, pg_server: object
) -> None:
    env = env_for(tmp_path, postgres, version)
    out = up(env)
    assert "Applied the platform's baseline 00_baseline.sql" in out
    if version == "0.17.1":  # dumped by PostgreSQL 18; this server is older
        assert "Left out settings this server does not have: transaction_timeout" in out
    warm = run_kgop("migrate", "up", "--warm", env=env, timeout=600)
    if version == "0.17.1":  # its baseline carries the fixed warm file
        assert warm.returncode == 0, warm.stderr
    else:  # the warm file of these releases fails in psql too ($$ inside a DO $$ body)
        assert warm.returncode == 1, warm.stdout + warm.stderr
        assert "058_precreate_graph_labels.sql failed and was rolled back at line 35" in (
            warm.stderr
        )

    doc = status(env)
    left = {e["version"]: e["state"] for e in doc["entries"] if e["state"] != "applied"}  # type: ignore[union-attr]
    assert left == ({} if version == "0.17.1" else {58: "pending"}), left
    assert doc["baseline"] == str(schema(version) / "00_baseline.sql")
    assert f"the platform's {version} schema" in str(doc["schema_source"])
    recorded = {v for v, _ in tracking(postgres)}
    assert expected_recorded(version) <= recorded
    assert fetch(postgres, "SELECT name FROM ag_catalog.ag_graph") == [{"name": "knowledge_graph"}]
    own = fetch(postgres, "SELECT version FROM kgop.migrations ORDER BY version")
    expected = file_versions(version) - ({58} if version != "0.17.1" else set())
    assert {r["version"] for r in own} == expected

    # The platform's way into a second database: the same structure and tracking rows.
    twin = postgres + "_twin"
    base = postgres.rsplit("/", 1)
    execute(base[0] + "/postgres", f'CREATE DATABASE "{base[1]}_twin"')
    try:
        failed = platform_way(twin, version)
        assert failed == ([] if version == "0.17.1" else ["058_precreate_graph_labels.sql"])
        assert structure(postgres) == structure(twin)
        assert tracking(postgres) == tracking(twin)
        assert graph_counts(postgres) == graph_counts(twin)
    finally:
        execute(base[0] + "/postgres", f'DROP DATABASE "{base[1]}_twin" WITH (FORCE)')


def test_upgrade_path_014_to_016_to_0171_keeps_the_graph(tmp_path: Path, postgres: str) -> None:
    up(env_for(tmp_path, postgres, "0.14.0"))
    execute(
        postgres,
        "LOAD 'age'; SET search_path = ag_catalog, public; "
        "SELECT * FROM cypher('knowledge_graph', $$ UNWIND range(1, 300) AS i "
        "CREATE (:Concept {concept_id: 'c' + toString(i), label: 'concept ' + toString(i)})"
        "-[:APPEARS]->(:Source {source_id: 's' + toString(i)}) $$) AS (a agtype)",
    )
    before = graph_data(postgres)
    users = fetch(postgres, "SELECT id, username FROM kg_auth.users ORDER BY id")

    out = up(env_for(tmp_path, postgres, "0.16.0"))
    assert "Applied 5 migration(s)" in out, out
    # 0.16.0 edited four files 0.14.0 had applied: the release's content, not drift.
    assert "Recorded the release's new content of applied files: 3, 8, 12, 59." in out
    # A local edit under the release in force is drift again, whether or not the release
    # itself had changed that file (005 it did not, 003 it did).
    copy = tmp_path / "edited"
    shutil.copytree(release_tree("0.16.0") / "schema", copy / "schema")
    (copy / "VERSION").write_text("0.16.0\n")
    for prefix in ("003_", "005_"):
        found = next((copy / "schema" / "migrations").glob(prefix + "*.sql"))
        found.write_text(found.read_text() + "\n-- edited here\n")
    edited_env = kgop_env(
        tmp_path,
        KGOP_DATABASE_URL=postgres,
        KGOP_MIGRATIONS_DIR=str(copy / "schema" / "migrations"),
    )
    states = {e["version"]: e["state"] for e in status(edited_env)["entries"]}  # type: ignore[union-attr]
    assert (states[3], states[5]) == ("drifted", "drifted")
    # 0.17.1's checkpoint: every file in archived/; 079 and 080 are new since 0.16.0.
    out = up(env_for(tmp_path, postgres, "0.17.1"))
    assert "archived/079_search_default_threshold.sql ... ok" in out, out
    assert "Applied 2 migration(s); database at version 80." in out, out
    # Its warm file was fixed since 0.14.0 (whose copy fails in psql too): it applies now.
    out = up(env_for(tmp_path, postgres, "0.17.1"), "--warm")
    assert "migrations-warm/058_precreate_graph_labels.sql ... ok" in out, out
    doc = status(env_for(tmp_path, postgres, "0.17.1"))
    left = [e for e in doc["entries"] if e["state"] != "applied"]  # type: ignore[union-attr]
    assert left == [], left
    assert graph_data(postgres) == before  # the releases added labels and seeds, kept these
    assert fetch(postgres, "SELECT id, username FROM kg_auth.users ORDER BY id") == users


def test_the_packaged_schema_on_a_platform_database_changes_nothing(
    tmp_path: Path, postgres: str
) -> None:
    """kgop's packaged schema is a subset of the 0.17.1 baseline recording the same versions:
    on the platform's own 0.17.1 database there is nothing to apply and nothing drifted."""
    up(env_for(tmp_path, postgres, "0.17.1"))
    before = (structure(postgres), tracking(postgres))
    packaged = Path(__file__).resolve().parents[2] / "kgop_tui" / "sql" / "migrations"
    env = kgop_env(tmp_path, KGOP_DATABASE_URL=postgres, KGOP_MIGRATIONS_DIR=str(packaged))
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Nothing to apply" in done.stdout
    doc = status(env)
    assert {e["state"] for e in doc["entries"]} == {"baseline"}  # type: ignore[union-attr,index]
    assert (structure(postgres), tracking(postgres)) == before


def test_an_earlier_kgop_install_moves_its_bookkeeping_keeping_every_checksum(
    tmp_path: Path, postgres: str
) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_one.sql").write_text("CREATE TABLE one (id int);")
    (folder / "0002_two.sql").write_text("CREATE TABLE two (id int);")
    env = kgop_env(tmp_path, KGOP_DATABASE_URL=postgres, KGOP_MIGRATIONS_DIR=str(folder))
    up(env)
    # The layout earlier releases left: kgop's columns in the platform's table, no kgop schema.
    execute(
        postgres,
        "ALTER TABLE public.schema_migrations ADD COLUMN checksum text, "
        "ADD COLUMN duration_ms integer, ADD COLUMN applied_by text, ADD COLUMN kgop_version text;"
        "UPDATE public.schema_migrations p SET checksum = k.checksum, duration_ms = "
        "k.duration_ms, applied_by = k.applied_by, kgop_version = k.kgop_version "
        "FROM kgop.migrations k WHERE k.version = p.version; DROP SCHEMA kgop CASCADE;",
    )
    old = status(env)["entries"]
    assert all(e["checksum"] and e["applied_by"] for e in old)  # type: ignore[union-attr,index]

    up(env)
    assert status(env)["entries"] == old
    columns = fetch(
        postgres,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = 'schema_migrations' ORDER BY 1",
    )
    assert [c["column_name"] for c in columns] == ["applied_at", "name", "version"]


def test_a_failing_baseline_leaves_an_empty_database(tmp_path: Path, postgres: str) -> None:
    copy = tmp_path / "schema"
    shutil.copytree(schema("0.17.0"), copy)
    text = (copy / "00_baseline.sql").read_text()
    # A statement near the end that fails: everything before it must be rolled back.
    (copy / "00_baseline.sql").write_text(text + "\nSELECT * FROM kg_api.no_such_table;\n")
    env = kgop_env(
        tmp_path, KGOP_DATABASE_URL=postgres, KGOP_MIGRATIONS_DIR=str(copy / "migrations")
    )
    done = run_kgop("migrate", "up", env=env, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    line = text.count("\n") + 2
    assert f"00_baseline.sql failed and was rolled back at line {line}" in done.stderr
    assert fetch(
        postgres,
        "SELECT count(*) AS n FROM pg_namespace WHERE nspname IN ('kg_api', 'kg_auth', 'kgop')",
    ) == [{"n": 0}]
    assert psql(postgres, "-c", "SELECT 1").returncode == 0
