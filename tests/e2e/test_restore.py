"""A restore keeps the platform up while the dump is restored; api is down only for the swap."""

from __future__ import annotations

import json
import time

from tests.e2e.upgrades import Probe, admin_password, platform_rows, seeded, serves
from tests.support.engines import wait_for
from tests.support.helpers import execute
from tests.support.stack import UpgradeSite, releases

# Enough data that pg_restore takes a while: the time the api must stay up through.
BULK = (
    "CREATE TABLE kg_api.bulk AS "
    "SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b FROM generate_series(1, 400000) g;"
    "CREATE INDEX ON kg_api.bulk (a); CREATE INDEX ON kg_api.bulk (b);"
)


def back_up(probe: Probe) -> bool:
    """The probe's newest sample found the api answering."""
    return bool(probe.samples) and probe.samples[-1][1] is True


def test_restore_downtime_is_one_stop_and_start_of_api(site: UpgradeSite) -> None:
    stack = site.install()
    port = stack.ports["API"]
    dsn, before = seeded(stack, BULK)
    password = admin_password(stack)
    made = stack.shim("backup", "--json", timeout=300)
    assert made.returncode == 0, made.stderr
    folder = json.loads(made.stdout)["path"]
    execute(dsn, "DELETE FROM kg_api.platform_config")
    assert platform_rows(dsn) == []

    # The reference: one stop and start of api, seen by the same probe.
    with Probe(port) as plain:
        assert stack.compose("stop", "api").returncode == 0
        assert stack.compose("up", "--detach", "--no-deps", "api").returncode == 0
        wait_for(lambda: back_up(plain), 120, "api back after a plain restart")
    reference = max(plain.outages())

    with Probe(port) as probe:
        began = time.monotonic()
        done = stack.shim("restore", folder, "--yes", "--json", timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        wait_for(lambda: back_up(probe), 60, "api after the restore")
    result = json.loads(done.stdout)
    outages = probe.outages()
    print(
        f"restore {result['seconds']:.1f} s; api down {max(outages):.2f} s "
        f"(kgop says {result['downtime_seconds']:.2f} s); one stop + start of api "
        f"{reference:.2f} s"
    )
    assert platform_rows(dsn) == before
    assert result["tables"]["kg_api.bulk"] == 400000
    assert len(outages) == 1  # one outage, not one per step
    assert max(outages) <= reference * 1.5 + 1.0
    # The safety backup and the restore aside ran while api served: it answered for a
    # while after the restore began, before its one outage.
    went_down = next(at for at, ok in probe.samples if at >= began and ok is False)
    served = [at for at, ok in probe.samples if began <= at < went_down and ok is True]
    assert served
    assert went_down - began >= 1.0
    serves(stack, releases()[1], password)  # the platform's own api, its login restored
