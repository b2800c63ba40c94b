"""Upgrades through operator.sh on real images: the previous release → the newest.

The api's downtime is measured from outside, as a user's monitoring would see it: a probe
of /health every 50 ms for the whole upgrade.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid

from tests.e2e.conftest import Site, Stack, env_values, get_json, releases, stack_dsn
from tests.helpers import execute, fetch

SEED = (
    "INSERT INTO kg_api.platform_config (key, value) "
    "SELECT 'setting_' || n, to_jsonb(n) FROM generate_series(1, 200) n;"
)


def platform_rows(dsn: str) -> list[dict[str, object]]:
    return fetch(dsn, "SELECT key, value::text FROM kg_api.platform_config ORDER BY key")


class Probe:
    """Polls the api's /health; reports the intervals it was down."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/health"
        self.samples: list[tuple[float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ok = get_json(self.url, timeout=1)[0] == 200
            except OSError:
                ok = False
            self.samples.append((time.monotonic(), ok))
            self._stop.wait(0.05)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def outages(self) -> list[float]:
        spans, down_since = [], None
        for at, ok in self.samples:
            if not ok and down_since is None:
                down_since = at
            elif ok and down_since is not None:
                spans.append(at - down_since)
                down_since = None
        if down_since is not None:
            spans.append(float("inf"))
        return spans


def upgrade_status(stack: Stack) -> dict[str, object]:
    done = stack.shim("upgrade", "--status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def operator_image(stack: Stack) -> str:
    done = stack.compose("ps", "--format", "json", "operator")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    if len(rows) == 1 and isinstance(rows[0], list):
        rows = rows[0]
    return str(rows[0]["Image"])


def test_upgrade_keeps_the_data_and_stops_the_api_once(site: Site) -> None:
    newest, previous, _ = releases()
    stack = site.install(tls=True)
    dsn = stack_dsn(stack)
    execute(dsn, SEED)
    before = platform_rows(dsn)
    api = f"http://127.0.0.1:{stack.ports['API']}"
    front = f"https://127.0.0.1:{stack.ports['HTTPS']}/api"
    assert get_json(api + "/version")[1]["version"] == previous
    assert get_json(front + "/version")[1]["version"] == previous

    dry = stack.shim("upgrade", "--to", newest, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"version {previous} → {newest}" in dry.stdout
    assert "would apply 0009_ingestion_jobs ok" in dry.stdout
    assert fetch(dsn, "SELECT to_regclass('kg_api.ingestion_jobs') AS t")[0]["t"] is None

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
    assert len(outages) == 1, outages
    assert probe.samples[0][1]
    assert probe.samples[-1][1]
    status = upgrade_status(stack)
    assert status["state"] == "succeeded"
    print(
        f"\nupgrade {previous} → {newest}: {took:.1f} s through operator.sh; api down "
        f"{outages[0]:.2f} s (probe), {status['api_downtime_seconds']} s (kgop)"
    )

    assert get_json(api + "/version")[1]["version"] == newest
    # Through the TLS front too: nginx was reloaded onto the new containers.
    assert get_json(front + "/version")[1]["version"] == newest
    assert "nginx reloaded" in done.stdout
    assert platform_rows(dsn) == before
    assert fetch(dsn, "SELECT max(version) AS v FROM public.schema_migrations")[0]["v"] == 9
    env = env_values(stack.home)
    assert env["KG_VERSION"] == newest
    assert env["KG_API_IMAGE"] == f"kg-api:{newest}"
    assert (stack.home / "sql" / "migrations" / "0009_ingestion_jobs.sql").exists()
    backup = stack.home / "backups" / str(status["backup"]).rsplit("/", 1)[-1]
    assert (backup / "database.dump").stat().st_size > 0
    # The shim moved the operator container to the new image once the upgrade was done.
    assert operator_image(stack) == f"kg-operator:{newest}"

    again = stack.shim("upgrade", "--to", newest, "--yes")
    assert again.returncode == 0, again.stderr
    assert f"already at {newest}" in again.stdout


def test_a_killed_session_does_not_stop_the_upgrade(site: Site) -> None:
    newest, previous, _ = releases()
    tag = f"kgslow{uuid.uuid4().hex[:6]}"
    # This build of the new api takes a while to come up: the session dies meanwhile.
    site.image(f"kg-api:{previous}", f"{tag}/kg-api:{previous}")
    site.image(f"kg-api:{newest}", f"{tag}/kg-api:{newest}", "ENV KG_START_DELAY=6")
    stack = site.install(api=f"{tag}/kg-api:{previous}")
    dsn = stack_dsn(stack)
    execute(dsn, SEED)
    before = platform_rows(dsn)

    session = subprocess.Popen(
        [str(stack.home / "operator.sh"), "upgrade", "--to", newest, "--yes"],
        cwd=stack.home,
        env=stack.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    status_file = stack.home / "upgrade" / "status.json"
    deadline = time.monotonic() + 300
    while True:
        state = json.loads(status_file.read_text()) if status_file.exists() else None
        steps = {s["key"]: s["state"] for s in state["steps"]} if state else {}
        if steps.get("health") == "running":
            break
        assert session.poll() is None, "the session ended before the health gate"
        assert time.monotonic() < deadline, f"no health step in time: {state}"
        time.sleep(0.1)
    os.killpg(session.pid, signal.SIGKILL)  # the SSH connection drops
    session.wait()

    deadline = time.monotonic() + 300
    while True:
        status = upgrade_status(stack)  # reattach, as the user would
        if status["state"] != "running":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status["state"] == "succeeded", status
    shown = stack.shim("upgrade", "--status")
    assert f"Upgrade {previous} → {newest}: succeeded" in shown.stdout
    assert "── point of no return ──" in shown.stdout
    api = f"http://127.0.0.1:{stack.ports['API']}"
    assert get_json(api + "/version")[1]["version"] == newest
    assert platform_rows(dsn) == before
    assert operator_image(stack) == f"kg-operator:{newest}"


def test_abort_before_the_point_of_no_return_changes_nothing(site: Site) -> None:
    newest, previous, _ = releases()
    stack = site.install()
    dsn = stack_dsn(stack)
    # Enough data that the backup takes a moment: the abort lands before anything stops.
    execute(
        dsn,
        SEED + "CREATE TABLE kg_api.bulk AS SELECT n, repeat(md5(n::text), 8) AS body "
        "FROM generate_series(1, 1000000) n;",
    )
    before = platform_rows(dsn)
    status_file = stack.home / "upgrade" / "status.json"
    with Probe(stack.ports["API"]) as probe:
        session = subprocess.Popen(
            [str(stack.home / "operator.sh"), "upgrade", "--to", newest, "--yes"],
            cwd=stack.home,
            env=stack.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not status_file.exists():
            assert session.poll() is None, session.communicate()
            assert time.monotonic() < deadline, "the upgrade did not start"
            time.sleep(0.05)
        abort = stack.shim("upgrade", "--abort")
        out, err = session.communicate(timeout=300)
    assert abort.returncode == 1, abort.stdout + abort.stderr  # it followed to the end
    assert "Abort requested" in abort.stdout
    assert session.returncode == 1, out + err
    status = upgrade_status(stack)
    assert status["state"] == "aborted"
    assert status["passed_point_of_no_return"] is False
    steps = {s["key"]: s["state"] for s in status["steps"]}
    assert steps["stop"] == steps["migrate"] == "skipped"
    assert probe.outages() == []  # the api never went down
    api = f"http://127.0.0.1:{stack.ports['API']}"
    assert get_json(api + "/version")[1]["version"] == previous
    assert env_values(stack.home)["KG_VERSION"] == previous
    assert platform_rows(dsn) == before
    assert fetch(dsn, "SELECT to_regclass('kg_api.ingestion_jobs') AS t")[0]["t"] is None
