"""Bind mounts of the effective compose configuration, checked before anything starts.

When a bind mount's source is missing, Docker creates a *directory* in its place; a service
that expected a file (nginx's configuration, garage.toml) then fails in a way nobody connects
to the missing file. kgop reads ``docker compose config`` (every file in ``COMPOSE_FILE``)
and checks each source exists with the kind its target expects, before any ``up``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kgop_tui.checks import Check, CheckState
from kgop_tui.errors import RefusedForSafety
from kgop_tui.services.docker.compose import ComposeService


@dataclass(frozen=True)
class BindMount:
    service: str
    source: str
    target: str

    @property
    def expects_file(self) -> bool:
        """A file goes there: the source or target names a file (``kg.conf``,
        ``garage.toml``, ``docker.sock``), or the source is one now."""
        if Path(self.source).is_file() or Path(self.source).is_socket():
            return True
        suffixes = {PurePosixPath(self.source).suffix, PurePosixPath(self.target).suffix}
        return bool(suffixes - {"", ".d"})


def bind_mounts(compose: ComposeService) -> list[BindMount]:
    """Every bind mount of every service, as compose resolves them."""
    config = json.loads(compose.run("config", "--format", "json"))
    found = []
    for name, service in sorted((config.get("services") or {}).items()):
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("type") == "bind" and volume.get("source"):
                found.append(BindMount(name, str(volume["source"]), str(volume.get("target", ""))))
    return found


def in_home(path: Path, kg_home: Path) -> bool:
    """``path`` is KG_HOME or inside it."""
    return path == kg_home or kg_home in path.parents


def check_mount(mount: BindMount, kg_home: Path) -> Check:
    """ok, or fail naming both paths and what to do; a source outside KG_HOME that this
    process cannot see (kgop in its container) is skipped, not guessed at."""
    source = Path(mount.source)
    where = f"{mount.source} → {mount.service}:{mount.target}"
    ident = f"mount.{mount.service}:{mount.target}"
    inside = in_home(source, kg_home)
    if not source.exists() and not source.is_socket():
        if not inside and not os.path.exists(source.parent):
            return Check(id=ident, state=CheckState.SKIP, detail=f"{where}: not visible here")
        if mount.expects_file:
            return Check(
                id=ident,
                state=CheckState.FAIL,
                detail=f"{where}: the file is missing (Docker would create a directory there)",
                hint=f"create {mount.source} (install.sh or `kgop garage config` write theirs), "
                "or remove the mount from the compose files",
            )
        return Check(
            id=ident,
            state=CheckState.WARN,
            detail=f"{where}: the folder is missing (Docker would create it, owned by root)",
            hint=f"mkdir -p {mount.source}",
        )
    if mount.expects_file and source.is_dir():
        return Check(
            id=ident,
            state=CheckState.FAIL,
            detail=f"{where}: a directory where a file belongs (Docker made it when the file "
            "was missing)",
            hint=f"rmdir {mount.source} (it should be empty), then put the file back "
            "(re-run install.sh, or `kgop garage config` for garage.toml)",
        )
    return Check(id=ident, state=CheckState.OK, detail=where)


def mount_checks(compose: ComposeService, services: list[str] | None = None) -> list[Check]:
    wanted = set(services) if services else None
    return [
        check_mount(m, compose.settings.kg_home)
        for m in bind_mounts(compose)
        if wanted is None or m.service in wanted
    ]


def require_mounts(compose: ComposeService, services: list[str] | None = None) -> None:
    """Refuse (exit 4) before ``up`` when a bind mount's source is missing or the wrong kind."""
    failed = [c for c in mount_checks(compose, services) if c.state is CheckState.FAIL]
    if failed:
        more = f" (and {len(failed) - 1} more: `kgop doctor`)" if len(failed) > 1 else ""
        raise RefusedForSafety(
            f"Bind mount {failed[0].detail}{more}; nothing was started",
            hint=failed[0].hint or "see `kgop doctor`",
        )
