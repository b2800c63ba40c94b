"""The Postgres client tools (pg_dump, pg_restore): where they are, how they connect (libpq's
environment variables: the password is never in argv), and running them."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from kgop_tui.errors import ConfigInvalid, DependencyUnavailable


def libpq_environment(url: str) -> dict[str, str]:
    """PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (+ PGSSLMODE) from a postgresql:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ConfigInvalid(
            "The database URL is not a postgresql:// URL",
            hint="check KGOP_DATABASE_URL or the POSTGRES_* values",
        )
    env = {
        "PGHOST": parts.hostname or "localhost",
        "PGPORT": str(parts.port or 5432),
        "PGUSER": unquote(parts.username or ""),
        "PGPASSWORD": unquote(parts.password or ""),
        "PGDATABASE": unquote(parts.path.lstrip("/")) or unquote(parts.username or ""),
        "PGCONNECT_TIMEOUT": "10",
    }
    sslmode = parse_qs(parts.query).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = sslmode[0]
    return env


def tool_error(stderr: str) -> str:
    """The line of a client tool's output that says what went wrong: the server's first
    ``ERROR:`` (what follows it, ``CONTEXT:`` or ``Command was:``, only says where), else the
    tool's own first ``error:``, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for marker in ("ERROR:", "error:"):
        for line in lines:
            if marker in line:
                return line[:300]
    return (lines or ["no output"])[-1][:300]


def find_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise DependencyUnavailable(
        f"{name} is not installed here",
        hint="install the Postgres client tools (postgresql-client)",
    )


async def run_tool(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        cmd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=6 * 3600,
    )
