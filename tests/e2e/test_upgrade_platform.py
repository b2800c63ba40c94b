"""The platform's real upgrade path through operator.sh: a stack installed at 0.14.0 (its
schema, on the AGE Postgres) holding a graph, users and stored keys, upgraded with
``kgop upgrade`` to 0.16.0 (five migrations) and then to 0.17.1 (a checkpoint baseline whose
migrations are in ``archived/``). Each step reads the target's schema out of the target's
api image (``/app/schema``); the data is the same after each.

The seed writes users and keys as the platform's own operator does
(``operator/configure.py``: ``INSERT INTO kg_auth.users (username, password_hash,
primary_role, disabled)``, membership of group 2, ``admins``; its api's
``lib/encrypted_keys.py`` stores a Fernet token of the key under ``ENCRYPTION_KEY``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from cryptography.fernet import Fernet

from tests.e2e.upgrades import admin_password, serves, upgrade_status
from tests.support.helpers import execute, fetch
from tests.support.platform_api import stored_key_sql
from tests.support.platform_db import add_graph, cypher
from tests.support.stack import (
    Stack,
    UpgradeSite,
    env_values,
    kgop_version,
    platform_stack,
    stack_dsn,
)

KEYS = {"openai": "sk-test-openai-0123456789", "anthropic": "sk-ant-test-9876543210"}


def seed(stack: Stack) -> str:
    """Users, group memberships and stored keys as the platform writes them; a graph."""
    dsn = stack_dsn(stack)
    hashed = "$2b$12$" + "a" * 53  # the shape of passlib's bcrypt hash; never checked here
    users = "".join(
        f"INSERT INTO kg_auth.users (username, password_hash, primary_role, disabled) "
        f"VALUES ('{name}', '{hashed}', '{role}', false);"
        for name, role in (("ops", "admin"), ("reader", "read_only"), ("curator1", "curator"))
    )
    groups = (
        "INSERT INTO kg_auth.user_groups (user_id, group_id, added_by) "
        "SELECT id, 2, 1 FROM kg_auth.users WHERE username = 'ops' "
        "ON CONFLICT (user_id, group_id) DO NOTHING;"
    )
    encryption_key = env_values(stack.home)["ENCRYPTION_KEY"]
    keys = "".join(stored_key_sql(encryption_key, p, key) for p, key in KEYS.items())
    execute(dsn, users + groups + keys)
    add_graph(dsn, 40)
    return dsn


def snapshot(dsn: str) -> dict[str, Any]:
    """What a user of the platform would miss: the graph, the users, the stored keys."""
    vertices = cypher(dsn, "MATCH (v) RETURN id(v), label(v), properties(v)", "i", "l", "p")
    edges = cypher(
        dsn,
        "MATCH (a)-[e]->(b) RETURN id(e), type(e), id(a), id(b), properties(e)",
        "i", "t", "a", "b", "p",
    )  # fmt: skip
    return {
        "vertices": {v["i"]: (v["l"], v["p"]) for v in vertices},
        "edges": {e["i"]: (e["t"], e["a"], e["b"], e["p"]) for e in edges},
        "users": fetch(
            dsn,
            "SELECT u.id, u.username, u.password_hash, u.primary_role, u.disabled, "
            "array_agg(g.group_id ORDER BY g.group_id) FILTER (WHERE g.group_id IS NOT NULL) "
            "AS groups FROM kg_auth.users u LEFT JOIN kg_auth.user_groups g ON g.user_id = u.id "
            "GROUP BY u.id ORDER BY u.id",
        ),
        "keys": fetch(
            dsn,
            "SELECT provider, encrypted_key FROM kg_api.system_api_keys ORDER BY provider",
        ),
    }


def assert_kept(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Every vertex and edge of before, with its label and properties, is still there (a
    release's migrations may add their own, such as 0.16.0's seeded ontology); the users and
    the stored keys are the same."""
    for kind in ("vertices", "edges"):
        lost = {k: v for k, v in before[kind].items() if after[kind].get(k) != v}
        assert lost == {}, f"{len(lost)} {kind} lost or changed"
    assert after["users"] == before["users"]
    assert after["keys"] == before["keys"]


def added(old: dict[str, Any], new: dict[str, Any], kind: str) -> dict[str, int]:
    """Per label, how many vertices (or edges) ``new`` has that ``old`` has not."""
    found: dict[str, int] = {}
    for key, value in new[kind].items():
        if key not in old[kind]:
            found[value[0]] = found.get(value[0], 0) + 1
    return found


