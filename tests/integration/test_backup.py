"""Backups and restores against a real Postgres: round trip, damaged dumps, foreign keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support.engines import DockerEngine
from tests.support.helpers import execute, fetch, kgop_env, run_kgop


def snapshot(dsn: str) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the sorted rows of every user table."""
    tables = fetch(
        dsn,
        "SELECT quote_ident(schemaname) || '.' || quote_ident(relname) AS t "
        "FROM pg_stat_user_tables ORDER BY 1",
    )
    out = {}
    for row in tables:
        rows = fetch(dsn, f"SELECT t::text AS r FROM {row['t']} t")
        text = "\n".join(sorted(r["r"] for r in rows))
        out[row["t"]] = (len(rows), hashlib.sha256(text.encode()).hexdigest())
    return out


class Home:
    def __init__(self, root: Path, dsn: str, engine: DockerEngine) -> None:
        self.root, self.dsn = root, dsn
        self.key = Fernet.generate_key().decode()
        (root / ".env").write_text(
            f"COMPOSE_PROJECT_NAME=kgbackup{root.name[-6:].lower().replace('_', '')}\n"
            f"KG_VERSION=0.6.0\nENCRYPTION_KEY={self.key}\n"
        )
        (root / ".env").chmod(0o600)
        self.env = kgop_env(root, KGOP_DATABASE_URL=dsn, DOCKER_HOST=engine.host)

    def kgop(self, *args: str, **extra: str):  # noqa: ANN201
        return run_kgop(*args, env={**self.env, **extra}, timeout=180)


@pytest.fixture
def home(tmp_path: Path, postgres: str, docker_engine: DockerEngine) -> Home:
    h = Home(tmp_path, postgres, docker_engine)
    done = h.kgop("migrate", "up")
    assert done.returncode == 0, done.stderr
    execute(
        postgres,
        "INSERT INTO kg_api.ingestion_jobs (source, status) "
        "SELECT 'doc-' || n, CASE WHEN n % 3 = 0 THEN 'done' ELSE 'queued' END "
        "FROM generate_series(1, 500) n;"
        "INSERT INTO kg_api.platform_config (key, value) VALUES ('site', '\"backup test\"');",
    )
    return h


def test_backup_then_restore_round_trip_keeps_every_row(home: Home) -> None:
    before = snapshot(home.dsn)
    made = home.kgop("backup", "--json")
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    folder = Path(info["path"])
    assert folder.parent == home.root / "backups"
    assert (folder / "database.dump").stat().st_mode & 0o777 == 0o600
    assert (folder / "env").read_bytes() == (home.root / ".env").read_bytes()
    assert (folder / "env").stat().st_mode & 0o777 == 0o600
    assert home.key not in (folder / "backup.json").read_text()  # a fingerprint, not the key
    assert info["tables"]["kg_api.ingestion_jobs"] == 500
    assert info["schema_version"] == 9

    # Damage the live data: rows gone, rows changed, a table the backup never had.
    execute(
        home.dsn,
        "DELETE FROM kg_api.ingestion_jobs WHERE id > 100;"
        "UPDATE kg_api.platform_config SET value = '\"changed\"';"
        "CREATE TABLE kg_api.after_backup (x int); INSERT INTO kg_api.after_backup VALUES (1);",
    )
    assert snapshot(home.dsn) != before

    refused = home.kgop("restore", str(folder))
    assert refused.returncode == 4, refused.stderr
    assert "--yes" in refused.stderr
    assert snapshot(home.dsn)["kg_api.ingestion_jobs"][0] == 100  # nothing changed

    # A database left aside by a restore that was killed half-way is cleared, not kept.
    database = home.dsn.rsplit("/", 1)[1]
    execute(home.dsn, f'CREATE DATABASE "{database}_restore_20260101000000"')
    restored = home.kgop("restore", str(folder), "--yes", "--json")
    assert restored.returncode == 0, restored.stderr
    result = json.loads(restored.stdout)
    assert snapshot(home.dsn) == before
    assert result["tables"]["kg_api.ingestion_jobs"] == 500
    names = [r["datname"] for r in fetch(home.dsn, "SELECT datname FROM pg_database")]
    assert [n for n in names if n.startswith(database)] == [database]
    # The state it replaced was backed up first, and that backup holds the damage.
    safety = Path(result["safety_backup"])
    record = json.loads((safety / "backup.json").read_text())
    assert record["tables"]["kg_api.after_backup"] == 1
    assert record["tables"]["kg_api.ingestion_jobs"] == 100
    listed = home.kgop("backup", "--list", "--json")
    assert [Path(b["path"]) for b in json.loads(listed.stdout)] == [folder, safety]


