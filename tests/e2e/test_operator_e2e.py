"""From an empty KG_HOME to a healthy platform and back, through operator.sh only: the
platform's newest release, its own api and web."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime

import aiohttp

from tests.support.helpers import fetch
from tests.support.platform_api import BASELINE_REDIRECT, health, http, login
from tests.support.stack import Stack, Tmux, stack_dsn

# A warm migration (it needs the running application): kgop start applies it once api is
# healthy. It records when it ran, to compare with when api first answered healthy.
WARM = """-- Migration: 100_warm_probe
BEGIN;
CREATE TABLE IF NOT EXISTS public.warm_probe (at timestamptz NOT NULL DEFAULT clock_timestamp());
INSERT INTO public.warm_probe DEFAULT VALUES;
INSERT INTO public.schema_migrations (version, name) VALUES (100, 'warm_probe')
ON CONFLICT (version) DO NOTHING;
COMMIT;
"""


def healthy(stack: Stack, services: list[str]) -> bool:
    out = stack.compose("ps", "--format", "json").stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    if rows and isinstance(rows[0], list):
        rows = rows[0]
    state = {r["Service"]: (r.get("Health") or r.get("State")) for r in rows}
    return all(state.get(s) in ("healthy", "running") for s in services)


def api_started_at(stack: Stack) -> datetime:
    """When the api's server was up, by the engine's timestamp of uvicorn's line saying so."""
    lines = subprocess.run(
        ["docker", "logs", "--timestamps", f"{stack.project}-api-1"],
        env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    logs = lines.stdout + lines.stderr
    found = re.search(r"^(\S+) .*Application startup complete", logs, re.M)
    assert found, logs[-2000:]
    # The engine's RFC 3339 with nanoseconds: microseconds for fromisoformat.
    stamp = re.sub(r"\.(\d{6})\d*", r".\1", found.group(1)).replace("Z", "+00:00")
    return datetime.fromisoformat(stamp)


def test_the_whole_chain(stack: Stack) -> None:
    # Garage (here its stand-in, which refuses to start without it as the real image does)
    # gets its configuration file from start-infra; an existing install has none yet.
    garage_toml = stack.home / "garage" / "garage.toml"
    assert not garage_toml.exists()
    (stack.home / "sql" / "migrations-warm").mkdir(exist_ok=True)  # the release has one
    (stack.home / "sql" / "migrations-warm" / "100_warm_probe.sql").write_text(WARM)
    infra = stack.shim("start-infra")
    assert infra.returncode == 0, infra.stderr
    assert healthy(stack, ["postgres", "garage", "operator"])
    assert garage_toml.is_file()

    started = stack.shim("start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "[2/6] migrations" in started.stdout
    assert "[3/6] object store ... layout assigned, bucket kg-storage created" in started.stdout
    assert re.search(r"\[6/6\] warm migrations \.\.\. [1-9]\d* applied", started.stdout)
    assert "The platform is up" in started.stdout
    assert healthy(stack, ["postgres", "garage", "operator", "api", "web"])
    api = f"http://127.0.0.1:{stack.ports['API']}"
    answer = health(api)  # the platform's own: its database and Garage (kgop's garage init)
    assert answer["status"] == "healthy", answer
    warm_at = fetch(stack_dsn(stack), "SELECT at FROM public.warm_probe")
    assert len(warm_at) == 1
    assert warm_at[0]["at"] > api_started_at(stack)
    again = stack.shim("start")
    assert again.returncode == 0, again.stderr  # idempotent
    assert "0 applied" in again.stdout
    assert "already set up" in again.stdout
    garage = stack.shim("garage", "status")
    assert garage.returncode == 0, garage.stderr
    assert "bucket: present; key: present" in garage.stdout

    operator_id = stack.compose("ps", "-q", "operator").stdout.strip()
    assert operator_id
    tmux = Tmux(stack)
    try:
        tmux.send("./operator.sh", "Enter")
        tmux.wait(
            lambda s: "Health" in s and "postgres" in s and "web" in s and "api" in s,
            "the health screen listing the services",
        )
        tmux.send("2")
        # The platform's api logs no /health (its logging_config.py filters polling paths):
        # a request of its own, seen live on the logs screen.
        http(f"{api}/kgop-e2e-probe")
        tmux.wait(lambda s: "kgop-e2e-probe" in s, "api lines on the logs screen")
        tmux.send("q")
        deadline = time.monotonic() + 30
        while tmux.command().strip() != "bash":
            assert time.monotonic() < deadline, "the TUI did not return to the shell"
            time.sleep(0.2)
    finally:
        tmux.close()
    # Nothing changed: the first session leaves the operator container as it was.
    assert stack.compose("ps", "-q", "operator").stdout.strip() == operator_id

    status = subprocess.run(
        f"{stack.home}/operator.sh status | cat",
        shell=True,
        cwd=stack.home,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    for service in ("postgres", "garage", "operator", "api", "web"):
        assert service in status.stdout

    admin = stack.shim("admin", "--password-stdin", stdin="e2e admin password\n")
    assert admin.returncode == 0, admin.stderr
    # install.sh set the seeded admin's password already; this sets it again, role kept.
    assert "Set the password of 'admin' (role platform_admin, unchanged)" in admin.stdout
    status, body = login(api, "admin", "e2e admin password", BASELINE_REDIRECT)
    assert status == 200, body  # through the platform's own login, as kg-web does
    config = stack.shim("configure", "status", "--json")
    assert config.returncode == 0, config.stderr
    assert [a["username"] for a in json.loads(config.stdout)["admins"]] == ["admin"]
    assert "e2e admin password" not in config.stdout + admin.stdout + admin.stderr

    plain = stack.shim()
    assert plain.returncode == 0
    assert "Host verbs" in plain.stdout

    # A delegated verb starts the operator container when it is down.
    assert stack.compose("stop", "operator").returncode == 0
    migrations = stack.shim("migrate", "status", "--json")
    assert migrations.returncode == 0, migrations.stderr
    assert "Starting the operator container" in migrations.stderr
    assert json.loads(migrations.stdout)["current_version"] >= 8

    stopped = stack.shim("stop")
    assert stopped.returncode == 0, stopped.stderr
    refused = stack.shim("teardown", "--volumes")
    assert refused.returncode == 4
    gone = stack.shim("teardown", "--volumes", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert stack.compose("ps", "-a", "-q").stdout.strip() == ""
    assert (stack.home / ".env").exists()


def test_shim_without_docker_says_so(stack: Stack) -> None:
    env = {**stack.env, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    done = subprocess.run(
        [str(stack.home / "operator.sh"), "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert "cannot reach the Docker daemon" in done.stderr


def probe_compose_network(stack: Stack, port: int) -> str:
    """From a container on the project's network: each address tried and whether it answers
    on ``port`` (the gateway is the host itself; then every container on the network, and
    the serving container's name); postgres:5432 as the probe's own control."""
    network = f"{stack.project}_default"
    gateway = docker(stack, "network", "inspect", "-f",
                     "{{range .IPAM.Config}}{{.Gateway}} {{end}}", network)  # fmt: skip
    members = docker(stack, "network", "inspect", "-f",
                     "{{range .Containers}}{{.IPv4Address}} {{end}}", network)  # fmt: skip
    serving = docker(stack, "ps", "-q", "--filter", f"name={stack.project}-operator-serve")
    names = docker(stack, "inspect", "-f", "{{.Name}}", *serving.split()).replace("/", "")
    targets = [*gateway.split(), *(m.split("/")[0] for m in members.split()), *names.split()]
    script = (
        'try() { if timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; '
        'then echo "$1:$2 answers"; else echo "$1:$2 silent"; fi; }; try postgres 5432; '
        + " ".join(f"try {t} {port};" for t in targets)
    )
    base = os.environ.get("KGOP_BASE_IMAGE", "kgop-base:bookworm")
    return docker(stack, "run", "--rm", "--network", network, base, "bash", "-c", script)


def docker(stack: Stack, *args: str) -> str:
    done = subprocess.run(["docker", *args], env=stack.env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_serve_through_the_shim_is_on_the_hosts_loopback_only(stack: Stack) -> None:
    """`./operator.sh serve`: kgop serve in a one-off operator container on the host's
    network, listening on the host's loopback only: nothing of it on the compose network
    (where api, web, Garage and Postgres are). The printed URL logs a browser in; kgop inside
    reaches Postgres and Garage through the ports published on the host. Ctrl+C (SIGINT)
    ends it and removes the container."""
    from tests.integration.test_serve import answers, listening_addresses
    from tests.support.engines import free_port, wait_for
    from tests.support.serve import Output, first_screen, log_in, shows

    infra = stack.shim("start-infra")  # the compose network, with Postgres and Garage on it
    assert infra.returncode == 0, infra.stderr
    port = free_port()
    server = subprocess.Popen(
        [str(stack.home / "operator.sh"), "serve", "--port", str(port)],
        cwd=stack.home, env=stack.env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    output = Output(server)
    try:
        url, token = output.login(120)
        assert url == f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(url) or server.poll() is not None, 120, "operator.sh serve")
        assert server.poll() is None, output.text
        assert listening_addresses(port) == {"127.0.0.1"}
        ports = stack.ports
        assert f"postgres at 127.0.0.1:{ports['POSTGRES']}" in output.text
        assert f"garage at 127.0.0.1:{ports['GARAGE_ADMIN']}" in output.text

        async def browse() -> None:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{url}/") as refused:
                    assert refused.status == 401
                cookie = await log_in(session, url, token)
                async with session.get(f"{url}/", headers={"Cookie": cookie}) as page:
                    assert f"ws://127.0.0.1:{port}/ws" in await page.text()
                headers = {"Cookie": cookie, "Origin": url}
                ws_url = f"ws://127.0.0.1:{port}/ws?width=120&height=36"
                async with session.ws_connect(ws_url, headers=headers) as ws:
                    assert await first_screen(ws)
                    await ws.send_json(["stdin", "3"])  # Migrations: read from Postgres
                    assert await shows(ws, "Database at version")

        asyncio.run(browse())
        serving = docker(stack, "ps", "-q", "--filter", f"name={stack.project}-operator-serve")
        kept = subprocess.run(["docker", "logs", serving], env=stack.env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert token not in kept.stdout + kept.stderr  # the engine keeps no log of the URL
        probed = probe_compose_network(stack, port)
        assert "postgres:5432 answers" in probed  # the probe reaches what is there
        assert f"{port} answers" not in probed, probed
        assert probed.count(f"{port} silent") >= 3, probed  # gateway, postgres, garage at least
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl+C: the whole foreground process group
        text = output.finish(60)
    assert "read-only" in text
    assert text.count(token) == 1
    left = docker(stack, "ps", "-aq", "--filter", f"name={stack.project}-operator-serve")
    assert left == ""  # the serving container is gone with it
