"""Backups and restores of a platform database with its Apache AGE graph, on real Postgres.

The database is made by the platform's own 0.17.1 baseline; its graph (more than 10,000
vertices and edges) by cypher. A restore goes through a side database that is renamed, so
the graph's schema gets a new oid there: the graph must still answer cypher afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_backup import Home, resign
from tests.support.engines import DockerEngine
from tests.support.helpers import execute, fetch, table_snapshot
from tests.support.platform_db import add_graph, cypher, load_platform_baseline

VERSION = "0.17.1"
SOURCES = 1500  # 10,500 vertices and 13,500 edges


def graph_state(dsn: str) -> dict[str, Any]:
    """What a user of the graph sees: every vertex and edge with its id, label and
    properties, the counts per label, and AGE's label catalog."""
    vertices = cypher(dsn, "MATCH (v) RETURN id(v), label(v), properties(v)", "i", "l", "p")
    edges = cypher(
        dsn,
        "MATCH (a)-[e]->(b) RETURN id(e), type(e), id(a), id(b), properties(e)",
        *("i", "t", "a", "b", "p"),
    )
    labels = fetch(
        dsn,
        "SELECT l.name::text AS name, g.name::text AS graph, l.id, l.kind::text AS kind, "
        "l.relation::text AS relation, l.seq_name::text AS seq FROM ag_catalog.ag_label l "
        "JOIN ag_catalog.ag_graph g ON g.graphid = l.graph ORDER BY l.id",
    )
    return {
        "vertices": sorted(tuple(v.values()) for v in vertices),
        "edges": sorted(tuple(e.values()) for e in edges),
        "vertex_counts": _counts(v["l"] for v in vertices),
        "edge_counts": _counts(e["t"] for e in edges),
        "labels": labels,
    }


