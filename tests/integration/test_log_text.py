"""Log text is untrusted: a container's output can neither take over the operator's terminal
nor freeze `kgop logs --grep`, and neither can its healthcheck's output in `kgop status`
(real engine, a container that writes hostile lines and fails a hostile healthcheck)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engines import ComposeProject, DockerEngine, compose_project, wait_for
from tests.support.helpers import KGOP, kgop_env, run_kgop

# Escape sequences that would clear the screen, colour it, set the window title, ring the
# bell and move the cursor back, set the clipboard (OSC 52), and the 8-bit CSI and OSC
# (UTF-8 C2 9B, C2 9D) and a DCS string; then a long word line ending in '!' (the hostile case
# for a backtracking regular-expression engine).
WRITER = (
    r'printf "clear\033[2J\033[31mred\033[0m \033]0;owned\007title\rback\n";'
    r' printf "a\033]52;c;ZXZpbA==\007b\302\2332Jc\302\23552;c;QQ==\302\234d";'
    r' printf "\033P1\044r\033\134e\n";'
    r' head -c 100000 /dev/zero | tr "\\0" a; echo "!"; echo done; exec sleep infinity'
)
# A healthcheck that fails, saying something hostile (YAML double quotes: \\ is \).
PROBE = r"printf \"probe \\033]52;c;QQ==\\007\\302\\2332J end\"; exit 1"


COMMAND = "[sh, -c, '" + WRITER + "']"  # YAML single quotes: no escapes processed


@pytest.fixture(scope="module")
def project(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    home = tmp_path_factory.mktemp("kg-log-text")
    services = (
        f"  writer:\n    image: {docker_engine.base_image}\n    command: {COMMAND}\n"
        "    stop_signal: SIGKILL\n    labels:\n      kgop.test: '1'\n"
        f'    healthcheck:\n      test: ["CMD-SHELL", "{PROBE}"]\n'
        "      interval: 1s\n      retries: 1\n"
    )
    proj = compose_project(docker_engine, home, services)
    proj.compose("up", "-d")
    try:
        env = kgop_env(proj.home)
        wait_for(lambda: "done" in run_kgop("logs", "writer", env=env).stdout, 60, "the lines")
        yield proj
    finally:
        proj.compose("down", "-v", "--remove-orphans")


def on_a_terminal(argv: list[str], env: dict[str, str], cwd: Path) -> bytes:
    """Run ``argv`` with its stdout on a pseudo-terminal; everything it wrote there."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(argv, stdout=terminal, stderr=subprocess.PIPE, env=env, cwd=cwd,
                               stdin=subprocess.DEVNULL)  # fmt: skip
    os.close(terminal)
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:  # the terminal closed: the process has ended
                break
            if not data:
                break
            out += data
        elif process.poll() is not None:
            break
    assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""
    os.close(controller)
    return out


def test_on_a_terminal_log_text_cannot_control_it(project: ComposeProject) -> None:
    env = {**kgop_env(project.home), "TERM": "xterm-256color"}
    shown = on_a_terminal([*KGOP, "logs", "writer", "--no-color"], env, project.home)
    assert b"clearredtitleback" in shown.replace(b" ", b"")
    assert b"abcde" in shown
    assert b"\x1b" not in shown
    assert b"\x07" not in shown
    assert "\x9b" not in shown.decode()
    piped = run_kgop("logs", "writer", env=kgop_env(project.home))
    assert "clearred titleback\nabcde\n" in piped.stdout  # a file is read on a terminal later
    raw = run_kgop("logs", "writer", "--raw", env=kgop_env(project.home))
    assert "\x1b[31mred" in raw.stdout  # --raw: the lines as written


def test_a_hostile_healthcheck_output_reaches_status_clean(project: ComposeProject) -> None:
    env = kgop_env(project.home)
    wait_for(lambda: "unhealthy" in run_kgop("status", env=env).stdout, 60, "unhealthy")
    shown = run_kgop("status", env=env).stdout
    assert "last probe exited 1: probe  end" in shown
    assert not any(c in shown for c in "\x1b\x07\x9b")
    document = json.loads(run_kgop("status", "--json", env=env).stdout)
    output = document["services"][0]["health_output"]
    assert output.startswith("probe \x1b]52;c;QQ==\x07\x9b")  # JSON: as the engine said it


def test_a_catastrophic_grep_over_a_long_line_returns(project: ComposeProject) -> None:
    env = kgop_env(project.home)
    done = subprocess.run(
        [*KGOP, "logs", "writer", "--grep", r"(\w+\s?)*$"], env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # kgop cuts lines at 8 KiB: the pattern still meets 8,192 word characters and a stop.
    assert any(line.startswith("a" * 8000) for line in done.stdout.splitlines())


def test_operator_sh_logs_on_a_terminal_cannot_control_it(project: ComposeProject) -> None:
    import shutil

    shutil.copy(Path(__file__).resolve().parents[2] / "operator.sh", project.home)
    env = {**kgop_env(project.home), "DOCKER_HOST": project.engine.host, "TERM": "xterm"}
    shown = on_a_terminal([str(project.home / "operator.sh"), "logs", "writer"], env, project.home)
    assert b"abcde" in shown
    assert b"clearredtitleback" in shown.replace(b" ", b"")
    assert b"\x1b" not in shown
    assert b"\x07" not in shown
    assert "\x9b" not in shown.decode()
