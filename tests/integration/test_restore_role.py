"""What a backup's SQL may do when it is restored, against a real Postgres: only fill the side
database. A dump whose materialized view, when refreshed, would create a superuser and run a
shell command (signed with the install's own key, as whoever holds .env could) is refused by
the server; nothing of it outlives the restore, and an ordinary restore is owned as before."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from pathlib import Path

from tests.integration import test_backup
from tests.integration.test_backup import Home, resign
from tests.integration.test_backup_mac import backup, side_databases
from tests.support.helpers import execute, fetch
from tests.support.helpers import table_snapshot as snapshot

home = test_backup.home

EVIL = """
CREATE FUNCTION kg_api.refresh_counts() RETURNS int LANGUAGE plpgsql AS $f$
BEGIN
  EXECUTE 'CREATE ROLE kgop_planted SUPERUSER LOGIN';
  EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {marker}''';
  RETURN 1;
END $f$;
CREATE MATERIALIZED VIEW kg_api.counts AS SELECT kg_api.refresh_counts() AS n WITH NO DATA;
"""


def owners(dsn: str) -> set[str]:
    rows = fetch(
        dsn,
        "SELECT DISTINCT pg_get_userbyid(relowner) AS owner FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'kg_api'",
    )
    return {r["owner"] for r in rows}


def restore_role(dsn: str) -> dict[str, object]:
    rows = fetch(dsn, "SELECT rolcanlogin, rolpassword IS NULL AS nopw FROM pg_authid "
                 "WHERE rolname = 'kgop_restore'")  # fmt: skip
    return dict(rows[0]) if rows else {}


def test_a_signed_dump_that_would_run_as_superuser_is_refused_by_the_server(
    home: Home,
) -> None:
    folder = backup(home)
    # Where the server's own user could write (the program would run as it).
    marker = Path(tempfile.gettempdir()) / f"kgop-planted-{uuid.uuid4().hex}"
    # The planted database: a materialized view whose refresh (which pg_restore runs after
    # the data) calls a function that creates a superuser and runs a program.
    execute(home.dsn, EVIL.format(marker=marker))
    # Created WITH NO DATA (so that nothing runs now), then marked populated: pg_dump writes a
    # REFRESH for it, as for any populated view, which calls the function as the restore runs.
    execute(
        home.dsn, "UPDATE pg_class SET relispopulated = true WHERE oid = 'kg_api.counts'::regclass"
    )
    planted = backup(home)
    execute(home.dsn, "DROP MATERIALIZED VIEW kg_api.counts; DROP FUNCTION kg_api.refresh_counts()")
    shutil.copyfile(planted / "database.dump", folder / "database.dump")
    record = json.loads((planted / "backup.json").read_text())
    resign(home, folder, record)
    before = snapshot(home.dsn)

    done = home.kgop("restore", str(folder), "--yes")
    assert done.returncode != 0
    assert "pg_restore failed" in done.stderr
    assert "must be superuser to create superusers" in done.stderr
    assert "the live database was not changed" in done.stderr
    assert (
        fetch(home.dsn, "SELECT count(*) AS n FROM pg_roles WHERE rolname = 'kgop_planted'")[0]["n"]
        == 0
    )
    assert not marker.exists()
    assert snapshot(home.dsn) == before
    assert side_databases(home) == []
    assert restore_role(home.dsn) == {"rolcanlogin": False, "nopw": True}


def test_a_restore_is_owned_as_the_live_database_was(home: Home) -> None:
    live_owners = owners(home.dsn)
    folder = backup(home)
    execute(home.dsn, "DELETE FROM kg_api.ingestion_jobs WHERE id > 10")
    done = home.kgop("restore", str(folder), "--yes")
    assert done.returncode == 0, done.stderr
    assert fetch(home.dsn, "SELECT count(*) AS n FROM kg_api.ingestion_jobs")[0]["n"] == 500
    assert owners(home.dsn) == live_owners
    database_owner = fetch(
        home.dsn,
        "SELECT pg_get_userbyid(datdba) AS owner FROM pg_database "
        "WHERE datname = current_database()",
    )[0]["owner"]
    assert database_owner == "postgres"
    assert restore_role(home.dsn) == {"rolcanlogin": False, "nopw": True}
    held = fetch(home.dsn, "SELECT count(*) AS n FROM pg_class WHERE relowner = "
                 "(SELECT oid FROM pg_roles WHERE rolname = 'kgop_restore')")  # fmt: skip
    assert held[0]["n"] == 0