def _counts(labels: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for label in labels:
        out[label] = out.get(label, 0) + 1
    return dict(sorted(out.items()))


def relational(dsn: str) -> dict[str, tuple[int, str]]:
    """Every table's rows but AGE's catalog (whose graph oids a restore changes)."""
    return table_snapshot(dsn, exclude=("ag_catalog",))


@pytest.fixture
def graph_home(tmp_path: Path, postgres: str, docker_engine: DockerEngine) -> Home:
    load_platform_baseline(postgres, VERSION)
    add_graph(postgres, SOURCES)
    execute(
        postgres,
        "INSERT INTO kg_api.jobs (job_id, job_type, status, job_data, user_id) "
        "SELECT 'job-' || n, 'ingestion', 'completed', jsonb_build_object('n', n), 1 "
        "FROM generate_series(1, 300) n;"
        "INSERT INTO kg_logs.audit_trail (action, resource_type, outcome, details) "
        "SELECT 'ingest', 'document', 'success', jsonb_build_object('n', n) "
        "FROM generate_series(1, 300) n;",
    )
    return Home(tmp_path, postgres, docker_engine)


def backup(home: Home) -> dict[str, Any]:
    made = home.kgop("backup", "--json")
    assert made.returncode == 0, made.stderr
    info: dict[str, Any] = json.loads(made.stdout)
    return info


def test_the_graph_answers_cypher_as_before_after_backup_and_restore(graph_home: Home) -> None:
    home = graph_home
    database = home.dsn.rsplit("/", 1)[1]
    # A setting of the database itself, as AGE's docs suggest for psql users.
    execute(home.dsn, f'ALTER DATABASE "{database}" SET search_path = ag_catalog, "$user", public')
    before, tables = graph_state(home.dsn), relational(home.dsn)
    assert sum(before["vertex_counts"].values()) + sum(before["edge_counts"].values()) >= 10_000
    assert {"Concept", "Source", "Instance"} <= set(before["vertex_counts"])
    assert {"APPEARS", "EVIDENCED_BY", "FROM_SOURCE"} <= set(before["edge_counts"])

    info = backup(home)
    counted = {"vertices": before["vertex_counts"], "edges": before["edge_counts"]}
    assert info["graphs"] == {"knowledge_graph": counted}
    assert info["schema_version"] == 80

    # Damage the graph and the tables after the backup.
    cypher(home.dsn, "MATCH (c:Concept) WHERE c.concept_id STARTS WITH 'c-src-1' DETACH DELETE c")
    cypher(home.dsn, "CREATE (:Concept {concept_id: 'after the backup'})-[:APPEARS]->(:Source)")
    execute(home.dsn, "DELETE FROM kg_api.jobs WHERE job_id > 'job-2'")
    assert graph_state(home.dsn) != before

    restored = home.kgop("restore", info["path"], "--yes", "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["graphs"] == {"knowledge_graph": counted}
    assert graph_state(home.dsn) == before
    assert relational(home.dsn) == tables
    # The database's own settings came along: a session that sets nothing finds AGE first.
    assert fetch(home.dsn, "SHOW search_path")[0]["search_path"] == 'ag_catalog, "$user", public'

    # New vertices and edges continue their labels' id sequences: no id is reused.
    made = cypher(
        home.dsn,
        "MATCH (s:Source {source_id: 'src-7'}) "
        "CREATE (c:Concept {concept_id: 'new'})-[e:APPEARS]->(s) RETURN id(c), id(e)",
        *("c", "e"),
    )
    concept_ids = [int(v[0]) for v in before["vertices"] if v[1] == "Concept"]
    appears_ids = [int(e[0]) for e in before["edges"] if e[1] == "APPEARS"]
    assert int(made[0]["c"]) > max(concept_ids)
    assert int(made[0]["e"]) > max(appears_ids)
    # ... and a new label takes the next free label id.
    cypher(home.dsn, "CREATE (:Glossary {term: 'restore'})")
    glossary = fetch(home.dsn, "SELECT id FROM ag_catalog.ag_label WHERE name = 'Glossary'")
    assert glossary == [{"id": max(label["id"] for label in before["labels"]) + 1}]
    after = graph_state(home.dsn)
    assert after["vertex_counts"]["Glossary"] == 1
    assert after["vertex_counts"]["Concept"] == before["vertex_counts"]["Concept"] + 1
    assert after["edge_counts"]["APPEARS"] == before["edge_counts"]["APPEARS"] + 1
    names = [r["datname"] for r in fetch(home.dsn, "SELECT datname FROM pg_database")]
    assert [n for n in names if n.startswith(database)] == [database]


def test_a_restored_graph_that_does_not_answer_as_backed_up_is_not_swapped_in(
    graph_home: Home,
) -> None:
    home = graph_home
    info = backup(home)
    record_path = Path(info["path"]) / "backup.json"
    record = json.loads(record_path.read_text())
    record["graphs"]["knowledge_graph"]["vertices"]["Concept"] += 1
    resign(home, Path(info["path"]), record)  # signed: the graph check after it is reached
    cypher(home.dsn, "CREATE (:Concept {concept_id: 'kept'})")
    live = graph_state(home.dsn)

    done = home.kgop("restore", info["path"], "--yes")
    assert done.returncode == 1, done.stderr
    concepts = live["vertex_counts"]["Concept"] - 1
    assert f"knowledge_graph Concept: {concepts} instead of {concepts + 1}" in done.stderr
    assert "the live database was not changed" in done.stderr
    assert graph_state(home.dsn) == live
    leftovers = fetch(home.dsn, "SELECT datname FROM pg_database WHERE datname LIKE '%restore%'")
    assert leftovers == []


def test_a_backup_the_database_user_may_not_take_fails_in_one_sentence(graph_home: Home) -> None:
    home = graph_home
    database = home.dsn.rsplit("/", 1)[1]
    role = f"{database}_ro"
    execute(
        home.dsn,
        f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw'; GRANT CONNECT ON DATABASE {database} "
        f"TO {role}; GRANT USAGE ON SCHEMA kg_api TO {role}",
    )
    try:
        server = home.dsn.split("@", 1)[1].split("/", 1)[0]
        dsn = f"postgresql://{role}:reader-pw@{server}/{database}"
        done = home.kgop("backup", KGOP_DATABASE_URL=dsn)
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("kgop: ")
        assert done.stderr.count("\n") == 1
        assert "Traceback" not in done.stderr
        assert list((home.root / "backups").iterdir()) == []
    finally:
        execute(home.dsn, f"DROP OWNED BY {role}; DROP ROLE {role}")
