"""Benchmark backups and restores of a platform database holding an Apache AGE graph.

    KGOP_PG_BINDIR=/usr/lib/postgresql/15/bin [DOCKER_HOST=...] python -m bench.backup_age \
        [SOURCES] [RUNS]

A durable throwaway cluster gets a database made by the platform's 0.17.1 baseline and a
graph of 7 × SOURCES vertices and 9 × SOURCES edges (default 1500: 24,000 in all). Each run
times, on that database:

- raw ``pg_dump -Fc`` against ``kgop backup`` (the same dump in an exported snapshot, with
  rows and the graph counted meanwhile in that snapshot);
- raw ``pg_restore`` into a fresh database (whose graph then fails cypher: see whether it
  answers) against kgop's restore into a side database (restore, AGE ids repointed,
  settings carried, rows and graph counted and checked), the part a restore spends while the
  platform keeps running;
- with DOCKER_HOST reachable, the whole ``kgop restore --yes`` (a safety backup first, the
  side database, the swap; no services run in the bench's project).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from bench.common import median_of
from kgop_tui.services.backups.backup import BackupService
from kgop_tui.services.database.pg_tools import find_tool, libpq_environment
from kgop_tui.settings import load_settings
from tests.support.engines import PgServer, create_database, drop_database, start_cluster
from tests.support.helpers import fetch, kgop_env, run_kgop
from tests.support.platform_db import add_graph, cypher, load_platform_baseline

VERSION = "0.17.1"


def timed(command: list[str], dsn: str) -> float:
    """Seconds a client tool takes; it connects through libpq's variables (no password in
    argv), to ``dsn``'s database unless the command names another."""
    env = {**os.environ, **libpq_environment(dsn)}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed: {done.stderr[-800:]}")
    return time.perf_counter() - started


def kgop(env: dict[str, str], *args: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    done = run_kgop(*args, "--json", env=env, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"kgop {args[0]} failed: {done.stderr[-800:]}")
    result: dict[str, object] = json.loads(done.stdout)
    return time.perf_counter() - started, result


def graph_answers(dsn: str) -> str:
    try:
        cypher(dsn, "MATCH (a)-[e]->(b) RETURN count(e)")
    except Exception as exc:  # the point is to show the error
        return f"no ({str(exc).splitlines()[0]})"
    return "yes"


def docker_reachable() -> bool:
    if not os.environ.get("DOCKER_HOST"):
        return False
    done = subprocess.run(["docker", "info"], capture_output=True, check=False)
    return done.returncode == 0


def one_run(server: PgServer, dsn: str, env: dict[str, str], home: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    raw_dump = home / "raw.dump"
    out["pg_dump"] = timed([find_tool("pg_dump"), "-Fc", f"--file={raw_dump}"], dsn)
    out["kgop_backup"], info = kgop(env, "backup")

    fresh = create_database(server)
    try:
        out["pg_restore"] = timed(
            [find_tool("pg_restore"), "--exit-on-error", "--single-transaction", "-d", fresh]
            + [str(raw_dump)],
            server.dsn(fresh),
        )
        out["raw_answers"] = 1.0 if graph_answers(server.dsn(fresh)) == "yes" else 0.0
    finally:
        drop_database(server, fresh)

    settings = load_settings(kg_home=home, environ={"KGOP_DATABASE_URL": dsn})
    service = BackupService(settings)
    loaded = service.load(Path(str(info["path"])))
    started = time.perf_counter()
    aside = asyncio.run(service.restore_aside(loaded))
    out["kgop_aside"] = time.perf_counter() - started
    asyncio.run(service.discard(aside))
    if docker_reachable():
        out["kgop_restore"], _ = kgop(env, "restore", str(info["path"]), "--yes")
    out["dump_mib"] = raw_dump.stat().st_size / 2**20
    out["kgop_dump_mib"] = float(str(info["dump_bytes"])) / 2**20
    return out


def main() -> None:
    sources = int(sys.argv[1]) if len(sys.argv) > 1 else 1500
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    cluster = start_cluster(fsync=True)
    server = next(cluster)
    name = create_database(server)
    dsn = server.dsn(name)
    try:
        started = time.perf_counter()
        load_platform_baseline(dsn, VERSION)
        add_graph(dsn, sources)
        made = time.perf_counter() - started
        print(f"platform {VERSION} database with a graph made in {made:.1f} s")
        size = fetch(dsn, "SELECT pg_database_size(current_database()) AS s")[0]["s"]
        print(
            f"graph: {7 * sources} vertices and {9 * sources} edges of the bench (+ the "
            f"baseline's vocabulary); database {size / 2**20:.0f} MiB"
        )
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            (home / ".env").write_text(
                f"COMPOSE_PROJECT_NAME=kgopbenchage\nKG_VERSION={VERSION}\n"
                f"ENCRYPTION_KEY={Fernet.generate_key().decode()}\n"
            )
            env = kgop_env(home, KGOP_DATABASE_URL=dsn)
            for n in range(runs):
                results.append(one_run(server, dsn, env, home))
                print(f"run {n + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in results[-1].items()))
    finally:
        drop_database(server, name)
        cluster.close()

    med = median_of(results)

    print(f"\nmedian of {runs} run(s), seconds:")
    print(f"  raw pg_dump -Fc:                             {med('pg_dump'):.2f}")
    print(f"  kgop backup (dump + counts in its snapshot): {med('kgop_backup'):.2f}")
    print(f"  raw pg_restore into a fresh database:        {med('pg_restore'):.2f}")
    answers = "yes" if med("raw_answers") else "no"
    print(f"    ... whose graph answers MATCH (a)-[e]->(b): {answers}")
    print(f"  kgop restore into a side database, checked:  {med('kgop_aside'):.2f}")
    if all("kgop_restore" in r for r in results):
        print(f"  kgop restore --yes, whole (+ safety backup): {med('kgop_restore'):.2f}")
    else:
        print("  kgop restore --yes, whole: not measured (no DOCKER_HOST engine)")
    print(f"  dump size: raw {med('dump_mib'):.1f} MiB, kgop {med('kgop_dump_mib'):.1f} MiB")


if __name__ == "__main__":
    main()
