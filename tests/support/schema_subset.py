"""What a database declares, object by object, to compare kgop's packaged schema (a subset
of the platform's 0.17.1 baseline) with the baseline itself.

``declared(dsn)`` describes every table, sequence and function of the platform's schemas
(``kg_api``, ``kg_auth``, ``public`` without extensions' objects) in the database at ``dsn``;
``differences(subset, baseline)`` lists, for each object the subset declares, how the
baseline's differs (or that the baseline lacks it). Seed rows are compared without the
times they were written at.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support.helpers import fetch

SCHEMAS = ["kg_api", "kg_auth", "public"]
TIMES = {"created_at", "updated_at", "added_at", "applied_at", "fetched_at", "last_login"}
_NOT_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"


def _tables(dsn: str) -> list[str]:
    rows = fetch(
        dsn,
        "SELECT n.nspname || '.' || c.relname AS t FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
        f"AND n.nspname = ANY($1::text[]) AND {_NOT_EXTENSION.format(oid='c.oid')} ORDER BY 1",
        SCHEMAS,
    )
    return [r["t"] for r in rows]


def _table(dsn: str, table: str) -> dict[str, Any]:
    schema, name = table.split(".")
    columns = fetch(
        dsn,
        "SELECT column_name, data_type, udt_name, character_maximum_length, numeric_precision, "
        "numeric_scale, is_nullable, column_default, ordinal_position "
        "FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
        "ORDER BY ordinal_position",
        schema,
        name,
    )
    constraints = fetch(
        dsn,
        "SELECT conname, contype::text, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = $1::regclass ORDER BY conname",
        table,
    )
    indexes = fetch(
        dsn,
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 "
        "ORDER BY indexname",
        schema,
        name,
    )
    triggers = fetch(
        dsn,
        "SELECT tgname, pg_get_triggerdef(oid) AS def FROM pg_trigger "
        "WHERE tgrelid = $1::regclass AND NOT tgisinternal ORDER BY tgname",
        table,
    )
    keep = [c["column_name"] for c in columns if c["column_name"] not in TIMES]
    rows = fetch(dsn, f"SELECT row_to_json(t)::text AS r FROM {table} t")
    seeds = sorted(
        json.dumps({k: v for k, v in json.loads(r["r"]).items() if k in keep}, sort_keys=True)
        for r in rows
    )
    return {
        "columns": columns,
        "constraints": constraints,
        "indexes": indexes,
        "triggers": triggers,
        "rows": seeds,
    }


def _sequences(dsn: str) -> dict[str, dict[str, Any]]:
    rows = fetch(
        dsn,
        "SELECT schemaname || '.' || sequencename AS s, data_type::text, start_value, "
        "min_value, max_value, increment_by, cycle, cache_size, last_value FROM pg_sequences "
        "WHERE schemaname = ANY($1::text[])",
        SCHEMAS,
    )
    owners = fetch(
        dsn,
        "SELECT s.relnamespace::regnamespace || '.' || s.relname AS s, "
        "d.refobjid::regclass::text || '.' || a.attname AS owner FROM pg_class s "
        "JOIN pg_depend d ON d.objid = s.oid AND d.deptype = 'a' "
        "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid "
        "WHERE s.relkind = 'S'",
    )
    owned = {r["s"]: r["owner"] for r in owners}
    return {r["s"]: {**r, "owned_by": owned.get(r["s"])} for r in rows}


def _functions(dsn: str) -> dict[str, dict[str, Any]]:
    rows = fetch(
        dsn,
        "SELECT n.nspname || '.' || p.proname || '(' || "
        "pg_get_function_identity_arguments(p.oid) || ')' AS f, "
        "pg_get_function_arguments(p.oid) AS arguments, "
        "pg_get_function_result(p.oid) AS result, l.lanname, p.provolatile::text, "
        "p.prosecdef, p.proretset, p.prokind::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang "
        f"WHERE n.nspname = ANY($1::text[]) AND {_NOT_EXTENSION.format(oid='p.oid')}",
        SCHEMAS,
    )
    return {r["f"]: r for r in rows}


def declared(dsn: str) -> dict[str, Any]:
    """Every table (with its seed rows), sequence and function of the platform's schemas."""
    return {
        "tables": {t: _table(dsn, t) for t in _tables(dsn)},
        "sequences": _sequences(dsn),
        "functions": _functions(dsn),
    }


def differences(subset: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """How the baseline differs in each object the subset declares (empty: a true subset)."""
    found: list[str] = []
    for kind in ("sequences", "functions"):
        for name, mine in subset[kind].items():
            theirs = baseline[kind].get(name)
            if theirs != mine:
                found.append(f"{kind[:-1]} {name}: subset {mine} / baseline {theirs}")
    for table, mine in subset["tables"].items():
        theirs = baseline["tables"].get(table)
        if theirs is None:
            found.append(f"table {table}: not in the baseline")
            continue
        for part in ("columns", "constraints", "indexes", "triggers"):
            if mine[part] != theirs[part]:
                extra = [x for x in mine[part] if x not in theirs[part]]
                lacking = [x for x in theirs[part] if x not in mine[part]]
                found.append(f"{table} {part}: only in subset {extra}; only in baseline {lacking}")
        unseeded = sorted(set(mine["rows"]) - set(theirs["rows"]))
        if unseeded:
            found.append(f"{table} rows not in the baseline: {unseeded}")
    return found
