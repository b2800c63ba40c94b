"""The platform's own releases (aaronsb/knowledge-graph-system), from the shared archives.

``shared/upstream/knowledge-graph-system/knowledge-graph-system-VERSION.tar.gz`` beside the
checkout (or, from a git worktree, beside its main checkout; ``KGOP_UPSTREAM_DIR`` names
another folder) holds each release's source as ``git archive`` made it. Tests read the
platform's schema, compose files and code from there; they are extracted once per machine
into a cache folder. Without the archives a test skips locally and fails in the full run.
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
VERSIONS = ("0.14.0", "0.16.0", "0.17.0", "0.17.1")
_CACHE = Path(os.environ.get("KGOP_TEST_CACHE", "/tmp")) / "kgop-platform"


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


def archive(version: str) -> Path:
    """The platform's source archive of ``version`` (e.g. ``0.17.1``)."""
    path = upstream_dir() / "knowledge-graph-system" / f"knowledge-graph-system-{version}.tar.gz"
    if not path.is_file():
        require_or_skip(f"no archive of the platform at {version}: {path}")
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


def baseline_for_pg15(version: str) -> str:
    """The release's ``schema/00_baseline.sql`` without its ``SET transaction_timeout`` lines
    (a PG 17+ setting it was dumped with, which nothing else in it needs)."""
    text = (schema(version) / "00_baseline.sql").read_text()
    return re.sub(r"^SET transaction_timeout = .*$", "", text, flags=re.M)


def psql_binary() -> str:
    bindir = os.environ.get("KGOP_PG_BINDIR")
    found = str(Path(bindir) / "psql") if bindir else shutil.which("psql")
    if not found or not Path(found).exists():
        require_or_skip("psql is not installed")
    return str(found)


def psql(dsn: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = psql_binary()
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
    done = psql(dsn, "--single-transaction", "-f", "-", stdin=baseline_for_pg15(version))
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
