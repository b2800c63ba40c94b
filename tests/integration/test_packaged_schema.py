"""kgop's packaged (demo) schema is a faithful subset of the platform's 0.17.1 baseline.

``kgop_tui/sql/00_baseline.sql`` declares only what the configuration contract uses; every
table it declares must have exactly the baseline's columns, types, defaults, constraints,
indexes and triggers, every sequence and function the baseline's definition, and every seed
row must be one of the baseline's (information_schema, pg_catalog; tests/support/
schema_subset.py). The functions must also behave as the baseline's do.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.helpers import execute, fetch, kgop_env, run_kgop
from tests.support.platform_db import load_platform_baseline
from tests.support.schema_subset import declared, differences

PACKAGED = Path(__file__).resolve().parents[2] / "kgop_tui" / "sql" / "00_baseline.sql"
CONTRACT = {
    "kg_auth.users", "kg_auth.groups", "kg_auth.user_groups", "kg_auth.oauth_clients",
    "kg_auth.roles", "kg_api.system_api_keys", "kg_api.ai_extraction_config",
    "kg_api.embedding_profile", "kg_api.provider_model_catalog", "kg_api.platform_config",
    "public.schema_migrations",
}  # fmt: skip


def twin(dsn: str) -> str:
    base, name = dsn.rsplit("/", 1)
    execute(base + "/postgres", f'CREATE DATABASE "{name}_baseline"')
    return f"{base}/{name}_baseline"


def drop(dsn: str) -> None:
    base, name = dsn.rsplit("/", 1)
    execute(base + "/postgres", f'DROP DATABASE "{name}" WITH (FORCE)')


def behaviour(dsn: str) -> list[object]:
    """The platform's functions at work: flags read and written, a user's groups."""
    execute(dsn, "SELECT kg_api.set_platform_config('registration_enabled', 'false', 'operator');"
                 "SELECT kg_api.set_platform_config('brand_new', 'x')")  # fmt: skip
    rows = fetch(
        dsn,
        "SELECT kg_api.get_platform_config('registration_enabled') AS a, "
        "kg_api.get_platform_config('brand_new') AS b, "
        "kg_api.get_platform_config('nothing') AS c, "
        "(SELECT updated_by FROM kg_api.platform_config WHERE key = 'brand_new') AS d, "
        "(SELECT array_agg(group_name ORDER BY group_name) FROM kg_auth.get_user_groups(1000)) "
        "AS e, (SELECT array_agg(group_name) FROM kg_auth.get_user_groups(42)) AS f",
    )
    execute(dsn, "UPDATE kg_api.embedding_profile SET device = 'mps' WHERE id = 2; "
                 "UPDATE kg_api.ai_extraction_config SET max_tokens = 1 WHERE id = 1")  # fmt: skip
    stamped = fetch(
        dsn,
        "SELECT (SELECT updated_at > created_at FROM kg_api.embedding_profile WHERE id = 2) AS g, "
        "(SELECT updated_at > created_at FROM kg_api.ai_extraction_config WHERE id = 1) AS h",
    )
    return [*rows[0].values(), *stamped[0].values()]


def test_the_packaged_schema_is_a_subset_of_the_0171_baseline(
    tmp_path: Path, postgres: str
) -> None:
    done = run_kgop("migrate", "up", env=kgop_env(tmp_path, KGOP_DATABASE_URL=postgres))
    assert done.returncode == 0, done.stderr
    baseline = twin(postgres)
    try:
        load_platform_baseline(baseline, "0.17.1")
        mine, theirs = declared(postgres), declared(baseline)
        assert set(mine["tables"]) == CONTRACT  # exactly the contract's tables
        assert differences(mine, theirs) == []
        # Seed rows: the contract's are all there (no subset of a table's rows is kept).
        for table in CONTRACT:
            assert mine["tables"][table]["rows"] == theirs["tables"][table]["rows"], table
        assert behaviour(postgres) == behaviour(baseline)
        # The graph the platform's api pings in its /health, as the baseline makes it.
        graph = "SELECT name, namespace::text AS ns FROM ag_catalog.ag_graph ORDER BY 1"
        assert (
            fetch(postgres, graph)
            == fetch(baseline, graph)
            == [{"name": "knowledge_graph", "ns": "knowledge_graph"}]
        )
    finally:
        drop(baseline)


def test_the_comparison_sees_a_difference(tmp_path: Path, postgres: str) -> None:
    """A changed column, constraint or seed row is caught (the comparison is not vacuous)."""
    done = run_kgop("migrate", "up", env=kgop_env(tmp_path, KGOP_DATABASE_URL=postgres))
    assert done.returncode == 0, done.stderr
    pristine = declared(postgres)
    execute(
        postgres,
        "ALTER TABLE kg_api.system_api_keys ALTER COLUMN provider TYPE varchar(60); "
        "ALTER TABLE kg_auth.users DROP CONSTRAINT users_username_key; "
        "UPDATE kg_api.platform_config SET value = 'false' WHERE key = 'registration_enabled'",
    )
    found = differences(declared(postgres), pristine)
    assert any(d.startswith("kg_api.system_api_keys columns") for d in found)
    assert any(d.startswith("kg_auth.users constraints") for d in found)
    assert any(d.startswith("kg_api.platform_config rows") for d in found)