def stored_keys(stack: Stack, dsn: str) -> dict[str, str]:
    """The stored keys, decrypted as the platform's api decrypts them."""
    fernet = Fernet(env_values(stack.home)["ENCRYPTION_KEY"].encode())
    rows = fetch(dsn, "SELECT provider, encrypted_key FROM kg_api.system_api_keys")
    return {
        str(r["provider"]): fernet.decrypt(bytes(r["encrypted_key"])).decode()
        for r in rows
        if r["provider"] in KEYS
    }


def migrate_status(stack: Stack) -> dict[str, Any]:
    done = stack.shim("migrate", "status", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout))


def assert_clean(status: dict[str, Any], version: int) -> None:
    """No drift, nothing pending outside the warm folder, the database at ``version``."""
    assert status["current_version"] == version, status
    problems = [
        m
        for m in status["entries"]
        if m["state"] in ("drifted", "missing")
        or (m["state"] == "pending" and m.get("source") != "warm")
    ]
    assert problems == [], problems


def pending(stack: Stack, version: str) -> list[int]:
    """The migrations an upgrade to ``version`` would apply (its dry run)."""
    dry = stack.shim("upgrade", "--to", version, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    lines = [line.split("would apply ", 1)[1] for line in dry.stdout.splitlines()
             if "would apply " in line]  # fmt: skip
    return [int(line.split("_", 1)[0]) for line in lines]


def upgrade(stack: Stack, version: str) -> tuple[str, float]:
    started = time.monotonic()
    done = stack.shim("upgrade", "--to", version, "--yes", timeout=900)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "succeeded" in done.stdout
    status = upgrade_status(stack)
    assert status["state"] == "succeeded", status
    return done.stdout, took


def test_the_platform_upgrades_0_14_to_0_16_to_0_17_1_keeping_its_data(
    site: UpgradeSite,
) -> None:
    stack = platform_stack(site, "0.14.0")
    password = admin_password(stack)
    serves(stack, "0.14.0", password)
    platform_owned = snapshot(stack_dsn(stack))  # what 0.14.0's own migrations put there
    dsn = seed(stack)
    before = snapshot(dsn)
    assert added(platform_owned, before, "vertices") == {
        "Source": 40, "Instance": 120, "Concept": 120,
    }  # fmt: skip
    assert added(platform_owned, before, "edges") == {
        "FROM_SOURCE": 120, "EVIDENCED_BY": 120, "APPEARS": 120,
    }  # fmt: skip
    assert stored_keys(stack, dsn) == KEYS
    assert_clean(migrate_status(stack), 73)

    # A version this kgop does not list: no operator is known for it, nothing is tried.
    unknown = stack.shim("upgrade", "--to", "0.18.0", "--dry-run")
    assert unknown.returncode == 4, unknown.stdout + unknown.stderr
    assert (
        f"This kgop ({kgop_version()}) knows the platform's releases up to 0.17.1, not 0.18.0"
        in (unknown.stderr)
    )
    assert pending(stack, "0.16.0") == [74, 75, 76, 77, 78]

    out, first = upgrade(stack, "0.16.0")
    assert "schema of 0.16.0 read from kg-api:0.16.0 (/app/schema)" in out
    serves(stack, "0.16.0", password)
    assert_kept(before, snapshot(dsn))
    assert stored_keys(stack, dsn) == KEYS
    assert_clean(migrate_status(stack), 78)
    recorded = fetch(dsn, "SELECT count(*) AS n FROM public.schema_migrations")[0]["n"]

    # The checkpoint: only 079 and 080, from archived/; nothing before them again.
    assert pending(stack, "0.17.1") == [79, 80]
    out, second = upgrade(stack, "0.17.1")
    assert "schema of 0.17.1 read from kg-api:0.17.1 (/app/schema)" in out
    serves(stack, "0.17.1", password)
    assert_kept(before, snapshot(dsn))
    assert stored_keys(stack, dsn) == KEYS
    status = migrate_status(stack)
    assert_clean(status, 80)
    assert fetch(dsn, "SELECT count(*) AS n FROM public.schema_migrations")[0]["n"] == recorded + 2
    assert pending(stack, "0.17.1") == []
    assert (stack.home / "sql" / "migrations" / "archived").is_dir()
    env = env_values(stack.home)
    assert env["KG_VERSION"] == "0.17.1"
    assert env["KG_API_IMAGE"] == "kg-api:0.17.1"
    assert env["KG_OPERATOR_IMAGE"] == f"kg-operator:{kgop_version()}"  # kgop's, kept
    print(f"\nupgrade 0.14.0 → 0.16.0: {first:.1f} s; 0.16.0 → 0.17.1: {second:.1f} s")
