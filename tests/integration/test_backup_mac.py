"""Signed backups against a real Postgres: a changed backup is refused before any of its SQL
runs, an unsigned one only with --accept-unsigned, another install's only with its key."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from kgop_tui.errors import RefusedForSafety
from kgop_tui.services.backups.backup import BackupService
from kgop_tui.services.backups.backup_mac import decode_key, new_key
from kgop_tui.services.files import update_env_file
from kgop_tui.settings import load_settings, read_env_file
from tests.integration import test_backup
from tests.integration.test_backup import Home, assert_no_secret_under
from tests.support.helpers import execute, fetch
from tests.support.helpers import table_snapshot as snapshot

home = test_backup.home


def backup(home: Home) -> Path:
    made = home.kgop("backup", "--json")
    assert made.returncode == 0, made.stderr
    return Path(json.loads(made.stdout)["path"])


def side_databases(home: Home) -> list[str]:
    rows = fetch(home.dsn, "SELECT datname FROM pg_database WHERE datname LIKE '%\\_restore\\_%'")
    return [r["datname"] for r in rows]


def listed(home: Home) -> dict[str, str]:
    done = home.kgop("backup", "--list", "--json")
    assert done.returncode == 0, done.stderr
    return {Path(b["path"]).name: b["signature"] for b in json.loads(done.stdout)}


def assert_refused_untouched(
    home: Home, done: subprocess.CompletedProcess[str], before: object, backups: int
) -> None:
    """Exit 4 in one sentence and a hint; no side database, no safety backup, data as it was."""
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1
    assert "Hint:" in done.stderr
    assert side_databases(home) == []
    assert snapshot(home.dsn) == before
    assert len(list((home.root / "backups").iterdir())) == backups


def restore_refused(home: Home, folder: Path, says: str) -> tuple[object, str]:
    """Rows deleted, then a restore of ``folder`` refused saying ``says`` and the flag, with
    nothing touched; the data as it is now (what any later refusal must leave) and what the
    refusal said."""
    execute(home.dsn, "DELETE FROM kg_api.ingestion_jobs WHERE id > 10")
    before = snapshot(home.dsn)
    done = home.kgop("restore", str(folder), "--yes")
    assert_refused_untouched(home, done, before, backups=1)
    assert says in done.stderr
    assert "--accept-unsigned" in done.stderr
    return before, done.stderr


def test_the_key_is_made_once_kept_in_env_only_and_every_backup_verifies(home: Home) -> None:
    env_path = home.root / ".env"
    assert "KG_BACKUP_KEY" not in read_env_file(env_path)
    first = home.kgop("backup", "--json")
    assert first.returncode == 0, first.stderr
    key = read_env_file(env_path)["KG_BACKUP_KEY"].value
    assert len(decode_key(key)) == 32
    assert env_path.stat().st_mode & 0o777 == 0o600
    assert key not in first.stdout + first.stderr
    assert "A new KG_BACKUP_KEY in .env" in first.stderr
    again = home.kgop("backup")
    assert again.returncode == 0, again.stderr
    assert "KG_BACKUP_KEY" not in again.stderr
    assert read_env_file(env_path)["KG_BACKUP_KEY"].value == key  # made once, then reused
    assert env_path.read_text().count("KG_BACKUP_KEY=") == 1
    assert_no_secret_under(home.root / "backups", home.secrets())
    assert set(listed(home).values()) == {"verified"}
    text = home.kgop("backup", "--list")
    assert text.stdout.count("  signed") == 2, text.stdout


def test_a_dump_rewritten_with_its_checksum_is_refused_before_any_sql_runs(home: Home) -> None:
    folder = backup(home)
    # Someone with write access to the copies: another database's dump, its checksum beside it.
    execute(home.dsn, "CREATE TABLE kg_api.planted (x int); INSERT INTO kg_api.planted VALUES (1)")
    planted = backup(home)
    execute(home.dsn, "DROP TABLE kg_api.planted")
    shutil.copyfile(planted / "database.dump", folder / "database.dump")
    record = json.loads((folder / "backup.json").read_text())
    record["dump_sha256"] = hashlib.sha256((folder / "database.dump").read_bytes()).hexdigest()
    (folder / "backup.json").write_text(json.dumps(record, indent=2))
    before = snapshot(home.dsn)

    done = home.kgop("restore", str(folder), "--yes")
    assert_refused_untouched(home, done, before, backups=2)
    assert "was changed after it was written" in done.stderr
    assert "none of its SQL was run" in done.stderr
    # The flag for unsigned backups does not let a changed one through.
    forced = home.kgop("restore", str(folder), "--yes", "--accept-unsigned")
    assert_refused_untouched(home, forced, before, backups=2)
    assert listed(home)[folder.name] == "invalid"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("images", {"KG_API_IMAGE": "evil.example/kg-api:0.6.0", "KG_VERSION": "0.6.0"}),
        ("tables", {"kg_api.ingestion_jobs": 1}),
        ("reason", "manual "),
    ],
)
def test_a_changed_manifest_is_refused(home: Home, field: str, value: object) -> None:
    folder = backup(home)
    record = json.loads((folder / "backup.json").read_text())
    record[field] = value
    (folder / "backup.json").write_text(json.dumps(record, indent=2))
    before = snapshot(home.dsn)
    done = home.kgop("restore", str(folder), "--yes")
    assert_refused_untouched(home, done, before, backups=1)
    assert "was changed after it was written" in done.stderr
    # An upgrade's rollback and --recover restore through the same check.
    settings = load_settings(kg_home=home.root, environ={"KGOP_DATABASE_URL": home.dsn})
    service = BackupService(settings)
    with pytest.raises(RefusedForSafety, match="changed after it was written"):
        asyncio.run(service.restore_database(service.backups()[0]))
    assert side_databases(home) == []
    assert snapshot(home.dsn) == before


def test_a_backup_of_another_install_needs_its_key_or_the_flag(home: Home) -> None:
    folder = backup(home)
    env_path = home.root / ".env"
    ours = read_env_file(env_path)["KG_BACKUP_KEY"].value
    update_env_file(env_path, {"KG_BACKUP_KEY": new_key()})  # the backup copied to another host
    before, said = restore_refused(home, folder, "another install's KG_BACKUP_KEY")
    assert ours not in said
    assert listed(home)[folder.name] == "other-key"

    update_env_file(env_path, {"KG_BACKUP_KEY": None})  # an install with no key yet
    none = home.kgop("restore", str(folder), "--yes")
    assert_refused_untouched(home, none, before, backups=1)
    assert "KG_BACKUP_KEY this .env lacks" in none.stderr

    update_env_file(env_path, {"KG_BACKUP_KEY": ours})  # the key kept with .env: accepted
    ok = home.kgop("restore", str(folder), "--yes", "--json")
    assert ok.returncode == 0, ok.stderr
    assert "NOT verified" not in ok.stderr
    assert fetch(home.dsn, "SELECT count(*) AS n FROM kg_api.ingestion_jobs")[0]["n"] == 500


def test_an_unsigned_backup_is_refused_and_restores_with_the_flag(home: Home) -> None:
    folder = backup(home)
    record = json.loads((folder / "backup.json").read_text())
    del record["mac"]  # what kgop wrote before backups were signed
    (folder / "backup.json").write_text(json.dumps(record, indent=2))
    restore_refused(home, folder, "is not signed")
    assert listed(home)[folder.name] == "unsigned"
    assert "UNSIGNED" in home.kgop("backup", "--list").stdout

    ok = home.kgop("restore", str(folder), "--yes", "--accept-unsigned", "--json")
    assert ok.returncode == 0, ok.stderr
    assert "UNSIGNED and was NOT verified" in ok.stderr
    assert fetch(home.dsn, "SELECT count(*) AS n FROM kg_api.ingestion_jobs")[0]["n"] == 500
    # The safety backup this restore took is signed.
    safety = Path(json.loads(ok.stdout)["safety_backup"])
    assert listed(home)[safety.name] == "verified"


def test_a_sealed_copy_of_the_secrets_is_signed_and_opens_only_as_sealed(home: Home) -> None:
    made = home.kgop("backup", "--with-secrets", "--json", stdin=test_backup.PASSPHRASE + "\n")
    assert made.returncode == 0, made.stderr
    folder = Path(json.loads(made.stdout)["path"])
    sealed = folder / "secrets.sealed"
    original = sealed.read_bytes()
    # Another sealed .env put in its place, its checksum rewritten: the signature catches it.
    forged = json.loads(original)
    forged["ciphertext"] = forged["ciphertext"][::-1]
    sealed.write_text(json.dumps(forged))
    record = json.loads((folder / "backup.json").read_text())
    record["secrets_sha256"] = hashlib.sha256(sealed.read_bytes()).hexdigest()
    (folder / "backup.json").write_text(json.dumps(record, indent=2))
    before = snapshot(home.dsn)
    env_before = (home.root / ".env").read_bytes()
    done = home.kgop(
        "restore", str(folder), "--yes", "--secrets-passphrase-stdin",
        stdin=test_backup.PASSPHRASE + "\n",
    )  # fmt: skip
    assert_refused_untouched(home, done, before, backups=1)
    assert "was changed after it was written" in done.stderr
    assert (home.root / ".env").read_bytes() == env_before
    # The signed copy put back: it opens with the passphrase (AES-GCM) and restores.
    sealed.write_bytes(original)
    record["secrets_sha256"] = hashlib.sha256(original).hexdigest()
    test_backup.resign(home, folder, record)
    wrong = home.kgop(
        "restore", str(folder), "--yes", "--secrets-passphrase-stdin", stdin="not the one 1234\n"
    )
    assert wrong.returncode == 4, wrong.stderr
    assert "Wrong passphrase" in wrong.stderr
    ok = home.kgop(
        "restore", str(folder), "--yes", "--secrets-passphrase-stdin",
        stdin=test_backup.PASSPHRASE + "\n",
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
