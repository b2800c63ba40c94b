"""Benchmark the migration runner against a psql-per-file shell loop.

    python -m bench.migrations            # a throwaway cluster with fsync on
    KGOP_TEST_DSN=postgresql://... python -m bench.migrations

Prints: time to apply 200 small migrations with kgop and with a loop running
``psql -f FILE -c "INSERT INTO schema_migrations ..."`` per file (the runner kgop replaces),
both on the same server in the same run; the same for a platform-shaped corpus (archived/
then the folder, files with their own BEGIN/COMMIT that record themselves, $$ bodies, DO
blocks, ON CONFLICT seeds) against the platform's own loop (``psql -v ON_ERROR_STOP=1 -f``
per file); then ``status`` time with 500 applied.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kgop_tui import __version__
from kgop_tui.services.database.connection import DatabaseTarget
from kgop_tui.services.database.migrations import MigrationService
from tests.support.engines import PgServer, create_database, start_cluster


def write_files(folder: Path, count: int, kind: str = "tables") -> None:
    """``tables``: a table with a key and a row per file; ``columns``: one ALTER per file."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        if kind == "tables":
            sql = f"CREATE TABLE bench_{n} (id int PRIMARY KEY, v text);\n"
            sql += f"INSERT INTO bench_{n} VALUES (1, 'x');\n"
        elif n == 1:
            sql = "CREATE TABLE bench_settings (id int PRIMARY KEY);\n"
        else:
            sql = f"ALTER TABLE bench_settings ADD COLUMN c{n} text;\n"
        (folder / f"{n:04d}_bench_{n}.sql").write_text(sql)


PLATFORM_FILE = """-- Migration: {n:03d}_feature_{n}
BEGIN;

CREATE TABLE IF NOT EXISTS kg_api.feature_{n} (
    id SERIAL PRIMARY KEY,
    name VARCHAR(64) NOT NULL UNIQUE,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE OR REPLACE FUNCTION kg_api.feature_{n}_count() RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT count(*) FROM kg_api.feature_{n});
END;
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'kg_api' AND table_name = 'feature_{n}'
                     AND column_name = 'enabled') THEN
        ALTER TABLE kg_api.feature_{n} ADD COLUMN enabled BOOLEAN DEFAULT TRUE;
    END IF;
END $$;

INSERT INTO kg_api.feature_{n} (name) VALUES ('default'), ('extra')
ON CONFLICT (name) DO NOTHING;

COMMENT ON TABLE kg_api.feature_{n} IS 'Feature {n}; seeded with two rows';

INSERT INTO public.schema_migrations (version, name)
VALUES ({n}, 'feature_{n}')
ON CONFLICT (version) DO NOTHING;

COMMIT;
"""


def write_platform_files(folder: Path, count: int, archived: int) -> None:
    """The platform's layout: the first ``archived`` files in archived/, the rest beside."""
    (folder / "archived").mkdir(parents=True, exist_ok=True)
    (folder / "archived" / "000_schema.sql").write_text("CREATE SCHEMA IF NOT EXISTS kg_api;\n")
    for n in range(1, count + 1):
        where = folder / "archived" if n <= archived else folder
        (where / f"{n:03d}_feature_{n}.sql").write_text(PLATFORM_FILE.format(n=n))


def shell_loop(dsn: str, folder: Path, script: str) -> float:
    """A shell runner: the platform's tracking table, then ``script`` (bash; $1 the folder,
    $2 the database); the time the script took."""
    psql = shutil.which("psql") or sys.exit("psql is required for the comparison")
    subprocess.run(
        [psql, "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c",
         "CREATE TABLE public.schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "
         "NULL, applied_at TIMESTAMP NOT NULL DEFAULT NOW())"],
        check=True,
    )  # fmt: skip
    started = time.perf_counter()
    subprocess.run(["bash", "-c", script, "loop", str(folder), dsn], check=True)
    return time.perf_counter() - started


def platform_loop(dsn: str, folder: Path) -> float:
    """The platform's migrate-db.sh: psql -f per file, archived/ first; files record
    themselves."""
    return shell_loop(
        dsn,
        folder,
        'for f in "$1"/archived/*.sql "$1"/*.sql; do'
        ' psql -q -X -v ON_ERROR_STOP=1 "$2" -f "$f" >/dev/null || exit 1; done',
    )


@contextmanager
def server() -> Iterator[PgServer]:
    dsn = os.environ.get("KGOP_TEST_DSN")
    if dsn:
        from urllib.parse import urlparse

        url = urlparse(dsn)
        yield PgServer(url.hostname or "127.0.0.1", url.port or 5432, url.username or "postgres",
                       url.password)  # fmt: skip
        return
    yield from start_cluster(fsync=True)


