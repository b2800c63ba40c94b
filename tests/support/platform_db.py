"""Databases made with the platform's own schema, and a graph in them, for tests and benches.

The platform's releases come from :mod:`tests.support.platform` (the shared archives).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.support.helpers import execute, run_async
from tests.support.platform import baseline_for_pg15, psql_binary

ROOT = Path(__file__).resolve().parents[2]
# What the platform's api runs on each connection before cypher.
SESSION = "LOAD 'age'; SET search_path = ag_catalog, \"$user\", public"


def load_platform_baseline(dsn: str, version: str) -> None:
    """Make the (empty) database at ``dsn`` a platform database of ``version``, as its
    Postgres image does at initdb: one transaction, stopping at the first error."""
    done = subprocess.run(
        [psql_binary(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", dsn],
        input=baseline_for_pg15(version),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"the {version} baseline failed: {done.stderr[-2000:]}"


def cypher(dsn: str, query: str, *columns: str) -> list[dict[str, Any]]:
    """Rows of a cypher query on the platform's graph, each column as agtype's text, in a
    session set up as the platform's api sets up its own."""
    import asyncpg

    names = columns or ("r",)
    select = ", ".join(f"{name}::text AS {name}" for name in names)
    as_ = ", ".join(f"{name} agtype" for name in names)

    async def go() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(SESSION)
            sql = f"SELECT {select} FROM cypher('knowledge_graph', $q$ {query} $q$) AS ({as_})"
            return [dict(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    rows: list[dict[str, Any]] = run_async(go())
    return rows


def add_graph(dsn: str, sources: int) -> None:
    """A graph shaped like the platform's: ``sources`` Source vertices, three Instance and
    three Concept vertices per source, and FROM_SOURCE, EVIDENCED_BY and APPEARS edges
    (7 × ``sources`` vertices, 9 × ``sources`` edges), made by cypher in four statements."""
    execute(
        dsn,
        SESSION
        + ";"
        + "".join(
            f"SELECT * FROM cypher('knowledge_graph', $q$ {query} $q$) AS (r agtype);"
            for query in (
                f"UNWIND range(1, {sources}) AS n CREATE (:Source {{source_id: 'src-' + "
                "toString(n), document: 'doc-' + toString(n % 50), paragraph: n})",
                "MATCH (s:Source) UNWIND range(1, 3) AS k CREATE (:Instance {instance_id: "
                "s.source_id + '-i' + toString(k), quote: 'quote ' + toString(k)})"
                "-[:FROM_SOURCE]->(s)",
                "MATCH (i:Instance) CREATE (:Concept {concept_id: 'c-' + i.instance_id, "
                "label: 'concept ' + i.instance_id, search_terms: ['a', i.quote]})"
                "-[:EVIDENCED_BY {confidence: 0.9}]->(i)",
                "MATCH (c:Concept)-[:EVIDENCED_BY]->(:Instance)-[:FROM_SOURCE]->(s:Source) "
                "CREATE (c)-[:APPEARS {weight: s.paragraph % 7}]->(s)",
            )
        ),
    )