def test_a_damaged_dump_is_refused_and_the_database_untouched(home: Home) -> None:
    made = home.kgop("backup", "--json")
    folder = Path(json.loads(made.stdout)["path"])
    before = snapshot(home.dsn)
    with (folder / "database.dump").open("r+b") as dump:
        dump.seek(200)
        dump.write(b"\0" * 64)
    done = home.kgop("restore", str(folder), "--yes")
    assert done.returncode == 4
    assert "does not match its checksum" in done.stderr
    assert done.stderr.count("\n") == 1
    assert snapshot(home.dsn) == before


def test_a_dump_pg_restore_rejects_leaves_the_live_database(home: Home) -> None:
    made = home.kgop("backup", "--json")
    folder = Path(json.loads(made.stdout)["path"])
    before = snapshot(home.dsn)
    # A record that matches a dump pg_restore cannot read: the checksum passes, the restore
    # fails, and it fails before the live database is touched.
    (folder / "database.dump").write_bytes(b"PGDMP not really a dump")
    record = json.loads((folder / "backup.json").read_text())
    record["dump_sha256"] = hashlib.sha256(b"PGDMP not really a dump").hexdigest()
    (folder / "backup.json").write_text(json.dumps(record))
    done = home.kgop("restore", str(folder), "--yes")
    assert done.returncode == 1, done.stderr
    assert "pg_restore failed" in done.stderr
    assert "not changed" in done.stderr
    assert snapshot(home.dsn) == before
    leftovers = fetch(home.dsn, "SELECT datname FROM pg_database WHERE datname LIKE '%restore%'")
    assert leftovers == []


def test_a_backup_made_with_another_key_is_refused(home: Home) -> None:
    made = home.kgop("backup", "--json")
    folder = Path(json.loads(made.stdout)["path"])
    other = Fernet.generate_key().decode()
    done = home.kgop("restore", str(folder), "--yes", ENCRYPTION_KEY=other)
    assert done.returncode == 4
    assert "another ENCRYPTION_KEY" in done.stderr
    assert "ENCRYPTION_KEYS_PREVIOUS" in done.stderr
    assert other not in done.stderr
    assert home.key not in done.stderr
    # With the backup's key kept as a previous key, it is accepted.
    ok = home.kgop(
        "restore", str(folder), "--yes", ENCRYPTION_KEY=other, ENCRYPTION_KEYS_PREVIOUS=home.key
    )
    assert ok.returncode == 0, ok.stderr


def test_prune_keeps_the_newest(home: Home) -> None:
    made = [Path(json.loads(home.kgop("backup", "--json").stdout)["path"]) for _ in range(3)]
    (home.root / "backups" / ".half-written.partial").mkdir()
    bad = home.kgop("backup", "--prune", "0")
    assert bad.returncode == 2
    assert all(path.exists() for path in made)
    done = home.kgop("backup", "--prune", "1")
    assert done.returncode == 0, done.stderr
    assert [p.exists() for p in made] == [False, False, True]
    assert not (home.root / "backups" / ".half-written.partial").exists()
    assert "2 removed" not in done.stdout  # the partial folder counts too
    assert "3 removed; 1 kept." in done.stdout
