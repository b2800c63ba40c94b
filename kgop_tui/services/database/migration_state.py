"""What each migration is in: the files set against the database's record of them.

Pure reading, no connection: the runner (:mod:`kgop_tui.services.database.migrations`) fetches the
tracking rows and hands them here to be classified (applied, adopted, baseline, pending,
drifted, missing), and to be refused when they cannot be applied safely (files of another
schema, applied files changed since).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kgop_tui.errors import ChecksumDrift, RefusedForSafety
from kgop_tui.kinds import MigrationState
from kgop_tui.migration_types import MigrationEntry, MigrationFile
from kgop_tui.services.database.baseline import recorded_checkpoint
from kgop_tui.services.database.migration_files import checkpoint

Row = dict[str, Any]
"""One tracking row (kgop's columns beside the platform's), by column name."""


def entry_state(
    file: MigrationFile | None, row: Row | None, cut: int | None, release: str | None
) -> MigrationState:
    """The state of one version, from its file (if any) and its tracking row (if any).

    ``cut`` is the newest version a checkpoint baseline recorded; ``release`` the release
    the files belong to."""
    if row is None:
        return MigrationState.PENDING
    if file is None:
        version = int(row["version"])
        baseline = cut is not None and version <= cut
        return MigrationState.BASELINE if baseline else MigrationState.MISSING
    # The platform edits applied files between releases: a file of another release than
    # the one it was last checked under (or of a release when none was known then) is
    # that release's, not a local change; `up` stamps the release on every row it checks.
    recorded = row.get("release")
    same_release = release is None or recorded == release
    if row["checksum"] and row["checksum"] != file.checksum and same_release:
        return MigrationState.DRIFTED
    return MigrationState.APPLIED


def migration_entries(
    files: list[MigrationFile],
    applied: dict[int, Row],
    baseline: Path | None,
    release: str | None,
) -> list[MigrationEntry]:
    """One entry per version known to the files or to the database, in version order."""
    by_version = {f.version: f for f in files}
    cut = checkpoint(files)
    if cut is None and baseline is not None:  # no archive: what the baseline records
        cut = recorded_checkpoint(baseline)
    entries: list[MigrationEntry] = []
    for version in sorted(set(by_version) | set(applied)):
        file, row = by_version.get(version), applied.get(version)
        entries.append(
            MigrationEntry(
                version=version,
                name=file.name if file else str(row["name"] if row else ""),
                state=entry_state(file, row, cut, release),
                filename=(file.path or file.filename) if file else None,
                applied_at=row["applied_at"] if row else None,
                duration_ms=row["duration_ms"] if row else None,
                applied_by=row["applied_by"] if row else None,
                kgop_version=row["kgop_version"] if row else None,
                checksum=row["checksum"] if row else None,
                file_checksum=file.checksum if file else None,
                transactional=file.transactional if file else True,
                self_managed=file.self_managed if file else False,
                source=file.source if file else None,
                adopted=row is not None and not row["applied_by"],
            )
        )
    return entries


def refuse_foreign(directory: Path, files: list[MigrationFile], applied: dict[int, Row]) -> None:
    """Refuse files of another schema: the database recorded their versions under other
    names (kgop's packaged files against the platform's database, or the reverse)."""
    clashes = [
        (f, applied[f.version]["platform_name"])
        for f in files
        if f.version in applied and applied[f.version]["platform_name"] not in (None, f.name)
    ]
    if clashes:
        file, recorded = clashes[0]
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise RefusedForSafety(
            f"The database recorded version {file.version} as {recorded!r}, but "
            f"{directory} has {file.path or file.filename} under that number{more}: "
            "these files belong to another schema; nothing was read or applied",
            hint="point KGOP_MIGRATIONS_DIR at the schema of the platform release this "
            "database runs (its api image carries it at /app/schema/migrations)",
        )


def refuse_drift(entries: Iterable[MigrationEntry]) -> None:
    """Refuse to go on while applied files differ from what was applied."""
    drifted = [e for e in entries if e.state is MigrationState.DRIFTED]
    if drifted:
        names = ", ".join(e.filename or str(e.version) for e in drifted)
        versions = " ".join(str(e.version) for e in drifted)
        raise ChecksumDrift(
            f"Applied migration files changed since they were applied: {names}; "
            "nothing was applied",
            hint="restore the original files, or if the change is deliberate run "
            f"`kgop migrate accept {versions}`",
        )
