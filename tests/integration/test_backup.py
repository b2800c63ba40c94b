"""Backups and restores against a real Postgres: round trip, damaged dumps, foreign keys."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from kgop_tui.models import BackupInfo, Provider
from kgop_tui.services.backups.backup_mac import read_key, signed_manifest
from kgop_tui.services.database.connection import DatabaseTarget
from kgop_tui.services.platform.config import ConfigService
from kgop_tui.settings import load_settings, read_env_file
from tests.support.engines import DockerEngine
from tests.support.helpers import execute, fetch, kgop_env, run_kgop, table_snapshot


def snapshot(dsn: str) -> dict[str, tuple[int, str]]:
    """Every table's rows but AGE's catalog, whose rows name the graph's namespace by oid,
    which a restore gives anew (test_backup_age compares the graph itself, through cypher)."""
    return table_snapshot(dsn, exclude=("ag_catalog",))


PG_PASSWORD = "pg-Secret-4711-zz"
GARAGE_TOKEN = "9f1c2e7d5b3a4c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6"
OPENAI_KEY = "sk-proj-backupTEST0123456789abcdefghijklmnop"
PASSPHRASE = "correct horse battery staple"


class Home:
    def __init__(self, root: Path, dsn: str, engine: DockerEngine) -> None:
        self.root, self.dsn = root, dsn
        self.key = Fernet.generate_key().decode()
        (root / ".env").write_text(
            f"COMPOSE_PROJECT_NAME=kgbackup{root.name[-6:].lower().replace('_', '')}\n"
            f"KG_VERSION=0.6.0\nKG_API_IMAGE=kg-api:0.6.0\nENCRYPTION_KEY={self.key}\n"
            f"POSTGRES_PASSWORD={PG_PASSWORD}\nGARAGE_ADMIN_TOKEN={GARAGE_TOKEN}\n"
        )
        (root / ".env").chmod(0o600)
        self.env = kgop_env(root, KGOP_DATABASE_URL=dsn, DOCKER_HOST=engine.host)

    def kgop(self, *args: str, stdin: str | None = None, **extra: str):  # noqa: ANN201
        return run_kgop(*args, env={**self.env, **extra}, stdin=stdin, timeout=180)

    def secrets(self) -> list[str]:
        """Every secret value .env holds now (keys, passwords, tokens)."""
        values = {k: e.value for k, e in read_env_file(self.root / ".env").items()}
        found = [values[k] for k in ("ENCRYPTION_KEY", "POSTGRES_PASSWORD", "GARAGE_ADMIN_TOKEN")]
        found += [values["KG_BACKUP_KEY"]] if "KG_BACKUP_KEY" in values else []
        return found + [k for k in values.get("ENCRYPTION_KEYS_PREVIOUS", "").split(",") if k]

    def read_openai_key(self) -> str | None:
        settings = load_settings(kg_home=self.root, environ={"KGOP_DATABASE_URL": self.dsn})
        service = ConfigService(DatabaseTarget.from_settings(settings), settings)
        return asyncio.run(service.read_api_key(Provider.OPENAI))


def resign(home: Home, folder: Path, record: dict[str, object]) -> None:
    """Write ``record`` as the backup's manifest, signed with the install's own key: a
    forgery only whoever holds .env could make, to reach the checks after the signature."""
    key = read_key(home.root / ".env")
    assert key is not None
    record.pop("mac", None)
    info = BackupInfo.model_validate(record)
    (folder / "backup.json").write_bytes(signed_manifest(info, key))


def assert_no_secret_under(folder: Path, secrets: list[str]) -> None:
    assert secrets
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"a secret of .env is in {path}"


@pytest.fixture
def home(tmp_path: Path, postgres: str, docker_engine: DockerEngine) -> Home:
    h = Home(tmp_path, postgres, docker_engine)
    done = h.kgop("migrate", "up")
    assert done.returncode == 0, done.stderr
    execute(
        postgres,
        # Bulk rows of the test's own (the packaged schema has only the contract's small
        # tables): a backup covers every table of the platform's schemas.
        "CREATE TABLE kg_api.ingestion_jobs (id bigserial PRIMARY KEY, source text NOT NULL, "
        "status text NOT NULL DEFAULT 'queued', created_at timestamptz NOT NULL DEFAULT now());"
        "INSERT INTO kg_api.ingestion_jobs (source, status) "
        "SELECT 'doc-' || n, CASE WHEN n % 3 = 0 THEN 'done' ELSE 'queued' END "
        "FROM generate_series(1, 500) n;"
        "SELECT kg_api.set_platform_config('site', '\"backup test\"');",
    )
    return h


def test_backup_then_restore_round_trip_keeps_every_row(home: Home) -> None:
    before = snapshot(home.dsn)
    made = home.kgop("backup", "--json")
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    folder = Path(info["path"])
    assert folder.parent == home.root / "backups"
    assert sorted(p.name for p in folder.iterdir()) == ["backup.json", "database.dump"]
    assert (folder / "database.dump").stat().st_mode & 0o777 == 0o600
    assert_no_secret_under(home.root / "backups", home.secrets())
    assert info["tables"]["kg_api.ingestion_jobs"] == 500
    assert info["schema_version"] == 80  # what the packaged subset of 0.17.1 records
    assert info["images"] == {"KG_API_IMAGE": "kg-api:0.6.0", "KG_VERSION": "0.6.0"}
    assert info["secrets_sha256"] is None

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
    resign(home, folder, record)
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


def test_rotate_key_keeps_old_backups_restorable_and_backups_keyless(home: Home) -> None:
    stored = home.kgop("configure", "api-key", "openai", "--key-stdin", stdin=OPENAI_KEY)
    assert stored.returncode == 0, stored.stderr
    old = Path(json.loads(home.kgop("backup", "--json").stdout)["path"])
    secrets_then = home.secrets()
    rotated = home.kgop("configure", "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    assert "ENCRYPTION_KEYS_PREVIOUS" in rotated.stdout
    env = read_env_file(home.root / ".env")
    assert env["ENCRYPTION_KEY"].value != home.key
    assert env["ENCRYPTION_KEYS_PREVIOUS"].value == home.key  # retired, kept in .env only
    assert (home.root / ".env").stat().st_mode & 0o777 == 0o600
    assert home.kgop("backup").returncode == 0
    # Before and after the rotation, nothing under backups/ holds a secret of .env.
    assert_no_secret_under(home.root / "backups", secrets_then + home.secrets())
    status = json.loads(home.kgop("configure", "status", "--json").stdout)
    assert status["encryption"]["match"] is True
    assert status["encryption"]["rotation_in_progress"] is False

    execute(home.dsn, "DELETE FROM kg_api.system_api_keys")
    restored = home.kgop("restore", str(old), "--yes", "--json")
    assert restored.returncode == 0, restored.stderr
    # Restored, and its secrets brought under the current key: the platform reads them.
    assert home.read_openai_key() == OPENAI_KEY
    canary = fetch(home.dsn, "SELECT key_fingerprint FROM kgop.key_canary")
    assert canary[0]["key_fingerprint"] == status["encryption"]["env_fingerprint"]


def test_with_secrets_round_trip_and_a_wrong_passphrase(home: Home) -> None:
    assert (
        home.kgop("configure", "api-key", "openai", "--key-stdin", stdin=OPENAI_KEY).returncode == 0
    )
    short = home.kgop("backup", "--with-secrets", stdin="short\n")
    assert short.returncode == 2, short.stderr
    made = home.kgop("backup", "--with-secrets", "--json", stdin=PASSPHRASE + "\n")
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    folder = Path(info["path"])
    assert (folder / "secrets.sealed").stat().st_mode & 0o777 == 0o600
    assert info["secrets_sha256"]
    assert_no_secret_under(home.root / "backups", home.secrets())

    # A new host: another key, none of the old ones; the data is gone.
    lost = home.key
    new_key = Fernet.generate_key().decode()
    env_path = home.root / ".env"
    env_path.write_text(env_path.read_text().replace(lost, new_key))
    execute(home.dsn, "DELETE FROM kg_api.ingestion_jobs")
    plain = home.kgop("restore", str(folder), "--yes")
    assert plain.returncode == 4
    assert "--secrets-passphrase-stdin" in plain.stderr
    env_before = env_path.read_bytes()
    wrong = home.kgop(
        "restore", str(folder), "--yes", "--secrets-passphrase-stdin", stdin="not the one\n"
    )
    assert wrong.returncode == 4, wrong.stderr
    assert "Wrong passphrase" in wrong.stderr
    assert wrong.stderr.count("\n") == 1
    assert env_path.read_bytes() == env_before  # nothing changed
    assert fetch(home.dsn, "SELECT count(*) AS n FROM kg_api.ingestion_jobs")[0]["n"] == 0

    right = home.kgop(
        "restore", str(folder), "--yes", "--secrets-passphrase-stdin", stdin=PASSPHRASE + "\n"
    )
    assert right.returncode == 0, right.stderr
    assert "1 key(s) from the backup's sealed .env" in right.stdout
    env = read_env_file(env_path)
    assert env["ENCRYPTION_KEY"].value == new_key
    assert env["ENCRYPTION_KEYS_PREVIOUS"].value == lost
    assert fetch(home.dsn, "SELECT count(*) AS n FROM kg_api.ingestion_jobs")[0]["n"] == 500
    assert home.read_openai_key() == OPENAI_KEY


def test_plaintext_copies_left_by_earlier_releases_are_folded_into_env(home: Home) -> None:
    made = Path(json.loads(home.kgop("backup", "--json").stdout)["path"])
    old_key = Fernet.generate_key().decode()
    legacy = f"KG_VERSION=0.5.0\nKG_API_IMAGE=kg-api:0.5.0\nENCRYPTION_KEY={old_key}\n"
    (made / "env").write_text(legacy)
    record = json.loads((made / "backup.json").read_text())
    record["images"] = {}
    del record["mac"]  # as earlier releases wrote it: unsigned
    (made / "backup.json").write_text(json.dumps(record))
    rotated_key = Fernet.generate_key().decode()
    (home.root / "backups" / "env-before-rotate-20260101T000000Z").write_text(
        f"ENCRYPTION_KEY={rotated_key}\n"
    )
    done = home.kgop("backup", "--prune", "5")
    assert done.returncode == 0, done.stderr
    assert not (made / "env").exists()
    assert not (home.root / "backups" / "env-before-rotate-20260101T000000Z").exists()
    env = read_env_file(home.root / ".env")
    assert set(env["ENCRYPTION_KEYS_PREVIOUS"].value.split(",")) == {old_key, rotated_key}
    listed = json.loads(home.kgop("backup", "--list", "--json").stdout)
    assert listed[0]["images"] == {"KG_API_IMAGE": "kg-api:0.5.0", "KG_VERSION": "0.5.0"}
    assert_no_secret_under(home.root / "backups", home.secrets())


def test_prune_deletes_only_the_folders_it_found(
    home: Home, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    (outside / "precious.txt").write_text("keep me")
    made = [Path(json.loads(home.kgop("backup", "--json").stdout)["path"]) for _ in range(2)]
    record = json.loads((made[0] / "backup.json").read_text())
    record["path"] = str(outside)  # a manifest that names another folder
    (made[0] / "backup.json").write_text(json.dumps(record))
    done = home.kgop("backup", "--prune", "1")
    assert done.returncode == 0, done.stderr
    assert (outside / "precious.txt").read_text() == "keep me"
    assert not made[0].exists()
    assert made[1].exists()
