"""The platform's real schema: kgop against the platform's own way, same server, same run.

    python -m bench.platform_schema [VERSION]     # default 0.17.0; a throwaway cluster
    KGOP_TEST_DSN=postgresql://... python -m bench.platform_schema

On a fresh database each round: ``kgop migrate up`` (the baseline in one transaction, then
every file) against the platform's way (``psql --single-transaction -f 00_baseline.sql``, then
``psql -v ON_ERROR_STOP=1 -f`` per pending file, as its initdb and ``migrate-db.sh`` do).
Needs a Postgres with Apache AGE and the platform's archives (shared/upstream/).
Rounds interleave the two so a noisy machine hurts both alike; prints medians and the ratio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.support.engines import create_database, drop_database, start_cluster
from tests.support.helpers import KGOP, kgop_env
from tests.support.platform import file_versions, platform_way, schema

ROUNDS = 5


def kgop_up(dsn: str, version: str, home: Path) -> float:
    env = kgop_env(
        home, KGOP_DATABASE_URL=dsn, KGOP_MIGRATIONS_DIR=str(schema(version) / "migrations")
    )
    started = time.perf_counter()
    done = subprocess.run([*KGOP, "migrate", "up"], env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"kgop migrate up failed: {done.stderr.strip()}")
    return took


def platform_up(dsn: str, version: str) -> float:
    started = time.perf_counter()
    platform_way(dsn, version, warm=False)
    return time.perf_counter() - started


def main() -> None:
    version = sys.argv[1] if len(sys.argv) > 1 else "0.17.0"
    home = Path(os.environ.get("TMPDIR", "/tmp")) / "kgop-bench-platform"
    home.mkdir(exist_ok=True)
    files = len(file_versions(version, warm=False))
    times: dict[str, list[float]] = {"kgop": [], "platform": []}
    with_cluster = start_cluster(fsync=True)
    server = next(with_cluster)
    try:
        for _ in range(ROUNDS):
            for who in ("kgop", "platform"):
                name = create_database(server)
                dsn = server.dsn(name)
                try:
                    took = (
                        kgop_up(dsn, version, home) if who == "kgop" else platform_up(dsn, version)
                    )
                    times[who].append(took)
                finally:
                    drop_database(server, name)
    finally:
        with_cluster.close()
    k, p = statistics.median(times["kgop"]), statistics.median(times["platform"])
    print(f"platform {version}: 00_baseline.sql + {files} migration files, {ROUNDS} rounds")
    print(f"  kgop migrate up               {k:6.2f} s (median)")
    print(f"  psql baseline + psql per file {p:6.2f} s (median)")
    print(f"  ratio kgop / psql             {k / p:6.2f}")


if __name__ == "__main__":
    main()
