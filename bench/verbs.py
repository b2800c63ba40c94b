"""Benchmark kgop's plain verbs against the Docker CLI and the database's own time.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.verbs [--containers 100]

Each pair runs interleaved (A, B, A, B, ...) so the machine's noise falls on both; medians of
RUNS (default 9) runs, and the ratio:

- ``kgop status --json`` vs ``docker compose ps`` on a 5-service compose project;
- ``kgop status --json`` with N containers (default 100) in the project;
- ``kgop logs SERVICE --tail 100`` vs ``docker logs --tail 100``;
- ``kgop --version`` vs ``python -c pass`` (the interpreter's own start);
- ``kgop migrate status --json`` (200 applied files) vs the same query in psql;
- ``migrate up`` of 200 table-creating files (the runner in-process: lock, tracking table,
  checksums, a transaction and a tracking row per file) vs the files' own SQL: each file
  sent once on one connection, committed on its own (what applying files one by one
  cannot do with less), each on a fresh database of the same server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.common import BASE_IMAGE
from bench.migrations import kgop_apply, server, write_files
from tests.support.engines import create_database

KGOP = [sys.executable, "-m", "kgop_tui.cli"]
ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-400:]}")
    return took


def pair(a: Callable[[], float], b: Callable[[], float], runs: int) -> tuple[float, float]:
    first, second = [], []
    a(), b()  # warm the caches of both
    for _ in range(runs):
        first.append(a())
        second.append(b())
    return statistics.median(first), statistics.median(second)


def compose_project(home: Path, services: int, scale: int = 1) -> tuple[dict[str, str], str]:
    """A compose project of ``services`` sleeping services (the first logs 1,000 lines)."""
    project = f"kgopverbs{uuid.uuid4().hex[:6]}"
    lines = ["services:"]
    for n in range(services):
        command = (
            '["sh", "-c", "seq 1 1000 | sed s/^/line-/; exec sleep infinity"]'
            if n == 0
            else '["sleep", "infinity"]'
        )
        lines += [
            f"  s{n}:",
            f"    image: {BASE_IMAGE}",
            f"    command: {command}",
            "    stop_signal: SIGKILL",
            "    labels:",
            "      kgop.test: '1'",
        ]
    lines += ["networks:", "  default:", "    labels:", "      kgop.test: '1'"]
    (home / "compose").mkdir(parents=True, exist_ok=True)
    (home / "compose" / "compose.yml").write_text("\n".join(lines) + "\n")
    (home / ".env").write_text(
        f"COMPOSE_PROJECT_NAME={project}\nCOMPOSE_FILE=compose/compose.yml\nKG_HOME={home}\n"
    )
    env = {**os.environ, "KG_HOME": str(home), "PYTHONPATH": str(ROOT)}
    scaled = ["--scale", f"s1={scale}"] if scale > 1 else []
    subprocess.run(
        ["docker", "compose", "up", "-d", *scaled], cwd=home, env=env, check=True,
        capture_output=True,
    )  # fmt: skip
    return env, project


def sql_only(dsn: str, folder: Path) -> float:
    """Each file's SQL executed once on one connection (autocommit), in version order."""
    import asyncio

    import asyncpg

    texts = [p.read_text() for p in sorted(folder.glob("*.sql"))]

    async def apply() -> float:
        conn = await asyncpg.connect(dsn)
        try:
            started = time.perf_counter()
            for text in texts:
                await conn.execute(text)
            return time.perf_counter() - started
        finally:
            await conn.close()

    return asyncio.run(apply())


def down(home: Path, env: dict[str, str]) -> None:
    subprocess.run(
        ["docker", "compose", "down", "-t", "0", "--remove-orphans"], cwd=home, env=env,
        capture_output=True, check=False,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    runs = args.runs
    rows: list[tuple[str, float, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp, "five")
        env, project = compose_project(home, 5)
        try:
            kg, ref = pair(
                lambda: run([*KGOP, "status", "--json"], env, home),
                lambda: run(["docker", "compose", "ps"], env, home),
                runs,
            )
            rows.append(("status --json, 5 services", kg, ref, "docker compose ps"))
            name = f"{project}-s0-1"
            kg, ref = pair(
                lambda: run([*KGOP, "logs", "s0", "--tail", "100"], env, home),
                lambda: run(["docker", "logs", "--tail", "100", name], env),
                runs,
            )
            rows.append(("logs s0 --tail 100", kg, ref, "docker logs --tail 100"))
            kg, ref = pair(
                lambda: run([*KGOP, "--version"], env),
                lambda: run([sys.executable, "-c", "pass"], env),
                runs,
            )
            rows.append(("--version", kg, ref, "python -c pass"))
        finally:
            down(home, env)
        many = Path(tmp, "many")
        env, _ = compose_project(many, 2, scale=args.containers - 1)
        try:
            kg, ref = pair(
                lambda: run([*KGOP, "status", "--json"], env, many),
                lambda: run(["docker", "compose", "ps"], env, many),
                max(3, runs // 2),
            )
            rows.append((f"status --json, {args.containers} containers", kg, ref,
                         "docker compose ps"))  # fmt: skip
        finally:
            down(many, env)
        with server() as pg:
            folder = Path(tmp, "m200")
            write_files(folder, 200)
            dsn = pg.dsn(create_database(pg))
            kgop_apply(dsn, folder)
            menv = {**os.environ, "KGOP_DATABASE_URL": dsn, "KGOP_MIGRATIONS_DIR": str(folder),
                    "PYTHONPATH": str(ROOT), "KG_HOME": tmp}  # fmt: skip
            psql = shutil.which("psql") or sys.exit("psql is required")
            query = "SELECT * FROM public.schema_migrations"
            kg, ref = pair(
                lambda: run([*KGOP, "migrate", "status", "--json"], menv),
                lambda: run([psql, "-X", "-q", "-d", dsn, "-c", query], menv),
                runs,
            )
            rows.append(("migrate status --json, 200 applied", kg, ref, "psql of the same rows"))
            kg, ref = pair(
                lambda: kgop_apply(pg.dsn(create_database(pg)), folder)[0],
                lambda: sql_only(pg.dsn(create_database(pg)), folder),
                runs,
            )
            rows.append(("migrate up, 200 files (in-process)", kg, ref, "the files' own SQL"))
    print(f"plain verbs: medians of {runs} interleaved runs (seconds)")
    print(f"  {'verb':<38} {'kgop':>7} {'reference':>9}  ratio  reference")
    for verb, kg, ref, what in rows:
        print(f"  {verb:<38} {kg:7.3f} {ref:9.3f}  {kg / ref:5.2f}x {what}")


if __name__ == "__main__":
    main()
