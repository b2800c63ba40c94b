"""The Docker engine service on the real engine: states, events, logs, lifecycle."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kgop_tui.models import ContainerState, Health, StatusUpdate
from kgop_tui.services.docker.docker_engine import DockerService
from kgop_tui.services.docker.events import ProjectWatcher
from kgop_tui.services.docker.logs import LogFollower, sort_key
from kgop_tui.settings import Settings, load_settings
from tests.support.engines import ComposeProject, DockerEngine, compose_project, wait_for
from tests.support.helpers import KGOP, kgop_env, run_kgop
from tests.support.proxy import EngineProxy

COMMON = "    stop_signal: SIGKILL\n    labels:\n      kgop.test: '1'\n"


def services(image: str) -> str:
    def svc(name: str, extra: str) -> str:
        return f"  {name}:\n    image: {image}\n{COMMON}{extra}"

    return (
        svc("good", "    command: [sleep, infinity]\n    healthcheck:\n"
            "      test: [CMD, 'true']\n      interval: 1s\n      retries: 1\n")
        + svc("sick", "    command: [sleep, infinity]\n    healthcheck:\n"
              "      test: [CMD-SHELL, 'echo probe says no; exit 4']\n"
              "      interval: 1s\n      retries: 1\n")
        + svc("flappy", "    command: [sh, -c, 'echo crashing; exit 1']\n"
              "    restart: always\n")
        + svc("alpha", "    command: [sh, -c, 'for i in 1 2 3 4 5; do echo alpha line $$i; "
              "echo alpha err $$i >&2; sleep 0.05; done; sleep infinity']\n")
        + svc("beta", "    command: [sh, -c, 'for i in 1 2 3 4 5; do echo beta line $$i; "
              "sleep 0.05; done; echo early; sleep 2; echo late; "
              "head -c 20000 /dev/zero | tr \"\\\\0\" x; echo; sleep infinity']\n")
        + svc("ticker", "    command: [sh, -c, 'run=$$(date +%s%N); i=0; while true; "
              "do i=$$((i+1)); echo tick $$run $$i; sleep 0.1; done']\n")
    )  # fmt: skip


@pytest.fixture(scope="module")
def project(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    home = tmp_path_factory.mktemp("kg-home")
    proj = compose_project(docker_engine, home, services(docker_engine.base_image))
    proj.compose("up", "-d")
    try:
        wait_for(lambda: proj.state("good") == ("running", "healthy"), 60, "good healthy")
        wait_for(lambda: proj.state("sick")[1] == "unhealthy", 60, "sick unhealthy")
        yield proj
    finally:
        proj.compose("down", "-v", "--remove-orphans")


@pytest.fixture
def settings(project: ComposeProject) -> Settings:
    return load_settings(kg_home=project.home, environ={})


def lines_of(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


# ---- states ------------------------------------------------------------------------------


def test_healthy_unhealthy_and_restarting_states(settings: Settings) -> None:
    docker = DockerService(settings)

    def by_service() -> dict[str, object]:
        return {s.service: s for s in docker.project_status().services}

    statuses = by_service()
    good, sick = statuses["good"], statuses["sick"]
    assert (good.state, good.health) == (ContainerState.RUNNING, Health.HEALTHY)
    assert sick.health is Health.UNHEALTHY
    assert sick.health_output == "probe says no"
    assert sick.health_exit_code == 4
    wait_for(
        lambda: by_service()["flappy"].state is ContainerState.RESTARTING,
        60,
        "flappy to be seen restarting",
    )
    assert by_service()["flappy"].restart_count >= 1


def test_exited_state_has_its_exit_code(project: ComposeProject, settings: Settings) -> None:
    project.compose("kill", "-s", "SIGKILL", "good")
    try:
        status = {s.service: s for s in DockerService(settings).project_status().services}
        assert status["good"].state is ContainerState.EXITED
        assert status["good"].exit_code == 137
        assert status["good"].uptime_seconds is None
    finally:
        project.compose("start", "good")


# ---- events ------------------------------------------------------------------------------


def watch(docker: DockerService) -> tuple[ProjectWatcher, queue.Queue[StatusUpdate]]:
    updates: queue.Queue[StatusUpdate] = queue.Queue()
    watcher = ProjectWatcher(docker, updates.put, reconcile_seconds=3600, retry_seconds=0.2)
    watcher.start()
    first = updates.get(timeout=30)
    assert first.reason == "snapshot"
    return watcher, updates


def wait_update(
    updates: queue.Queue[StatusUpdate], service: str, state: ContainerState, timeout: float = 30
) -> StatusUpdate:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            update = updates.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        current = {s.service: s for s in update.status.services}
        if service in current and current[service].state is state:
            return update
    pytest.fail(f"no update showing {service} {state.value} within {timeout}s")


def test_state_change_arrives_through_events(project: ComposeProject, settings: Settings) -> None:
    watcher, updates = watch(DockerService(settings))
    try:
        project.compose("kill", "-s", "SIGKILL", "good")
        update = wait_update(updates, "good", ContainerState.EXITED)
        assert update.changed is not None
        assert update.changed.service == "good"
        assert update.changed.exit_code == 137
        project.compose("start", "good")
        wait_update(updates, "good", ContainerState.RUNNING)
    finally:
        watcher.stop()
        project.compose("start", "good")
    assert not watcher.alive


def test_reconnect_does_not_miss_a_change_made_while_cut_off(
    project: ComposeProject, settings: Settings, docker_engine: DockerEngine
) -> None:
    proxy = EngineProxy(docker_engine.host.removeprefix("unix://"))
    docker = DockerService(settings.replace(docker_host=proxy.url))
    watcher, updates = watch(docker)
    try:
        proxy.cut()
        project.compose("kill", "-s", "SIGKILL", "good")  # while kgop cannot see the engine
        proxy.resume()
        wait_update(updates, "good", ContainerState.EXITED)
        assert watcher.reconnects >= 1
    finally:
        watcher.stop()
        proxy.close()
        project.compose("start", "good")


# ---- logs --------------------------------------------------------------------------------


def test_logs_tail_of_one_service(project: ComposeProject) -> None:
    env = kgop_env(project.home)
    out = lines_of(run_kgop("logs", "alpha", "--tail", "2", env=env))
    assert len(out) == 2
    assert out[-1] in ("alpha line 5", "alpha err 5")


def test_logs_merge_several_services_with_prefixes(project: ComposeProject) -> None:
    env = kgop_env(project.home)
    out = lines_of(run_kgop("logs", "alpha", "beta", "--grep", "line", "-t", env=env))
    parsed = [re.fullmatch(r"(\w+) +\| (\S+) (.*)", line) for line in out]
    assert all(parsed)
    rows = [(m.group(1), m.group(2), m.group(3)) for m in parsed if m]
    alpha = [(svc, text) for svc, _, text in rows if svc == "alpha"]
    beta = [(svc, text) for svc, _, text in rows if svc == "beta"]
    assert alpha == [("alpha", f"alpha line {i}") for i in range(1, 6)]
    assert beta == [("beta", f"beta line {i}") for i in range(1, 6)]
    assert all(line.startswith(("alpha | ", "beta  | ")) for line in out)
    stamps = [sort_key(stamp) for _, stamp, _ in rows]
    assert stamps == sorted(stamps)  # one stream, merged by time


def test_logs_grep_and_inverted_grep(project: ComposeProject) -> None:
    env = kgop_env(project.home)
    matched = lines_of(run_kgop("logs", "alpha", "--grep", r"(line|err) [12]$", env=env))
    assert sorted(matched) == ["alpha err 1", "alpha err 2", "alpha line 1", "alpha line 2"]
    inverted = lines_of(run_kgop("logs", "alpha", "--grep", r"[12]$", "--invert", env=env))
    assert len(inverted) == 6
    assert not any(line.endswith(("1", "2")) for line in inverted)
    bad = run_kgop("logs", "alpha", "--grep", "(unclosed", env=env)
    assert bad.returncode == 2
    assert "not a valid regular expression" in bad.stderr


def test_logs_since_and_timestamps(project: ComposeProject) -> None:
    env = kgop_env(project.home)
    wait_for(lambda: "late" in run_kgop("logs", "beta", env=env).stdout, 30, "beta to log 'late'")
    stamped = lines_of(run_kgop("logs", "beta", "--timestamps", "--grep", "^(early|late)$",
                                env=env))  # fmt: skip
    times = {line.split(" ", 1)[1]: line.split(" ", 1)[0] for line in stamped}
    early = datetime.fromisoformat(times["early"][:26] + "+00:00")
    late = datetime.fromisoformat(times["late"][:26] + "+00:00")
    assert late - early >= timedelta(seconds=1.5)
    middle = (early + (late - early) / 2).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    after = lines_of(run_kgop("logs", "beta", "--since", middle, env=env))
    assert "early" not in after
    assert after[0] == "late"


def test_over_long_lines_are_truncated_with_a_marker(project: ComposeProject) -> None:
    out = lines_of(run_kgop("logs", "beta", "--grep", "^x+", env=kgop_env(project.home)))
    assert len(out) == 1
    assert out[0].endswith(" …[truncated]")
    assert len(out[0]) < 9000


def test_logs_of_unknown_service_is_exit_2_with_the_known_ones(project: ComposeProject) -> None:
    done = run_kgop("logs", "nosuch", env=kgop_env(project.home))
    assert done.returncode == 2
    assert "No service named nosuch" in done.stderr
    assert "alpha, beta" in done.stderr


def open_sockets() -> int:
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


def test_cancelling_a_follow_leaves_no_thread_or_stream(settings: Settings) -> None:
    docker = DockerService(settings)
    docker.client()  # the connection pool is not what we are counting
    baseline_threads = threading.active_count()
    baseline_sockets = open_sockets()
    follower = LogFollower(docker, docker.service_containers(["ticker", "alpha"]), tail=5)
    follower.start()
    first = follower.get(timeout=10)
    assert first is not None
    assert first.lines()
    # The merged history came first (its own thread); then one reader per container.
    wait_for(
        lambda: threading.active_count() == baseline_threads + 2 and follower.alive_threads == 2,
        10,
        "a reader thread per container",
    )
    follower.close()
    assert follower.alive_threads == 0
    assert threading.active_count() == baseline_threads
    docker.close()
    assert open_sockets() <= baseline_sockets


def test_follow_cli_stops_cleanly_on_interrupt(project: ComposeProject) -> None:
    proc = subprocess.Popen([*KGOP, "logs", "-f", "ticker", "--tail", "1"],
                            env=kgop_env(project.home), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None
    first = proc.stdout.readline()
    second = proc.stdout.readline()
    assert first.startswith("tick ")
    assert int(second.split()[2]) == int(first.split()[2]) + 1  # live lines, in order
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_follow_reattaches_after_a_restart_without_repeating_lines(
    project: ComposeProject, settings: Settings
) -> None:
    docker = DockerService(settings)
    with LogFollower(docker, docker.service_containers(["ticker"]), tail=0) as follower:
        seen: list[str] = []
        events: list[str] = []
        restarted = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            batch = follower.get(timeout=1)
            if batch is None:
                continue
            seen += [line.text for line in batch.lines()]
            events += [event.kind for event in batch.events]
            if len(seen) >= 3 and not restarted:
                project.compose("restart", "ticker")
                restarted = True
            runs = {line.split()[1] for line in seen}
            if "reattached" in events and len(runs) == 2 and len(seen) > 10:
                break
        assert events[:2] == ["ended", "reattached"]
    first_run, second_run = sorted({line.split()[1] for line in seen})
    assert len(seen) == len(set(seen))  # nothing repeated on reattach
    second = [int(line.split()[2]) for line in seen if line.split()[1] == second_run]
    assert second == list(range(1, len(second) + 1))  # nothing missed after the restart


# ---- lifecycle ---------------------------------------------------------------------------


def test_restart_through_compose(project: ComposeProject) -> None:
    before = project.inspect("good")["State"]["StartedAt"]  # type: ignore[index]
    done = run_kgop("restart", "good", "--timeout", "1", env=kgop_env(project.home))
    assert done.returncode == 0, done.stderr
    assert "Restarted good." in done.stdout
    assert project.inspect("good")["State"]["StartedAt"] != before  # type: ignore[index]


def test_restart_unknown_service_lists_the_known_ones(project: ComposeProject) -> None:
    done = run_kgop("restart", "nosuch", env=kgop_env(project.home))
    assert done.returncode == 2
    assert "known services: alpha, beta, flappy, good, sick, ticker" in done.stderr


def test_compose_error_is_surfaced(project: ComposeProject, tmp_path: Path) -> None:
    home = tmp_path
    (home / "compose").mkdir()
    (home / "compose" / "compose.yml").write_text("services:\n  web:\n    image: [not, valid\n")
    (home / ".env").write_text((project.home / ".env").read_text())
    done = run_kgop("restart", "web", env=kgop_env(home))
    assert done.returncode == 1
    assert "docker compose config --services` failed" in done.stderr
    assert done.stderr.count("\n") == 1


def test_status_json_shows_the_restart_loop(project: ComposeProject) -> None:
    doc = json.loads("\n".join(lines_of(run_kgop("status", "--json", env=kgop_env(project.home)))))
    flappy = next(s for s in doc["services"] if s["service"] == "flappy")
    assert flappy["restart_count"] >= 1
    assert flappy["state"] in ("restarting", "running", "exited")
