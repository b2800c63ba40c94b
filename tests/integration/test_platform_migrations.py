"""The platform's own migration layout and file style, on a real Postgres.

The corpus in platform_corpus/ is shaped like the platform's schema/migrations: NNN_ names,
archived/ history scanned first, files with their own BEGIN/COMMIT that record themselves,
$$ and $tag$ bodies, DO blocks, ON CONFLICT seeds; one kgop-managed file, one
no-transaction file, and a warm folder. Every file appends its version to
public.corpus_runs, so a file applied twice would show twice.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.helpers import KGOP, execute, fetch, kgop_env, run_kgop, schema_dump

CORPUS = Path(__file__).parent / "platform_corpus"
MAIN = [1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17]  # every file outside the warm folder
ARCHIVED = [1, 2, 3, 5, 6, 7, 8, 9]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A copy of the corpus the test may edit: <tmp>/sql/migrations and migrations-warm."""
    target = tmp_path / "sql"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def env(tmp_path: Path, postgres: str, corpus: Path) -> dict[str, str]:
    # The warm folder is found beside the migrations folder, as in KG_HOME/sql/.
    return kgop_env(
        tmp_path, KGOP_DATABASE_URL=postgres, KGOP_MIGRATIONS_DIR=str(corpus / "migrations")
    )


def runs(dsn: str) -> dict[int, int]:
    rows = fetch(dsn, "SELECT version, count(*) AS n FROM public.corpus_runs GROUP BY version")
    return {r["version"]: r["n"] for r in rows}


def tracking(dsn: str) -> list[dict[str, object]]:
    """The platform's rows with kgop's bookkeeping (schema kgop) beside them."""
    if not fetch(dsn, "SELECT to_regclass('kgop.migrations') IS NOT NULL AS b")[0]["b"]:
        return fetch(dsn, "SELECT * FROM public.schema_migrations ORDER BY version")
    return fetch(
        dsn,
        "SELECT p.*, k.checksum, k.duration_ms, k.applied_by, k.kgop_version "
        "FROM public.schema_migrations p LEFT JOIN kgop.migrations k USING (version) "
        "ORDER BY version",
    )


def status(env: dict[str, str]) -> dict[int, dict[str, object]]:
    done = run_kgop("migrate", "status", "--json", env=env)
    assert done.returncode == 0, done.stderr
    return {e["version"]: e for e in json.loads(done.stdout)["entries"]}


def psql_file(dsn: str, path: Path) -> subprocess.CompletedProcess[str]:
    """What the platform's migrate-db.sh does for one file."""
    psql = shutil.which("psql") or str(Path(os.environ.get("KGOP_PG_BINDIR", "")) / "psql")
    return subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def old_runner(dsn: str, corpus: Path, upto: int) -> None:
    """The shell runner's way: its tracking table, then psql per file, archived/ first."""
    execute(
        dsn,
        "CREATE TABLE IF NOT EXISTS public.schema_migrations (version INTEGER PRIMARY KEY, "
        "name TEXT NOT NULL, applied_at TIMESTAMP NOT NULL DEFAULT NOW())",
    )
    folder = corpus / "migrations"
    for path in [*sorted((folder / "archived").glob("*.sql")), *sorted(folder.glob("*.sql"))]:
        if int(path.name.split("_")[0]) <= upto:
            done = psql_file(dsn, path)
            assert done.returncode == 0, done.stderr


def test_fresh_database_applies_every_file_once(env: dict[str, str], postgres: str) -> None:
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 0, done.stderr
    assert f"Applied {len(MAIN)} migration(s)" in done.stdout
    assert "Applying archived/001_baseline.sql ... ok" in done.stdout
    assert "010_warm" not in done.stdout  # warm files wait for `up --warm`
    assert runs(postgres) == dict.fromkeys(MAIN, 1)
    rows = tracking(postgres)
    assert [r["version"] for r in rows] == MAIN
    assert all(len(str(r["checksum"])) == 64 and r["applied_by"] for r in rows)
    assert all(r["duration_ms"] is not None for r in rows)
    # A file's SET search_path stays in that file: 012's table is in kg_api, 016's in public.
    where = fetch(
        postgres,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_name IN ('search_settings', 'platform_notes') ORDER BY table_name",
    )
    assert [(r["table_schema"], r["table_name"]) for r in where] == [
        ("public", "platform_notes"),
        ("kg_api", "search_settings"),
    ]
    assert fetch(postgres, "SELECT kg_api.catalog_size() AS n")[0]["n"] == 2
    again = run_kgop("migrate", "up", env=env)
    assert again.returncode == 0, again.stderr
    assert "Nothing to apply" in again.stdout
    assert runs(postgres) == dict.fromkeys(MAIN, 1)


