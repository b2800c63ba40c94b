"""The platform's own releases (aaronsb/knowledge-graph-system), from the shared archives.

``shared/upstream/knowledge-graph-system/knowledge-graph-system-VERSION.tar.gz`` beside the
checkout holds each release's source as ``git archive`` made it. Tests read the platform's
schema, compose files and code from there; they are extracted once per machine into a cache
folder. Without the archives a test skips locally and fails in the full run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.support.engines import require_or_skip

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = Path(os.environ.get("KGOP_UPSTREAM", ROOT.parent / "shared" / "upstream"))
VERSIONS = ("0.14.0", "0.16.0", "0.17.0", "0.17.1")
_CACHE = Path(os.environ.get("KGOP_TEST_CACHE", "/tmp")) / "kgop-platform"


def archive(version: str) -> Path:
    path = UPSTREAM / "knowledge-graph-system" / f"knowledge-graph-system-{version}.tar.gz"
    if not path.is_file():
        require_or_skip(f"the platform's {version} archive is missing: {path}")
    return path


def release_tree(version: str) -> Path:
    """The release's source tree (read-only use: copy what a test changes)."""
    source = archive(version)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    target = _CACHE / f"{version}-{digest}"
    if (target / "VERSION").is_file():
        return target
    _CACHE.mkdir(parents=True, exist_ok=True)
    with open(_CACHE / ".lock", "w") as lock:  # xdist workers extract once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "VERSION").is_file():
            partial = target.with_suffix(".part")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            with tarfile.open(source) as tar:
                tar.extractall(partial, filter="data")
            (top,) = list(partial.iterdir())
            top.rename(target)
            shutil.rmtree(partial)
    return target


def schema(version: str) -> Path:
    """The release's ``schema/``: ``00_baseline.sql``, ``migrations/``, ``migrations-warm/``."""
    return release_tree(version) / "schema"


def file_versions(version: str, warm: bool = True) -> set[int]:
    """The versions of the release's migration files (archived/, main, and warm)."""
    folder = schema(version)
    paths = [*folder.glob("migrations/*.sql"), *folder.glob("migrations/archived/*.sql")]
    if warm:
        paths += folder.glob("migrations-warm/*.sql")
    return {int(p.name.split("_")[0]) for p in paths}


def psql(dsn: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("psql") or str(Path(os.environ.get("KGOP_PG_BINDIR", "")) / "psql")
    return subprocess.run(
        [binary, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def platform_way(dsn: str, version: str, warm: bool = True) -> list[str]:
    """Create a database as the platform does: its baseline as initdb runs it (settings a
    PostgreSQL 15 server lacks left out), then its shell runner: psql per pending file,
    archived/ first, then ``--warm``."""
    folder = schema(version)
    baseline = (folder / "00_baseline.sql").read_text()
    baseline = re.sub(r"^SET transaction_timeout = .*$", "", baseline, flags=re.M)
    done = psql(dsn, "--single-transaction", "-f", "-", stdin=baseline)
    assert done.returncode == 0, done.stderr[-2000:]
    return apply_files_the_platform_way(dsn, version, warm)


def apply_files_the_platform_way(dsn: str, version: str, warm: bool = True) -> list[str]:
    """Its shell runner: a file that fails is reported and skipped, not recorded (it is
    tried again next time); returns the names of those that failed."""
    folder = schema(version)
    failed = []
    for group in ("migrations", "migrations-warm") if warm else ("migrations",):
        recorded = psql(dsn, "-At", "-c", "SELECT version FROM public.schema_migrations")
        applied = {int(v) for v in recorded.stdout.split()}
        paths = [
            *sorted(folder.glob(f"{group}/archived/*.sql")),
            *sorted(folder.glob(f"{group}/*.sql")),
        ]
        for path in paths:
            pending = int(path.name.split("_")[0]) not in applied
            if pending and psql(dsn, "-f", str(path)).returncode != 0:
                failed.append(path.name)
    return failed