def kgop_apply(dsn: str, folder: Path) -> tuple[float, float]:
    """Wall time of ``up``, and the part spent executing the files' SQL on the server."""
    svc = MigrationService(DatabaseTarget(dsn, "bench"), folder, __version__)
    started = time.perf_counter()
    run = asyncio.run(svc.up())
    elapsed = time.perf_counter() - started
    assert run.failure is None
    assert len(run.applied) > 0
    return elapsed, sum(step.duration_ms for step in run.applied) / 1000


def psql_loop(dsn: str, folder: Path) -> float:
    """psql -f per file, and a tracking insert per file (files that do not record themselves)."""
    return shell_loop(
        dsn,
        folder,
        'for f in "$1"/*.sql; do b=$(basename "$f" .sql); v=$((10#${b%%_*}));'
        ' psql -q -v ON_ERROR_STOP=1 "$2" -f "$f"'
        " -c \"INSERT INTO public.schema_migrations (version, name) VALUES ($v, '$b')\""
        " >/dev/null || exit 1; done",
    )


def status_times(dsn: str, folder: Path, repeat: int = 20) -> tuple[float, float]:
    svc = MigrationService(DatabaseTarget(dsn, "bench"), folder, __version__)

    async def many() -> list[float]:
        out = []
        for _ in range(repeat):
            started = time.perf_counter()
            status = await svc.status()
            out.append(time.perf_counter() - started)
            assert len(status.entries) == 500
        return out

    in_process = statistics.median(asyncio.run(many()))
    env = {**os.environ, "KGOP_DATABASE_URL": dsn, "KGOP_MIGRATIONS_DIR": str(folder)}
    walls = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kgop_tui.cli", "migrate", "status", "--json"],
                       env=env, check=True, capture_output=True)  # fmt: skip
        walls.append(time.perf_counter() - started)
    return in_process, statistics.median(walls)


def main() -> None:
    with server() as pg, tempfile.TemporaryDirectory() as tmp:
        files200, files500 = Path(tmp, "m200"), Path(tmp, "m500")
        columns200 = Path(tmp, "c200")
        write_files(files200, 200)
        write_files(columns200, 200, kind="columns")
        write_files(files500, 500)
        kgop_db, psql_db, status_db = (create_database(pg) for _ in range(3))
        kgop_s, sql_s = kgop_apply(pg.dsn(kgop_db), files200)
        psql_s = psql_loop(pg.dsn(psql_db), files200)
        col_kgop, _ = kgop_apply(pg.dsn(create_database(pg)), columns200)
        col_psql = psql_loop(pg.dsn(create_database(pg)), columns200)
        kgop_apply(pg.dsn(status_db), files500)
        status_in, status_cli = status_times(pg.dsn(status_db), files500)
        platform = Path(tmp, "platform")
        write_platform_files(platform, 120, archived=80)
        plat_kgop, plat_sql = kgop_apply(pg.dsn(create_database(pg)), platform)
        plat_psql = platform_loop(pg.dsn(create_database(pg)), platform)
    print("migrations: apply 200 small files on the same server, same run")
    print(f"  kgop migrate up (one connection, a transaction per file): {kgop_s:7.3f} s")
    print(f"  psql -f per file + tracking insert (shell loop):          {psql_s:7.3f} s")
    print(f"  ratio: kgop is {psql_s / kgop_s:.1f}x faster")
    overhead_kgop = (kgop_s - sql_s) / 200 * 1000
    overhead_psql = (psql_s - sql_s) / 200 * 1000
    print(f"  executing the files' SQL itself took {sql_s:.3f} s (the same work for both);")
    print(
        f"  per-file overhead beyond it: kgop {overhead_kgop:.2f} ms, psql loop "
        f"{overhead_psql:.2f} ms ({overhead_psql / max(overhead_kgop, 0.001):.0f}x)"
    )
    print("migrations: 200 one-statement files (ALTER TABLE ... ADD COLUMN), same run")
    print(f"  kgop {col_kgop:.3f} s, psql loop {col_psql:.3f} s: {col_psql / col_kgop:.1f}x faster")
    print("migrations: platform-shaped corpus, 121 files (80 in archived/), own BEGIN/COMMIT")
    print(f"  kgop migrate up (one connection, files sent whole):        {plat_kgop:7.3f} s")
    print(f"  psql -v ON_ERROR_STOP=1 -f per file (the platform's loop): {plat_psql:7.3f} s")
    print(f"  ratio: kgop is {plat_psql / plat_kgop:.1f}x faster; the files' own SQL took "
          f"{plat_sql:.3f} s (kgop = {plat_kgop / max(plat_sql, 0.001):.2f}x of it)")  # fmt: skip
    print("status with 500 applied migrations")
    print(f"  MigrationService.status() median of 20:       {status_in * 1000:7.1f} ms")
    print(f"  `kgop migrate status --json` process, median: {status_cli * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
