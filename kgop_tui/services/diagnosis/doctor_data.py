"""Doctor's checks of the install's data: the database and its migrations, the encryption
key, Garage, the TLS certificate and the newest backup.

Each check reports through ``add`` (a :class:`~kgop_tui.services.diagnosis.doctor.Doctor`'s) and may
raise: the doctor turns an exception into a failed check.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol

from kgop_tui.checks import CheckState
from kgop_tui.settings import Settings

OK, WARN, FAIL, SKIP = CheckState.OK, CheckState.WARN, CheckState.FAIL, CheckState.SKIP
BACKUP_WARN_DAYS = 7


class Add(Protocol):
    """Records one finding: id, state, detail and, when not ok, a hint."""

    def __call__(
        self, ident: str, state: CheckState, detail: str, hint: str | None = None
    ) -> None: ...


def check_database(settings: Settings, add: Add) -> None:
    """The database reachable, its migrations, and .env's key against the stored secrets."""
    from kgop_tui.models import MigrationState
    from kgop_tui.services.database.connection import DatabaseTarget
    from kgop_tui.services.database.migrations import MigrationService
    from kgop_tui.services.platform.config import ConfigService

    target = DatabaseTarget.from_settings(settings)
    status = asyncio.run(MigrationService.of_install(settings).status())
    add("database", OK, f"{status.database} reachable, schema {status.current_version}")
    drifted = status.by_state(MigrationState.DRIFTED)
    pending = status.by_state(MigrationState.PENDING)
    if drifted:
        add(
            "migrations", FAIL,
            f"{len(drifted)} drifted (changed after they were applied): "
            + ", ".join(str(e.filename) for e in drifted[:3]),
            "put the applied file back; `kgop migrate status` shows the checksums",
        )  # fmt: skip
    elif pending:
        add("migrations", WARN, f"{len(pending)} pending", "`kgop migrate up`")
    else:
        add("migrations", OK, status.summary())

    async def canary() -> object:
        service = ConfigService(target, settings)
        async with service._conn("doctor") as conn:
            return await service.encryption_status(conn)

    enc = asyncio.run(canary())
    from kgop_tui.models import EncryptionStatus

    assert isinstance(enc, EncryptionStatus)
    if enc.match is False:
        add(
            "encryption", FAIL,
            f".env's key {enc.env_fingerprint} is not the stored secrets' "
            f"{enc.database_fingerprint}",
            "put the original ENCRYPTION_KEY back (`kgop configure status`)",
        )  # fmt: skip
    else:
        detail = "no stored secrets yet" if enc.match is None else "key matches"
        add(
            "encryption",
            OK,
            detail + (", a rotation is unfinished" if enc.rotation_in_progress else ""),
        )


def check_garage(settings: Settings, add: Add, engine_ok: bool) -> None:
    """Garage's layout, bucket and key (what `operator.sh garage init` makes), its nodes."""
    from kgop_tui.services.docker.compose import ComposeService
    from kgop_tui.services.platform.garage import GarageAdmin

    if engine_ok and "garage" not in ComposeService(settings, timeout=30).services():
        add("garage", SKIP, "no garage service in this stack")
        return
    status = GarageAdmin.of_install(settings).status()
    missing = [
        what
        for what, present in (
            ("a layout role", status.has_role),
            ("the bucket", status.bucket),
            ("the key", status.key),
        )
        if not present
    ]
    cluster = f" ({status.nodes} nodes)" if status.nodes > 1 else ""
    detail = f"node {status.node[:16]}…{cluster}, layout v{status.layout_version}" + (
        f"; missing {', '.join(missing)}" if missing else ", bucket and key present"
    )
    if status.down and not missing:
        down = ", ".join(f"{n[:16]}…" for n in status.down)
        add("garage", WARN, f"{detail}; down: {down}", "`./operator.sh status`, "
                 "and Garage's own `garage status` in a garage task")  # fmt: skip
        return
    add("garage", FAIL if missing else OK, detail,
             "`./operator.sh garage init`" if missing else None)  # fmt: skip


def check_tls(settings: Settings, add: Add) -> None:
    """The certificate: present, for KG_HOSTNAME, and how long it has left."""
    from kgop_tui.services.tls.certs import certificate_status, inspect
    from kgop_tui.settings import read_env_file

    status = certificate_status(settings.kg_home)
    if status is None:
        add("tls", SKIP, "no TLS (KG_SSL_MODE none)")
        return
    if status.problem is not None or status.days_left is None:
        add("tls", FAIL, status.problem or "no certificate", "`kgop recert`")
        return
    certs = settings.kg_home / "certs"
    names = inspect(certs / "kg.crt", certs / "kg.key").names
    entry = read_env_file(settings.kg_home / ".env").get("KG_HOSTNAME")
    hostname = entry.value if entry else "localhost"
    if hostname not in names:
        add(
            "tls", FAIL, f"the certificate is for {', '.join(names)}, not {hostname}",
            "`kgop recert --force` (self-signed, ACME) or replace it (manual)",
        )  # fmt: skip
        return
    days = status.days_left
    state = FAIL if days < 7 else WARN if days < 30 else OK
    add(
        "tls", state, f"{status.mode} certificate for {hostname}, {days} days left",
        None if state is OK else "`kgop recert` (it runs daily in the operator container)",
    )  # fmt: skip


def check_backup(settings: Settings, add: Add) -> None:
    """The newest backup: its age, its checksum and signature."""
    from kgop_tui.services.backups.backup import BackupService

    service = BackupService(settings)
    backups = service.backups()
    if not backups:
        add("backup", WARN, "no backup yet", "`./operator.sh backup`")
        return
    newest = backups[-1]
    age = (datetime.now(UTC) - newest.created_at).total_seconds() / 86400
    from pathlib import Path

    # Manifest, checksum and signature, not a full restore; a changed backup fails here.
    checked = service.load(Path(newest.path), accept_unsigned=True)
    signed = checked.signature == "verified"
    old = age > BACKUP_WARN_DAYS
    add(
        "backup",
        WARN if old or not signed else OK,
        f"newest {Path(newest.path).name}, {age:.1f} days old, {newest.dump_bytes >> 10} KiB, "
        "checksum matches, " + ("signature verifies" if signed else checked.signature),
        "`./operator.sh backup` (and copy backups off the host)" if old or not signed else None,
    )
