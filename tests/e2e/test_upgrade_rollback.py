"""Upgrades that fail after the point of no return roll back by themselves."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from tests.e2e.upgrades import (
    NEW_FILE,
    admin_password,
    api_release_pair,
    api_version,
    newest_schema_applied,
    operator_image,
    platform_rows,
    seeded,
    serves,
    start_upgrade,
    step_states,
    upgrade_status,
    wait_for_step,
)
from tests.support.helpers import fetch
from tests.support.stack import Stack, UpgradeSite, env_values, get_json, kgop_version, releases


def assert_back_on_previous(stack: Stack, dsn: str, before: object, previous: str) -> None:
    api = f"http://127.0.0.1:{stack.ports['API']}"
    status, body = get_json(api + "/health")
    assert status == 200, body
    assert api_version(stack) == previous
    assert platform_rows(dsn) == before
    assert fetch(dsn, "SELECT max(version) AS v FROM public.schema_migrations")[0]["v"] == 78
    assert not newest_schema_applied(dsn)
    assert env_values(stack.home)["KG_VERSION"] == previous
    done = stack.shim("status", "--json")
    services = {s["service"]: s for s in json.loads(done.stdout)["services"]}
    assert services["api"]["health"] == "healthy"
    assert services["web"]["health"] == "healthy"


def test_an_api_that_never_gets_healthy_is_rolled_back(site: UpgradeSite) -> None:
    newest, previous, _ = releases()
    # The reference api (KG_FAIL_HEALTH): the platform's own is never deliberately unhealthy.
    api = api_release_pair(site, "kgsick", "ENV KG_FAIL_HEALTH=1")
    stack = site.install(api=api)
    dsn, before = seeded(stack)

    done = stack.shim("upgrade", "--to", newest, "--yes", "--health-timeout", "15", timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "rolled back" in done.stdout
    assert "api is not healthy after 15s" in done.stdout
    assert "Database restored from" in done.stdout
    status = upgrade_status(stack)
    assert status["state"] == "rolled back"
    steps = step_states(status)
    assert steps["migrate"] == "rolled back"
    assert steps["health"] == "rolled back"
    assert steps["rollback"] == "done"
    # The migration had run: the database came back from the backup, without 0009.
    assert_back_on_previous(stack, dsn, before, previous)
    assert env_values(stack.home)["KG_API_IMAGE"] == api
    assert operator_image(stack) == f"kg-operator:{kgop_version()}"
    # KG_HOME/sql is the previous release's schema again (0.17.0 has no archived/).
    assert not (stack.home / "sql" / "migrations" / NEW_FILE).exists()


def test_a_failing_migration_is_rolled_back(site: UpgradeSite, tmp_path: Path) -> None:
    newest, previous, _ = releases()
    # The new release's own api image, carrying a 079 that fails half-way through.
    api = api_release_pair(
        site,
        "kgbadmig",
        "RUN printf 'CREATE TABLE kg_api.upgrade_probe (id int);\\n"
        "INSERT INTO kg_api.no_such_table VALUES (1);\\n' "
        f"> /app/schema/migrations/{NEW_FILE}",
        reference=False,
    )
    stack = site.install(api=api)
    dsn, before = seeded(stack)
    password = admin_password(stack)

    done = stack.shim("upgrade", "--to", newest, "--yes", timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"Migration {NEW_FILE} failed at line 2" in done.stdout
    assert "no_such_table" in done.stdout
    status = upgrade_status(stack)
    assert status["state"] == "rolled back"
    steps = step_states(status)
    assert steps["migrate"] == "rolled back"
    assert steps["start"] == "skipped"
    assert_back_on_previous(stack, dsn, before, previous)
    assert fetch(dsn, "SELECT to_regclass('kg_api.upgrade_probe') AS t")[0]["t"] is None
    assert env_values(stack.home)["KG_API_IMAGE"] == api
    serves(stack, previous, password)  # the platform's api and web as before, login kept


def test_an_interrupted_upgrade_is_recovered(site: UpgradeSite) -> None:
    newest, previous, _ = releases()
    # The reference api (KG_START_DELAY): the upgrade must still be waiting for its health
    # when it is killed; the platform's own api starts in a few seconds.
    stack = site.install(api=api_release_pair(site, "kgcut", "ENV KG_START_DELAY=8"))
    dsn, before = seeded(stack)

    session = start_upgrade(stack)
    state = wait_for_step(stack, "health", "running")
    # The upgrade process itself dies (say, the operator container was restarted).
    pid = str(state["pid"])
    killed = site.docker("exec", f"{stack.project}-operator", "sh", "-c", f"kill -9 {pid}")
    assert killed.returncode == 0, killed.stderr
    os.killpg(session.pid, signal.SIGKILL)
    session.wait()

    status = upgrade_status(stack)
    assert status["state"] == "interrupted"
    assert "--recover" in status["hint"]
    refused = stack.shim("upgrade", "--recover")
    assert refused.returncode == 4, refused.stderr
    recovered = stack.shim("upgrade", "--recover", "--yes", timeout=600)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "rolled back" in recovered.stdout
    assert "Database restored from" in recovered.stdout
    assert_back_on_previous(stack, dsn, before, previous)
    assert operator_image(stack) == f"kg-operator:{kgop_version()}"
