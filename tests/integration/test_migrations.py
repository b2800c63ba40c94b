"""The migration runner on a real Postgres, through the real `kgop migrate` command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import asyncpg
import pytest

from kgop_tui.services.database.migration_db import LOCK_KEY
from tests.support.engines import wait_for
from tests.support.helpers import KGOP, execute, fetch, kgop_env, run_kgop, schema_dump

PACKAGED = Path(__file__).resolve().parents[2] / "kgop_tui" / "sql" / "migrations"


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    folder.mkdir()
    return folder


@pytest.fixture
def env(tmp_path: Path, postgres: str, migrations: Path) -> dict[str, str]:
    return kgop_env(tmp_path, KGOP_DATABASE_URL=postgres, KGOP_MIGRATIONS_DIR=str(migrations))


def write(folder: Path, name: str, sql: str) -> Path:
    path = folder / name
    path.write_text(sql)
    return path


def applied_versions(dsn: str) -> list[int]:
    rows = fetch(dsn, "SELECT version FROM public.schema_migrations ORDER BY version")
    return [r["version"] for r in rows]


def table_exists(dsn: str, name: str) -> bool:
    return bool(fetch(dsn, "SELECT to_regclass($1) IS NOT NULL AS e", name)[0]["e"])


def test_packaged_schema_applies_and_reruns_cleanly(
    tmp_path: Path, postgres: str, migrations: Path
) -> None:
    """The demo's schema: kgop's subset of the platform's 0.17.1 baseline, applied as the
    platform's baseline is; `migrate status` then shows nothing pending and no drift."""
    env = kgop_env(tmp_path, KGOP_DATABASE_URL=postgres)  # the packaged schema
    first = run_kgop("migrate", "up", env=env)
    assert first.returncode == 0, first.stderr
    assert "Applied the platform's baseline 00_baseline.sql" in first.stdout
    assert not list(PACKAGED.glob("*.sql"))  # the baseline is the whole packaged schema
    again = run_kgop("migrate", "up", env=env)
    assert again.returncode == 0
    assert "Nothing to apply" in again.stdout
    assert table_exists(postgres, "kg_auth.users")
    assert table_exists(postgres, "kg_api.system_api_keys")
    active = fetch(postgres, "SELECT name FROM kg_api.embedding_profile WHERE active")
    assert [r["name"] for r in active] == ["Nomic v1.5"]
    recorded = fetch(postgres, "SELECT version FROM public.schema_migrations ORDER BY 1")
    assert [r["version"] for r in recorded][-1] == 80  # what the 0.17.1 baseline records
    assert fetch(postgres, "SELECT filename FROM kgop.baseline") == [
        {"filename": "00_baseline.sql"}
    ]
    status = run_kgop("migrate", "status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert {e["state"] for e in doc["entries"]} == {"baseline"}
    assert schemas_beyond(postgres) == []


def schemas_beyond(dsn: str) -> list[str]:
    """Schemas other than the platform's (with AGE's catalog and its graph), kgop's and
    Postgres's own."""
    rows = fetch(
        dsn,
        "SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('kg_api', 'kg_auth', 'kgop', "
        "'public', 'information_schema', 'ag_catalog', 'knowledge_graph') "
        "AND nspname NOT LIKE 'pg\\_%'",
    )
    return [r["nspname"] for r in rows]


def test_status_lists_applied_and_pending(env: dict[str, str], migrations: Path) -> None:
    write(migrations, "0001_one.sql", "CREATE TABLE one (id int);")
    assert run_kgop("migrate", "up", env=env).returncode == 0
    write(migrations, "0002_two.sql", "CREATE TABLE two (id int);")
    done = run_kgop("migrate", "status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["current_version"] == 1
    states = [(e["version"], e["name"], e["state"]) for e in doc["entries"]]
    assert states == [(1, "one", "applied"), (2, "two", "pending")]
    assert doc["entries"][0]["applied_at"]
    assert doc["entries"][0]["duration_ms"] is not None
    text = run_kgop("migrate", "status", env=env).stdout
    assert "1 applied, 1 pending" in text


def test_plan_previews_pending_sql(env: dict[str, str], migrations: Path) -> None:
    write(migrations, "0001_one.sql", "-- first\nCREATE TABLE one (id int);\n")
    write(migrations, "0002_two.sql", "CREATE TABLE two (id int);\n")
    done = run_kgop("migrate", "plan", "--to", "1", env=env)
    assert done.returncode == 0, done.stderr
    assert "== 0001_one.sql" in done.stdout
    assert "CREATE TABLE one (id int);" in done.stdout
    assert "0002_two" not in done.stdout


def test_concurrent_runners_apply_each_file_exactly_once(
    env: dict[str, str], migrations: Path, postgres: str
) -> None:
    write(migrations, "0001_log.sql", "CREATE TABLE applied_log (file text);")
    for n in range(2, 8):
        write(
            migrations,
            f"{n:04d}_step.sql",
            f"INSERT INTO applied_log VALUES ('{n}'); SELECT pg_sleep(0.1);",
        )
    # A sixth holder keeps the lock until all five runners are connected and polling for
    # it, so they truly run at once however slowly the machine starts processes.
    held, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        async def go() -> None:
            conn = await asyncpg.connect(postgres)
            try:
                await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
                held.set()
                await asyncio.to_thread(release.wait, 300)
            finally:
                await conn.close()

        asyncio.run(go())

    holder = threading.Thread(target=hold_lock, daemon=True)
    holder.start()
    assert held.wait(30)
    procs = [
        subprocess.Popen([*KGOP, "migrate", "up"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(5)
    ]  # fmt: skip
    database = postgres.rsplit("/", 1)[1]
    try:
        wait_for(
            lambda: (
                fetch(
                    postgres,
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 "
                    "AND application_name LIKE 'kgop%' AND query LIKE '%pg_try_advisory_lock%'",
                    database,
                )[0]["n"]
                >= 5
            ),
            120,
            "five runners to have found the lock taken",
        )
    finally:
        release.set()
        holder.join(30)
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 5, results
    log = fetch(postgres, "SELECT file, count(*) AS n FROM applied_log GROUP BY file")
    assert sorted((r["file"], r["n"]) for r in log) == [(str(n), 1) for n in range(2, 8)]
    assert applied_versions(postgres) == list(range(1, 8))
    assert all("waiting for the migration lock" in err for _, err in results), results


def test_failing_file_is_rolled_back_whole(
    env: dict[str, str], migrations: Path, postgres: str
) -> None:
    write(migrations, "0001_one.sql", "CREATE TABLE one (id int);")
    write(migrations, "0002_two.sql", "CREATE TABLE two (id int);")
    bad = write(
        migrations,
        "0003_three.sql",
        "CREATE TABLE three (id int);\nINSERT INTO three VALUES (1);\n"
        "INSERT INTO missing_table VALUES (1);\n",
    )
    write(migrations, "0004_four.sql", "CREATE TABLE four (id int);")
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "0003_three.sql failed and was rolled back at line 3, column 13" in done.stderr
    assert 'relation "missing_table" does not exist (sqlstate 42P01)' in done.stderr
    assert applied_versions(postgres) == [1, 2]
    assert not table_exists(postgres, "three")
    assert not table_exists(postgres, "four")
    bad.write_text("CREATE TABLE three (id int);\nINSERT INTO three VALUES (1);\n")
    rerun = run_kgop("migrate", "up", env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert applied_versions(postgres) == [1, 2, 3, 4]
    assert fetch(postgres, "SELECT count(*) AS n FROM three")[0]["n"] == 1


def test_killed_runner_leaves_nothing_partial(
    env: dict[str, str], migrations: Path, postgres: str
) -> None:
    execute(postgres, "CREATE TABLE hold (x int)")
    write(migrations, "0001_one.sql", "CREATE TABLE one (id int);")
    write(
        migrations,
        "0002_slow.sql",
        "CREATE TABLE partial (id int);\nINSERT INTO partial VALUES (1);\n"
        "SELECT pg_sleep(60) FROM pg_tables WHERE tablename = 'hold';\n",
    )
    runner = subprocess.Popen([*KGOP, "migrate", "up"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    sleeping = "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' " \
        "AND pid <> pg_backend_pid()"  # fmt: skip
    wait_for(lambda: fetch(postgres, sleeping)[0]["n"] == 1, 60, "the runner to be mid-file")
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(timeout=10)
    wait_for(lambda: fetch(postgres, sleeping)[0]["n"] == 0, 30, "the server to drop the run")
    locks = "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'"
    assert fetch(postgres, locks)[0]["n"] == 0
    assert not table_exists(postgres, "partial")
    assert applied_versions(postgres) == [1]
    execute(postgres, "DROP TABLE hold")
    rerun = run_kgop("migrate", "up", "--lock-timeout", "5", env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert applied_versions(postgres) == [1, 2]
    assert fetch(postgres, "SELECT count(*) AS n FROM partial")[0]["n"] == 1


def test_edited_applied_file_is_refused(
    env: dict[str, str], migrations: Path, postgres: str
) -> None:
    first = write(migrations, "0001_one.sql", "CREATE TABLE one (id int);")
    assert run_kgop("migrate", "up", env=env).returncode == 0
    first.write_text("CREATE TABLE one (id bigint);")
    write(migrations, "0002_two.sql", "CREATE TABLE two (id int);")
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 4
    assert "0001_one.sql" in done.stderr
    assert "kgop migrate accept 1" in done.stderr
    assert applied_versions(postgres) == [1]
    assert not table_exists(postgres, "two")
    status = json.loads(run_kgop("migrate", "status", "--json", env=env).stdout)
    assert [e["state"] for e in status["entries"]] == ["drifted", "pending"]
    accepted = run_kgop("migrate", "accept", "1", env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert run_kgop("migrate", "up", env=env).returncode == 0
    assert applied_versions(postgres) == [1, 2]
    not_drifted = run_kgop("migrate", "accept", "2", env=env)
    assert not_drifted.returncode == 2


def test_dry_run_leaves_the_database_exactly_as_it_was(
    env: dict[str, str], migrations: Path, postgres: str
) -> None:
    write(migrations, "0001_one.sql", "CREATE TABLE one (id serial, v text);")
    assert run_kgop("migrate", "up", env=env).returncode == 0
    write(migrations, "0002_two.sql", "CREATE TABLE two (id int); ALTER TABLE one ADD w int;")
    write(migrations, "0003_three.sql", "CREATE INDEX one_v ON one (v);")
    before = schema_dump(postgres)
    rows_before = fetch(postgres, "SELECT * FROM public.schema_migrations ORDER BY version")
    done = run_kgop("migrate", "up", "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert "would apply 0002_two ok" in done.stdout
    assert "2 migration(s) would apply; nothing was changed" in done.stdout
    assert schema_dump(postgres) == before
    assert fetch(postgres, "SELECT * FROM public.schema_migrations ORDER BY version") == (
        rows_before
    )
    write(migrations, "0004_bad.sql", "ALTER TABLE nope ADD x int;")
    failing = run_kgop("migrate", "up", "--dry-run", env=env)
    assert failing.returncode == 1
    assert "0004_bad.sql would fail" in failing.stderr
    assert schema_dump(postgres) == before


def test_dry_run_on_a_fresh_database_creates_nothing(env: dict[str, str], postgres: str) -> None:
    env = {**env}
    env.pop("KGOP_MIGRATIONS_DIR")
    before = schema_dump(postgres)
    done = run_kgop("migrate", "up", "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert schema_dump(postgres) == before
    assert not table_exists(postgres, "public.schema_migrations")


def test_legacy_tracking_table_is_adopted(
    env: dict[str, str], migrations: Path, postgres: str
) -> None:
    # The shell runner's world: a bare tracking table and files inserting their own row.
    execute(
        postgres,
        "CREATE TABLE public.schema_migrations (version integer PRIMARY KEY, name text, "
        "applied_at timestamptz DEFAULT now())",
    )
    legacy = {
        "0001_one.sql": "CREATE TABLE one (id int);\n"
        "INSERT INTO public.schema_migrations (version, name) VALUES (1, 'one');\n",
        "0002_two.sql": "CREATE TABLE two (id int);\n"
        "INSERT INTO public.schema_migrations (version, name) VALUES (2, 'two')\n"
        "ON CONFLICT (version) DO NOTHING;\n",
    }
    for name, sql in legacy.items():
        write(migrations, name, sql)
        execute(postgres, sql)
    write(
        migrations,
        "0003_three.sql",
        "CREATE TABLE three (id int);\n"
        "INSERT INTO public.schema_migrations (version, name) VALUES (3, 'three');\n",
    )
    status = json.loads(run_kgop("migrate", "status", "--json", env=env).stdout)
    assert [e["state"] for e in status["entries"]] == ["applied", "applied", "pending"]
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 0, done.stderr
    assert "Adopted 2 migration(s)" in done.stdout
    rows = fetch(postgres, "SELECT version, checksum, applied_by FROM kgop.migrations "
                 "ORDER BY version")  # fmt: skip
    assert [r["version"] for r in rows] == [1, 2, 3]
    platform = fetch(postgres, "SELECT * FROM public.schema_migrations ORDER BY version")
    assert [sorted(r) for r in platform] == [["applied_at", "name", "version"]] * 3
    assert all(r["checksum"] for r in rows)
    assert rows[2]["applied_by"]
    again = json.loads(run_kgop("migrate", "status", "--json", env=env).stdout)
    assert [e["state"] for e in again["entries"]] == ["applied"] * 3


def test_lock_held_elsewhere_gives_up_with_exit_4(
    env: dict[str, str], migrations: Path, postgres: str
) -> None:
    import asyncio

    import asyncpg

    from kgop_tui.services.database.migrations import LOCK_KEY

    write(migrations, "0001_one.sql", "CREATE TABLE one (id int);")

    async def hold_and_run() -> subprocess.CompletedProcess[str]:
        conn = await asyncpg.connect(postgres, server_settings={"application_name": "upgrade-X"})
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
            return await asyncio.to_thread(
                run_kgop, "migrate", "up", "--lock-timeout", "1", env=env
            )
        finally:
            await conn.close()

    done = asyncio.run(hold_and_run())
    assert done.returncode == 4
    assert "waiting for the migration lock held by upgrade-X" in done.stderr
    assert "did not finish within 1s" in done.stderr
    assert not table_exists(postgres, "one")


def test_no_transaction_file_runs_outside_a_transaction(
    env: dict[str, str], migrations: Path, postgres: str
) -> None:
    write(migrations, "0001_one.sql", "CREATE TABLE one (id int);")
    write(
        migrations,
        "0002_index.sql",
        "-- kgop:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS one_id ON one (id);\n",
    )
    dry = run_kgop("migrate", "up", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "not tried   0002_index.sql" in dry.stdout
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 0, done.stderr
    assert table_exists(postgres, "one_id")


def test_up_to_a_version(env: dict[str, str], migrations: Path, postgres: str) -> None:
    for n in (1, 2, 3):
        write(migrations, f"{n:04d}_t{n}.sql", f"CREATE TABLE t{n} (id int);")
    assert run_kgop("migrate", "up", "--to", "2", env=env).returncode == 0
    assert applied_versions(postgres) == [1, 2]


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"0001_a.sql": "SELECT 1;", "001_b.sql": "SELECT 1;"}, "share version 1"),
        ({"1-init.sql": "SELECT 1;"}, "is not named NNNN_name.sql"),
        ({"0007_a.sql": "SELECT 1;", "archived/007_b.sql": "SELECT 1;"}, "archived/007_b.sql"),
        (
            {"0001_a.sql": "SELECT 1;", "0002_b.sql": "\\set ON_ERROR_STOP on\nSELECT 2;"},
            "0002_b.sql line 1 holds the psql command \\set",
        ),
    ],
)
def test_unsafe_migration_folders_are_refused(
    env: dict[str, str], migrations: Path, postgres: str, files: dict[str, str], fragment: str
) -> None:
    (migrations / "archived").mkdir()
    for name, sql in files.items():
        write(migrations, name, sql)
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 2
    assert fragment in done.stderr
    assert not table_exists(postgres, "public.schema_migrations")


def test_plpgsql_bodies_are_not_mistaken_for_transaction_control(
    env: dict[str, str], migrations: Path, postgres: str
) -> None:
    write(
        migrations,
        "0001_fn.sql",
        "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$;\n",
    )
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 0, done.stderr
    assert fetch(postgres, "SELECT f() AS v")[0]["v"] == 1


def test_unreachable_database_is_exit_3(tmp_path: Path, migrations: Path) -> None:
    write(migrations, "0001_one.sql", "SELECT 1;")
    env = kgop_env(
        tmp_path,
        KGOP_DATABASE_URL="postgresql://kg:secretpw@127.0.0.1:9/kg",
        KGOP_MIGRATIONS_DIR=str(migrations),
    )
    done = run_kgop("migrate", "status", env=env)
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert "Cannot reach Postgres" in done.stderr
    assert "secretpw" not in done.stderr


def test_wrong_password_is_exit_3_without_the_password(
    tmp_path: Path, postgres: str, migrations: Path
) -> None:
    from urllib.parse import urlparse

    url = urlparse(postgres)
    wrong = postgres.replace(f":{url.password}@", ":not-the-password@")
    env = kgop_env(tmp_path, KGOP_DATABASE_URL=wrong, KGOP_MIGRATIONS_DIR=str(migrations))
    done = run_kgop("migrate", "status", env=env)
    assert done.returncode == 3
    assert "refused the login" in done.stderr
    assert "not-the-password" not in done.stderr
