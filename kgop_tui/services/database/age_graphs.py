"""Apache AGE graphs across a dump and restore: what ``pg_dump``/``pg_restore`` leave to fix.

AGE keeps its catalog in two ordinary tables that it marks for dumping
(``pg_extension_config_dump`` in AGE's ``sql/age_main.sql``, lines 36 and 62), so their
rows travel with the dump. Two columns name objects by type and come back right: the
graph's schema (``ag_graph.namespace``, a ``regnamespace``) and each label's table
(``ag_label.relation``, a ``regclass``) are dumped as names and resolved again on restore.
Two do not: ``ag_graph.graphid`` and ``ag_label.graph`` are bare ``oid`` values, and
they keep the number the graph's schema had in the source database. AGE 1.6 creates a
graph with ``graphid`` equal to its schema's oid (``insert_graph`` in
``src/backend/catalog/ag_graph.c``, line 56) and later looks graphs up by that equality
(``_label_name`` in ``src/backend/catalog/ag_label.c``, line 202, through the namespace
cache): after a restore, ``MATCH (a)-[e]->(b)`` and ``label()`` fail with "graph with oid N
does not exist" while simpler queries still answer (apache/age issue 2503).
:func:`repoint_graphs` puts the ids back in line in the restored database.

:func:`graph_counts` counts vertices and edges per label *through cypher*: taken in the
dump's own snapshot at backup time and again in the restored database, the two must be
equal before the restored database replaces the live one.
"""

from __future__ import annotations

import asyncpg

from kgop_tui.models import GraphCounts

# One statement: ag_label.graph references ag_graph.graphid (a foreign key that is checked
# at the end of the statement), so both sides move together or not at all.
_REPOINT = """
WITH moved AS (
    SELECT graphid AS old, namespace::oid AS new, name
    FROM ag_catalog.ag_graph WHERE graphid <> namespace::oid
), labels AS (
    UPDATE ag_catalog.ag_label AS l SET graph = m.new FROM moved AS m WHERE l.graph = m.old
)
UPDATE ag_catalog.ag_graph AS g SET graphid = m.new FROM moved AS m
WHERE g.graphid = m.old RETURNING m.name::text
"""

_VERTICES = "MATCH (v) RETURN label(v), count(*)"
_EDGES = "MATCH ()-[e]->() RETURN type(e), count(*)"


async def has_age(conn: asyncpg.Connection) -> bool:
    """Whether the database holds AGE's catalog (the extension is installed)."""
    return bool(await conn.fetchval("SELECT to_regclass('ag_catalog.ag_graph') IS NOT NULL"))


async def repoint_graphs(conn: asyncpg.Connection) -> list[str]:
    """Give each graph whose id is not its schema's oid that oid again; the graphs moved."""
    if not await has_age(conn):
        return []
    async with conn.transaction():
        rows = await conn.fetch(_REPOINT)
    return sorted(str(row[0]) for row in rows)


async def _cypher_counts(conn: asyncpg.Connection, graph: str, query: str) -> dict[str, int]:
    literal = await conn.fetchval("SELECT quote_literal($1)", graph)
    rows = await conn.fetch(
        f"SELECT label::text AS label, n::text AS n FROM ag_catalog.cypher({literal}, "
        f"$cypher$ {query} $cypher$) AS (label ag_catalog.agtype, n ag_catalog.agtype)"
    )
    found = {str(row["label"]): int(row["n"]) for row in rows}
    return {label: found[label] for label in sorted(found)}


async def graph_counts(conn: asyncpg.Connection) -> dict[str, GraphCounts]:
    """Vertices and edges per label of every graph, counted by AGE's own cypher.

    Labels without a vertex or edge are left out: they are not in the graph's answer.
    Cypher needs AGE loaded into the session (``LOAD 'age'``) and ``ag_catalog`` on the
    search path, since the SQL it generates names AGE's operators unqualified; the platform's
    api sets both on each connection (``api/app/lib/age_client/base.py``, line 102). The
    search path is set for this transaction only.
    """
    if not await has_age(conn):
        return {}
    names = [str(r[0]) for r in await conn.fetch("SELECT name::text FROM ag_catalog.ag_graph")]
    if not names:
        return {}
    await conn.execute("LOAD 'age'")
    async with conn.transaction():
        await conn.execute('SET LOCAL search_path = ag_catalog, "$user", public')
        return {
            name: GraphCounts(
                vertices=await _cypher_counts(conn, name, _VERTICES),
                edges=await _cypher_counts(conn, name, _EDGES),
            )
            for name in sorted(names)
        }


def graph_differences(expected: dict[str, GraphCounts], found: dict[str, GraphCounts]) -> list[str]:
    """What differs between two :func:`graph_counts`, one phrase per label, for a message."""
    out = []
    empty = GraphCounts()
    for graph in sorted(set(expected) | set(found)):
        want, got = expected.get(graph, empty), found.get(graph, empty)
        for kind in ("vertices", "edges"):
            a, b = getattr(want, kind), getattr(got, kind)
            for label in sorted(set(a) | set(b)):
                if a.get(label, 0) != b.get(label, 0):
                    out.append(f"{graph} {label}: {b.get(label, 0)} instead of {a.get(label, 0)}")
    return out


def describe_graphs(graphs: dict[str, GraphCounts]) -> str:
    """``graph V vertices, E edges`` for each graph."""
    return ", ".join(
        f"graph {name} {sum(g.vertices.values())} vertices, {sum(g.edges.values())} edges"
        for name, g in graphs.items()
    )
