"""Running the real ``kgop`` entry point, and small database helpers for tests."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KGOP = [sys.executable, "-m", "kgop_tui.cli"]


def kgop_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KGOP_", "COMPOSE_"))}
    env["KG_HOME"] = str(home)
    env.update(extra)
    return env


def run_kgop(
    *args: str, env: Mapping[str, str], timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KGOP, *args],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


def kgop_in_project(
    home: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """kgop as an install runs it: everything (project, engine) from KG_HOME/.env."""
    env = {**os.environ, "KG_HOME": str(home)}
    env.pop("COMPOSE_PROJECT_NAME", None)
    env.pop("DOCKER_HOST", None)
    return run_kgop(*args, env=env, timeout=timeout)


def run_async(coro: Any) -> Any:
    """asyncio.run, also from inside a running loop (then on a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def fetch(dsn: str, query: str, *args: Any) -> list[dict[str, Any]]:
    import asyncpg

    async def go() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [dict(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    rows: list[dict[str, Any]] = run_async(go())
    return rows


def execute(dsn: str, sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    run_async(go())


def table_snapshot(dsn: str, exclude: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the sorted rows of every user table (but ``exclude``'s
    schemas; materialized views are derived, not data)."""
    tables = fetch(
        dsn,
        "SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname) AS t "
        "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
        "WHERE c.relkind = 'r' AND NOT s.schemaname = ANY($1::text[]) ORDER BY 1",
        list(exclude),
    )
    out = {}
    for row in tables:
        rows = fetch(dsn, f"SELECT t::text AS r FROM {row['t']} t")
        text = "\n".join(sorted(r["r"] for r in rows))
        out[row["t"]] = (len(rows), hashlib.sha256(text.encode()).hexdigest())
    return out


def schema_dump(dsn: str) -> str:
    pg_dump = shutil.which("pg_dump") or str(Path(os.environ.get("KGOP_PG_BINDIR", "")) / "pg_dump")
    done = subprocess.run(
        [pg_dump, "--schema-only", "--no-owner", dsn], capture_output=True, text=True, check=True
    )
    # pg_dump's \restrict lines carry a random key per dump: not part of the schema.
    return "\n".join(
        line
        for line in done.stdout.splitlines()
        if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def import_file(path: Path, name: str) -> Any:
    """The Python file ``path`` imported as module ``name`` on its own (a stand-in's or the
    platform's module that is not on the path), registered in ``sys.modules``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
