"""Databases made with the platform's own schema, and a graph in them, for tests and benches.

The platform's release archives (``shared/upstream/knowledge-graph-system/``) sit next to the
checkout: ``ROOT.parent / "shared" / "upstream"``, or, from a git worktree, next to its main
checkout; ``KGOP_UPSTREAM_DIR`` names them elsewhere. When they are missing, tests skip,
and fail under ``KGOP_REQUIRE_ENGINES=1``.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

from tests.support.engines import require_or_skip
from tests.support.helpers import execute, run_async

ROOT = Path(__file__).resolve().parents[2]
# What the platform's api runs on each connection before cypher.
SESSION = "LOAD 'age'; SET search_path = ag_catalog, \"$user\", public"


def _upstream_candidates() -> list[Path]:
    found = [Path(os.environ["KGOP_UPSTREAM_DIR"])] if os.environ.get("KGOP_UPSTREAM_DIR") else []
    found.append(ROOT.parent / "shared" / "upstream")
    dot_git = ROOT / ".git"
    if dot_git.is_file():  # a worktree: "gitdir: MAIN/.git/worktrees/NAME"
        gitdir = Path(dot_git.read_text().removeprefix("gitdir:").strip())
        if gitdir.parent.name == "worktrees":
            found.append(gitdir.parents[2].parent / "shared" / "upstream")
    return found


def upstream_dir() -> Path:
    """The folder of the upstream archives (skips, or fails, when there is none)."""
    for candidate in _upstream_candidates():
        if (candidate / "knowledge-graph-system").is_dir():
            return candidate
    tried = ", ".join(str(c) for c in _upstream_candidates())
    require_or_skip(f"the platform's release archives are missing (looked in {tried})")
    raise AssertionError("unreachable")


def platform_archive(version: str) -> Path:
    """The platform's source archive of ``version`` (e.g. ``0.17.1``)."""
    path = upstream_dir() / "knowledge-graph-system" / f"knowledge-graph-system-{version}.tar.gz"
    if not path.is_file():
        require_or_skip(f"no archive of the platform at {version}: {path}")
    return path


@functools.cache
def platform_baseline(version: str) -> str:
    """The release's ``schema/00_baseline.sql``, ready for PostgreSQL 15.

    Its ``SET transaction_timeout`` lines go: a PG 17+ setting the baseline was dumped with,
    which nothing else in it needs.
    """
    member = f"knowledge-graph-system-{version}/schema/00_baseline.sql"
    with tarfile.open(platform_archive(version)) as archive:
        handle = archive.extractfile(member)
        assert handle is not None, f"{member} is not a file"
        text = handle.read().decode()
    return "".join(
        line
        for line in text.splitlines(keepends=True)
        if not line.lstrip().startswith("SET transaction_timeout")
    )


def _psql() -> str:
    bindir = os.environ.get("KGOP_PG_BINDIR")
    found = str(Path(bindir) / "psql") if bindir else shutil.which("psql")
    if not found or not Path(found).exists():
        require_or_skip("psql is not installed")
    return str(found)


def load_platform_baseline(dsn: str, version: str) -> None:
    """Make the (empty) database at ``dsn`` a platform database of ``version``, as its
    Postgres image does at initdb: one transaction, stopping at the first error."""
    done = subprocess.run(
        [_psql(), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-d", dsn],
        input=platform_baseline(version),
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
