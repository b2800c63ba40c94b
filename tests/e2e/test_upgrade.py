"""Upgrades through operator.sh on real images: the previous release → the newest.

The api's downtime is measured from outside, as a user's monitoring would see it: a probe
of /health every 50 ms for the whole upgrade.
"""

from __future__ import annotations

import json
import os
import signal
import time
from subprocess import PIPE

from tests.e2e.upgrades import (
    NEW_FILE,
    NEW_MIGRATION,
    Probe,
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
from tests.support.engines import wait_for
from tests.support.helpers import fetch
from tests.support.stack import UpgradeSite, env_values, get_json, kgop_version, releases


def test_upgrade_keeps_the_data_and_stops_the_api_once(site: UpgradeSite) -> None:
    newest, previous, _ = releases()
    stack = site.install(tls=True)
    dsn, before = seeded(stack)
    password = admin_password(stack)
    front = f"https://127.0.0.1:{stack.ports['HTTPS']}/api"
    serves(stack, previous, password)
    assert get_json(front + "/health")[1]["status"] == "healthy"

    dry = stack.shim("upgrade", "--to", newest, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"version {previous} → {newest}" in dry.stdout
    assert f"would apply {NEW_MIGRATION} ok" in dry.stdout
    assert not newest_schema_applied(dsn)
    # The plan a read-only session (kgop serve) shows instead of running a preflight.
    stored = json.loads((stack.home / "upgrade" / "plan.json").read_text())
    assert (stored["plan"]["from_version"], stored["plan"]["to_version"]) == (previous, newest)

    no = stack.shim("upgrade", "--to", newest)
    assert no.returncode == 4, no.stderr
    assert "--yes" in no.stderr

    started = time.monotonic()
    with Probe(stack.ports["API"]) as probe:
        done = stack.shim("upgrade", "--to", newest, "--yes", timeout=600)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout

    # One stop and one start of the api: a single outage, and it is up at the end.
    outages = probe.outages()
    assert len(outages) == 1, (outages, f"{probe.slow} slow answers")
    assert probe.samples[0][1]
    assert probe.samples[-1][1]
    status = upgrade_status(stack)
    assert status["state"] == "succeeded"
    print(
        f"\nupgrade {previous} → {newest}: {took:.1f} s through operator.sh; api down "
        f"{outages[0]:.2f} s (probe), {status['api_downtime_seconds']} s (kgop)"
    )

    serves(stack, newest, password)  # the admin's login kept
    # Through the TLS front too: nginx was reloaded onto the new containers.
    assert get_json(front + "/health")[1]["status"] == "healthy"
    assert "nginx reloaded" in done.stdout
    assert platform_rows(dsn) == before
    assert fetch(dsn, "SELECT max(version) AS v FROM public.schema_migrations")[0]["v"] == 80
    assert newest_schema_applied(dsn)
    env = env_values(stack.home)
    assert env["KG_VERSION"] == newest
    assert env["KG_API_IMAGE"] == f"kg-api:{newest}"
    # KG_HOME/sql is the newest release's schema now, as its api image carries it.
    assert (stack.home / "sql" / "migrations" / NEW_FILE).exists()
    backup = stack.home / "backups" / str(status["backup"]).rsplit("/", 1)[-1]
    assert (backup / "database.dump").stat().st_size > 0
    # Both releases are operated by this kgop: its operator image stays.
    assert operator_image(stack) == f"kg-operator:{kgop_version()}"

    again = stack.shim("upgrade", "--to", newest, "--yes")
    assert again.returncode == 0, again.stderr
    assert f"already at {newest}" in again.stdout


def test_a_killed_session_does_not_stop_the_upgrade(site: UpgradeSite) -> None:
    newest, previous, _ = releases()
    # This build of the new api takes a while to come up: the session dies meanwhile. The
    # reference api (KG_START_DELAY): the platform's own starts in a few seconds, too soon.
    stack = site.install(api=api_release_pair(site, "kgslow", "ENV KG_START_DELAY=6"))
    dsn, before = seeded(stack)

    session = start_upgrade(stack)
    wait_for_step(stack, "health", "running", session)
    os.killpg(session.pid, signal.SIGKILL)  # the SSH connection drops
    session.wait()

    status: dict[str, object] = {}

    def finished() -> bool:
        status.update(upgrade_status(stack))  # reattach, as the user would
        return status["state"] != "running"

    wait_for(finished, 300, "the upgrade to finish", interval=0.5)
    assert status["state"] == "succeeded", status
    shown = stack.shim("upgrade", "--status")
    assert f"Upgrade {previous} → {newest}: succeeded" in shown.stdout
    assert "── point of no return ──" in shown.stdout
    assert api_version(stack) == newest
    assert platform_rows(dsn) == before
    assert operator_image(stack) == f"kg-operator:{kgop_version()}"


def test_abort_before_the_point_of_no_return_changes_nothing(site: UpgradeSite) -> None:
    newest, previous, _ = releases()
    stack = site.install()
    password = admin_password(stack)
    # Enough data that the backup takes a moment: the abort lands before anything stops.
    dsn, before = seeded(
        stack,
        "CREATE TABLE kg_api.bulk AS SELECT n, repeat(md5(n::text), 8) AS body "
        "FROM generate_series(1, 1000000) n;",
    )
    status_file = stack.home / "upgrade" / "status.json"
    with Probe(stack.ports["API"]) as probe:
        session = start_upgrade(stack, stdout=PIPE, stderr=PIPE, start_new_session=False)

        def started() -> bool:
            assert session.poll() is None, session.communicate()
            return status_file.exists()

        wait_for(started, 120, "the upgrade to start", interval=0.05)
        abort = stack.shim("upgrade", "--abort")
        out, err = session.communicate(timeout=300)
    assert abort.returncode == 1, abort.stdout + abort.stderr  # it followed to the end
    assert "Abort requested" in abort.stdout
    assert session.returncode == 1, out + err
    status = upgrade_status(stack)
    assert status["state"] == "aborted"
    assert status["passed_point_of_no_return"] is False
    steps = step_states(status)
    assert steps["stop"] == steps["migrate"] == "skipped"
    assert probe.outages() == []  # the api never went down
    serves(stack, previous, password)
    assert env_values(stack.home)["KG_VERSION"] == previous
    assert platform_rows(dsn) == before
    assert not newest_schema_applied(dsn)