def test_status_shows_folders_and_file_styles(env: dict[str, str]) -> None:
    entries = status(env)
    assert entries[1]["source"] == "archived"
    assert entries[1]["self_managed"] is True
    assert entries[11]["source"] == "main"
    assert entries[11]["self_managed"] is True
    assert entries[6]["self_managed"] is False
    assert entries[6]["transactional"] is True
    assert entries[15]["transactional"] is False
    assert entries[10]["source"] == "warm"
    assert entries[10]["state"] == "pending"
    text = run_kgop("migrate", "status", env=env).stdout
    line = next(x for x in text.splitlines() if x.startswith("0011"))
    assert "main" in line
    assert "own tx" in line
    line = next(x for x in text.splitlines() if x.startswith("0015"))
    assert "no tx" in line


def test_five_concurrent_runs_apply_each_file_exactly_once(
    env: dict[str, str], postgres: str
) -> None:
    procs = [
        subprocess.Popen([*KGOP, "migrate", "up"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(5)
    ]  # fmt: skip
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert all(code == 0 for code, _, _ in results), results
    assert runs(postgres) == dict.fromkeys(MAIN, 1)
    applied = sum(int(out.split("Applied ")[1].split()[0]) for _, out, _ in results
                  if "Applied " in out and " migration(s)" in out)  # fmt: skip
    assert applied == len(MAIN)


def test_database_of_the_old_runner_is_adopted_and_finished(
    env: dict[str, str], postgres: str, corpus: Path
) -> None:
    old_runner(postgres, corpus, upto=12)
    before = status(env)
    assert before[12]["state"] == "applied"
    assert before[12]["adopted"] is True
    assert before[12]["checksum"] is None
    assert before[13]["state"] == "pending"
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 0, done.stderr
    assert "Adopted 10 migration(s)" in done.stdout
    assert "Applied 5 migration(s)" in done.stdout
    assert runs(postgres) == dict.fromkeys(MAIN, 1)
    assert all(len(str(r["checksum"])) == 64 for r in tracking(postgres))
    after = status(env)
    assert [v for v, e in after.items() if e["adopted"]] == [*ARCHIVED, 11, 12]
    assert all(after[v]["state"] == "applied" for v in MAIN)
    text = run_kgop("migrate", "status", env=env).stdout
    assert "10 adopted, 5 applied, 1 pending" in text


def test_checkpoint_baseline_applies_only_later_files(
    env: dict[str, str], postgres: str, corpus: Path
) -> None:
    # What initdb's baseline leaves: the resting state of 1..9, and rows for 1..9 — 4 among
    # them, whose file was consolidated away.
    old_runner(postgres, corpus, upto=9)
    execute(postgres, "DELETE FROM public.schema_migrations; DELETE FROM public.corpus_runs;")
    names = {int(p.name[:3]): p.name[4:-4] for p in (corpus / "migrations").rglob("0*.sql")}
    values = ", ".join(f"({v}, '{names.get(v, 'consolidated')}')" for v in range(1, 10))
    execute(postgres, f"INSERT INTO public.schema_migrations (version, name) VALUES {values}")
    before = status(env)
    assert before[4]["state"] == "baseline"
    assert before[4]["filename"] is None
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 0, done.stderr
    assert runs(postgres) == dict.fromkeys([11, 12, 13, 14, 15, 16, 17], 1)
    after = status(env)
    assert after[4]["state"] == "baseline"
    assert {after[v]["state"] for v in ARCHIVED} == {"applied"}
    text = run_kgop("migrate", "status", env=env).stdout
    assert "1 baseline, 8 adopted, 7 applied, 1 pending" in text
    # A recorded version above the checkpoint with no file is missing, not baseline.
    execute(postgres, "INSERT INTO public.schema_migrations (version, name) VALUES (30, 'gone')")
    assert status(env)[30]["state"] == "missing"


def test_failing_self_managed_file_leaves_nothing_and_is_retried(
    env: dict[str, str], postgres: str, corpus: Path
) -> None:
    path = corpus / "migrations" / "013_graph_metrics.sql"
    good = path.read_text()
    path.write_text(
        good.replace("FOREACH metric_name", "PERFORM no_such_function();\n    FOREACH metric_name")
    )
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 1
    assert "Migration 013_graph_metrics.sql failed and was rolled back" in done.stderr
    assert "sqlstate 42883" in done.stderr
    assert done.stderr.count("\n") == 1
    assert fetch(postgres, "SELECT to_regclass('kg_api.graph_metrics') AS t")[0]["t"] is None
    assert [r["version"] for r in tracking(postgres)] == [*ARCHIVED, 11, 12]
    assert 13 not in runs(postgres)
    path.write_text(good)
    again = run_kgop("migrate", "up", env=env)
    assert again.returncode == 0, again.stderr
    assert runs(postgres) == dict.fromkeys(MAIN, 1)


def test_error_line_is_the_files_own(env: dict[str, str], corpus: Path) -> None:
    path = corpus / "migrations" / "017_seed_roles.sql"
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("COMMENT ON COLUMN"))
    lines.insert(at, "SELECT name, no_such_column FROM kg_auth.roles;")
    path.write_text("\n".join(lines) + "\n")
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 1
    where = f"017_seed_roles.sql failed and was rolled back at line {at + 1}, column 14"
    assert where in done.stderr


def test_dry_run_of_self_managed_files_changes_nothing(
    env: dict[str, str], postgres: str, corpus: Path
) -> None:
    old_runner(postgres, corpus, upto=9)
    before = schema_dump(postgres)
    rows_before = tracking(postgres)
    done = run_kgop("migrate", "up", "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert "would apply 0011_api_keys" in done.stdout
    assert "would apply 0017_seed_roles" in done.stdout
    assert "not tried   015_jobs_kind_index.sql" in done.stdout
    assert schema_dump(postgres) == before
    assert tracking(postgres) == rows_before
    # On an empty database too: the tracking table itself is rolled back.
    execute(postgres, "DROP SCHEMA kg_api CASCADE; DROP SCHEMA kg_auth CASCADE; "
            "DROP TABLE public.schema_migrations, public.corpus_runs;")  # fmt: skip
    empty = schema_dump(postgres)
    assert run_kgop("migrate", "up", "--dry-run", env=env).returncode == 0
    assert schema_dump(postgres) == empty


def test_edited_applied_self_managed_file_is_drift(
    env: dict[str, str], postgres: str, corpus: Path
) -> None:
    assert run_kgop("migrate", "up", "--to", "12", env=env).returncode == 0
    path = corpus / "migrations" / "011_api_keys.sql"
    path.write_text(path.read_text().replace("'untested'", "'unknown'"))
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 4
    assert "011_api_keys.sql" in done.stderr
    assert "nothing was applied" in done.stderr
    assert 13 not in runs(postgres)
    assert status(env)[11]["state"] == "drifted"


def test_warm_files_apply_only_when_asked(env: dict[str, str], postgres: str) -> None:
    assert run_kgop("migrate", "up", env=env).returncode == 0
    assert 10 not in runs(postgres)
    plan = run_kgop("migrate", "plan", "--warm", env=env)
    assert "== migrations-warm/010_warm_label_index.sql" in plan.stdout
    done = run_kgop("migrate", "up", "--warm", env=env)
    assert done.returncode == 0, done.stderr
    assert "Applying migrations-warm/010_warm_label_index.sql ... ok" in done.stdout
    assert runs(postgres)[10] == 1
    assert status(env)[10]["state"] == "applied"
    assert "Nothing to apply" in run_kgop("migrate", "up", "--warm", env=env).stdout


def test_same_version_in_archived_and_main_is_refused(
    env: dict[str, str], postgres: str, corpus: Path
) -> None:
    shutil.copy(corpus / "migrations" / "archived" / "003_platform_config.sql",
                corpus / "migrations" / "003_platform_config.sql")  # fmt: skip
    done = run_kgop("migrate", "up", env=env)
    assert done.returncode == 2
    assert "archived/003_platform_config.sql and 003_platform_config.sql" in done.stderr
    assert not fetch(postgres, "SELECT to_regclass('public.schema_migrations') AS t")[0]["t"]
