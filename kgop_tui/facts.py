"""The Health screen's header line: room left, database size, newest backup, certificate."""

from __future__ import annotations

from dataclasses import dataclass

from kgop_tui.resources import human_bytes


def human_age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


@dataclass(frozen=True)
class HostFacts:
    """What the host and the install look like at a glance (None: not known here)."""

    kg_home_free: int | None = None
    docker_root_free: int | None = None
    database_bytes: int | None = None
    newest_backup_age: float | None = None
    certificate_days: int | None = None

    def line(self) -> str:
        parts = []
        if self.kg_home_free is not None:
            parts.append(f"KG_HOME {human_bytes(self.kg_home_free)} free")
        if self.docker_root_free is not None:
            parts.append(f"Docker {human_bytes(self.docker_root_free)} free")
        if self.database_bytes is not None:
            parts.append(f"database {human_bytes(self.database_bytes)}")
        if self.newest_backup_age is None:
            parts.append("[yellow]no backup yet[/yellow]")
        else:
            old = self.newest_backup_age > 7 * 86400
            age = f"newest backup {human_age(self.newest_backup_age)} old"
            parts.append(f"[yellow]{age}[/yellow]" if old else age)
        if self.certificate_days is not None:
            parts.append(f"certificate {self.certificate_days} days left")
        return " · ".join(parts)
