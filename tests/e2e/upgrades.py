"""What the upgrade tests share: seeded data, a downtime probe, the status, a detached run."""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
import uuid
from typing import Any

from tests.support.engines import wait_for
from tests.support.helpers import execute, fetch
from tests.support.platform_api import BASELINE_REDIRECT, health, login, running_version
from tests.support.stack import Stack, UpgradeSite, get_json, releases, stack_dsn

SEED = (
    "INSERT INTO kg_api.platform_config (key, value) "
    "SELECT 'setting_' || n, n::text FROM generate_series(1, 200) n;"
)
NEW_MIGRATION = "0079_search_default_threshold"
"""The first migration between the previous release (0.17.0) and the newest (0.17.1), from
the 0.17.1 checkpoint's ``archived/``: it adds a row to ``kg_api.platform_config``."""
NEW_FILE = "archived/079_search_default_threshold.sql"


def platform_rows(dsn: str) -> list[dict[str, object]]:
    """The rows the seed wrote (the platform's own rows change with its migrations)."""
    return fetch(
        dsn,
        "SELECT key, value::text FROM kg_api.platform_config WHERE key LIKE 'setting_%' "
        "ORDER BY key",
    )


def newest_schema_applied(dsn: str) -> bool:
    """The newest release's migrations ran (079's row is there)."""
    rows = fetch(
        dsn,
        "SELECT count(*) AS n FROM kg_api.platform_config "
        "WHERE key = 'search_default_similarity_threshold'",
    )
    return bool(rows[0]["n"])


class Probe:
    """Polls the api's /health; reports the intervals it was down.

    A sample is True (200), False (refused, reset, or an answer other than 200: the api is
    down) or None (no answer within the timeout: on a busy machine a slow answer, which is
    neither). Only refusals make an outage; a slow sample neither starts nor ends one.
    """

    def __init__(self, port: int, timeout: float = 2.0) -> None:
        self.url = f"http://127.0.0.1:{port}/health"
        self.timeout = timeout
        self.samples: list[tuple[float, bool | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> bool | None:
        try:
            return get_json(self.url, timeout=self.timeout)[0] == 200
        except TimeoutError:
            return None
        except OSError as exc:  # urllib wraps a timeout in URLError
            return None if isinstance(getattr(exc, "reason", None), TimeoutError) else False
        except ValueError:  # an answer that is not the api's JSON
            return False

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self._sample()))
            self._stop.wait(0.05)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def slow(self) -> int:
        """Samples that got no answer in time."""
        return sum(1 for _, ok in self.samples if ok is None)

    def outages(self) -> list[float]:
        spans, down_since = [], None
        for at, ok in self.samples:
            if ok is False and down_since is None:
                down_since = at
            elif ok is True and down_since is not None:
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


def seeded(stack: Stack, extra_sql: str = "") -> tuple[str, list[dict[str, object]]]:
    """The stack's DSN, after writing the seed rows; the rows as they are now."""
    dsn = stack_dsn(stack)
    execute(dsn, SEED + extra_sql)
    return dsn, platform_rows(dsn)


def api_release_pair(site: UpgradeSite, prefix: str, *newest: str, reference: bool = True) -> str:
    """Both releases' api under ``prefix/`` (the newest built with ``newest`` lines); the
    previous one's reference, to install.

    ``reference``: the reference stand-in as those releases (reference/kg-api:RELEASE, which
    scripts/test.sh builds), for an api the platform's own never is: one that is never
    healthy (KG_FAIL_HEALTH) or slow to start (KG_START_DELAY). Otherwise the platform's own
    api images."""
    latest, previous, _ = releases()
    source = "reference/kg-api" if reference else "kg-api"
    tag = f"{prefix}{uuid.uuid4().hex[:6]}"
    site.image(f"{source}:{latest}", f"{tag}/kg-api:{latest}", *newest)
    return site.image(f"{source}:{previous}", f"{tag}/kg-api:{previous}")


def admin_password(stack: Stack) -> str:
    """A new password of the platform's seeded admin, set through operator.sh admin."""
    password = secrets.token_urlsafe(16)
    done = stack.shim("admin", "--password-stdin", stdin=password + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    return password


def serves(stack: Stack, version: str, password: str) -> None:
    """The platform's own api and web of ``version`` run: the api healthy by its own /health
    (database and Garage), and the admin logs in through it as kg-web does."""
    for service in ("api", "web"):
        assert running_version(stack.env, f"{stack.project}-{service}-1") == version, service
    api = f"http://127.0.0.1:{stack.ports['API']}"
    answer = health(api)
    assert answer["status"] == "healthy", answer
    status, body = login(api, "admin", password, BASELINE_REDIRECT)
    assert status == 200, body


def api_version(stack: Stack) -> str:
    """The release the running api container is."""
    return running_version(stack.env, f"{stack.project}-api-1")


def step_states(status: dict[str, Any]) -> dict[str, str]:
    return {s["key"]: s["state"] for s in status["steps"]}


def start_upgrade(stack: Stack, **streams: Any) -> subprocess.Popen[str]:
    """``operator.sh upgrade --to NEWEST --yes`` in the background, in its own session."""
    options: dict[str, Any] = {
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "start_new_session": True,
    }
    return subprocess.Popen(
        [str(stack.home / "operator.sh"), "upgrade", "--to", releases()[0], "--yes"],
        cwd=stack.home,
        env=stack.env,
        stdin=subprocess.DEVNULL,
        text=True,
        **(options | streams),
    )


def wait_for_step(
    stack: Stack, key: str, state: str, session: subprocess.Popen[str] | None = None
) -> dict[str, Any]:
    """The status file once step ``key`` is in ``state`` (with ``session`` still running)."""
    status_file = stack.home / "upgrade" / "status.json"
    seen: dict[str, Any] = {}

    def reached() -> bool:
        if session is not None:
            assert session.poll() is None, f"the session ended before step {key} was {state}"
        if not status_file.exists():
            return False
        seen.update(json.loads(status_file.read_text()))
        return step_states(seen).get(key) == state

    wait_for(reached, 300, f"step {key} {state}")
    return seen
