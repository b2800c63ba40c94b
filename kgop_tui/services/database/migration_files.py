"""Migration files on disk: names, folders, styles and checksums.

Layout (the platform's own): ``NNN_name.sql`` (any number of digits, compared as integers)
in the migrations folder, its history in ``archived/`` (scanned first), and files that need
the running application in a warm folder (``migrations-warm/`` beside it). All of them are
one ordered set; one version in two places is refused, naming both paths.

Styles: a *kgop-managed* file has no transaction control and runs in a transaction kgop
opens; a *self-managed* file holds its own top-level ``BEGIN``/``COMMIT`` and runs whole,
as ``psql -v ON_ERROR_STOP=1 -f`` would; ``-- kgop:no-transaction`` in the first lines runs
a file outside any transaction (``CREATE INDEX CONCURRENTLY``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from kgop_tui.errors import ConfigInvalid
from kgop_tui.kinds import MigrationSource
from kgop_tui.migration_types import MigrationFile
from kgop_tui.services.database.sql_script import controls_transaction, meta_command

NO_TRANSACTION_MARKER = "-- kgop:no-transaction"
ARCHIVED = "archived"
_FILENAME = re.compile(r"(\d+)_([A-Za-z0-9][A-Za-z0-9_.-]*)\.sql")
# Anything that may change the session's settings for the files after it (SET, also inside
# UPDATE ... SET or a DO block; set_config(); LOAD; DISCARD): such a file is followed by a
# reset. Cautious on purpose: a false match costs one round trip, a miss a leaked setting.
_SESSION_CHANGE = re.compile(r"\b(?:set|reset|load|discard|set_config)\b", re.IGNORECASE)


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_migration(
    path: Path, source: MigrationSource = MigrationSource.MAIN, relative: str | None = None
) -> MigrationFile:
    """Read one file; refuse names and contents kgop cannot run safely."""
    match = _FILENAME.fullmatch(path.name)
    if not match:
        raise ConfigInvalid(
            f"Migration file {relative or path.name} is not named NNNN_name.sql",
            hint="rename it (e.g. 0007_add_index.sql); it would otherwise never be applied",
        )
    try:
        sql = path.read_bytes().decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        raise ConfigInvalid(f"Migration file {path.name} is not UTF-8", hint="re-save it") from None
    command = meta_command(sql)
    if command is not None:
        raise ConfigInvalid(
            f"Migration file {relative or path.name} line {command[0]} holds the psql command "
            f"{command[1]}: kgop sends SQL to the server, which cannot run psql's own commands",
            hint="write it as SQL (\\set → SET, \\i → the included file's statements)",
        )
    head = [line.strip().lower() for line in sql.splitlines()[:10]]
    transactional = NO_TRANSACTION_MARKER not in head
    return MigrationFile(
        version=int(match.group(1)),
        name=match.group(2),
        filename=path.name,
        checksum=checksum(sql),
        transactional=transactional,
        self_managed=transactional and controls_transaction(sql) is not None,
        changes_session=_SESSION_CHANGE.search(sql) is not None,
        source=source,
        path=relative or path.name,
        sql=sql,
    )


def _folder(directory: Path, source: MigrationSource, prefix: str) -> list[MigrationFile]:
    return [read_migration(p, source, prefix + p.name) for p in sorted(directory.glob("*.sql"))]


def load_migrations(directory: Path, warm: Path | None = None) -> list[MigrationFile]:
    """Every migration (archived, main, warm) in version order; duplicates are refused."""
    if not directory.is_dir():
        raise ConfigInvalid(
            f"The migrations folder {directory} does not exist",
            hint="set KGOP_MIGRATIONS_DIR, or create KG_HOME/sql/migrations",
        )
    files = _folder(directory / ARCHIVED, MigrationSource.ARCHIVED, f"{ARCHIVED}/")
    files += _folder(directory, MigrationSource.MAIN, "")
    if warm is not None and warm.is_dir():
        files += _folder(warm, MigrationSource.WARM, f"{warm.name}/")
    files.sort(key=lambda f: f.version)
    for earlier, later in zip(files, files[1:], strict=False):
        if earlier.version == later.version:
            raise ConfigInvalid(
                f"Migrations {earlier.path} and {later.path} share version {later.version}",
                hint="give one of them the next free number, or remove the copy",
            )
    return files


def checkpoint(files: list[MigrationFile]) -> int | None:
    """The newest archived version: the baseline's checkpoint, when there is an archive."""
    archived = [f.version for f in files if f.source is MigrationSource.ARCHIVED]
    return max(archived) if archived else None


def line_and_column(sql: str, position: int | None) -> tuple[int | None, int | None]:
    """Turn Postgres's 1-based character position into (line, column)."""
    if not position or position > len(sql) + 1:
        return None, None
    before = sql[: position - 1]
    line = before.count("\n") + 1
    return line, position - (before.rfind("\n") + 1)


def preview(sql: str, lines: int = 12) -> str:
    """The first meaningful lines of a file, for plans."""
    body = [line.rstrip() for line in sql.splitlines() if line.strip()]
    shown = body[:lines]
    if len(body) > lines:
        shown.append(f"... ({len(body) - lines} more lines)")
    return "\n".join(shown)
