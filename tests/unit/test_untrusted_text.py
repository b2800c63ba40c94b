"""What containers and the engine say reaches a person without escape sequences: the
sanitizer itself, and `kgop status`, `kgop logs`, `kgop doctor` and errors through the CLI
with a fake engine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kgop_tui import cli
from kgop_tui.errors import OperationFailed
from kgop_tui.kinds import Health
from kgop_tui.logtypes import LogChunk
from kgop_tui.project import ProjectStatus
from kgop_tui.text import clean, clean_line
from tests.support.hostile import HOSTILE, SHOWN, is_inert
from tests.tui.fakes import sample_status, swarm_status

TS = "2026-11-26T10:00:00.123456789Z"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[1;31mred\x1b[0m", "red"),  # CSI (SGR)
        ("a\x1b[2J\x1b[Hb", "ab"),  # CSI: clear, home
        ("a\x1b]52;c;ZXZpbA==\x07b", "ab"),  # OSC 52 (clipboard), BEL-terminated
        ("a\x1b]0;title\x1b\\b", "ab"),  # OSC, ST-terminated
        ("a\x9b2Jb", "ab"),  # 8-bit CSI
        ("a\x9d52;c;QQ==\x9cb", "ab"),  # 8-bit OSC, 8-bit ST
        ("a\x1bP1$r0m\x1b\\b", "ab"),  # DCS
        ("a\x90q\x9cb\x98sos\x9cc\x9epm\x9cd\x9fapc\x9ce", "abcde"),  # 8-bit DCS SOS PM APC
        ("a\x1b_apc\x1b\\b\x1b^pm\x1b\\c\x1bXsos\x1b\\d", "abcd"),  # 7-bit APC PM SOS
        ("a\x1b(Bb\x1bcc\x1b7d\x1b8e", "abcde"),  # charset, reset, cursor save/restore
        ("a\x00b\x07c\x08d\re\x7ff\x85g\x9ah", "abcdefgh"),  # C0, DEL, C1
        ("tab\tand\nnewline stay, é and │ too\n", "tab\tand\nnewline stay, é and │ too\n"),
        (HOSTILE, SHOWN),
    ],
)
def test_escape_sequences_and_controls_are_removed(text: str, shown: str) -> None:
    assert clean(text) == shown


def test_an_unfinished_sequence_never_swallows_the_next_line() -> None:
    assert clean("a\x1b]52;c;QUFB\nnext\n") == "a\nnext\n"
    assert clean("a\x1bP unterminated\nnext\x9b") == "a\nnext"
    assert clean_line("one\ntwo\tthree\x1b[K") == "one two three"


@pytest.mark.parametrize(
    "unit", ["\x1b[", "\x9b", "\x1b]", "\x9d", "\x1bP", "\x1b", "\x1b[1;", "\x1b(", "\x07"]
)
def test_a_megabyte_of_hostile_input_is_cleaned_in_linear_time(unit: str) -> None:
    # Linear, it takes well under a second (measured: 0.04 s for ESC [, 0.08 s for U+009B);
    # anything quadratic over a megabyte (10^12 steps) would take hours, not 5 s.
    text = unit * ((1 << 20) // len(unit))
    started = time.perf_counter()
    assert is_inert(clean(text))
    assert time.perf_counter() - started < 5


def test_errors_quoting_the_engine_are_clean() -> None:
    error = OperationFailed(f"The Docker engine refused the request: {HOSTILE}", hint=HOSTILE)
    assert is_inert(error.one_line())
    assert error.message.endswith(SHOWN)


# ---- through the CLI, with a fake engine ---------------------------------------------


class FakeDocker:
    """What `kgop status` and `kgop logs` use of DockerService, with fixed answers."""

    status: ProjectStatus = sample_status()

    def __init__(self, settings: Any) -> None:
        pass

    def project_status(self) -> ProjectStatus:
        return self.status

    def close(self) -> None:
        pass

    def service_containers(self, services: list[str] | None) -> list[tuple[str, str]]:
        return [("api", "c1"), ("web", "c2")]


def hostile_status() -> ProjectStatus:
    api = sample_status().services[0].replace(health_output=f"probe {HOSTILE}\n", version=HOSTILE)
    swarm = swarm_status()
    first, second = swarm.services[0].tasks or []
    stack_api = swarm.services[0].replace(tasks=[first, second._replace(message=HOSTILE)])
    return ProjectStatus("kg", [api, stack_api.replace(service="api2"), *swarm.services[1:]])


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kgop_tui.services.docker import docker_engine, logs

    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=kg\n")
    monkeypatch.setenv("KG_HOME", str(tmp_path))
    monkeypatch.setattr(FakeDocker, "status", hostile_status())
    monkeypatch.setattr(docker_engine, "DockerService", FakeDocker)

    def history(docker: Any, targets: Any, **_: Any) -> Iterator[list[LogChunk]]:
        yield [LogChunk("api", 1, f"{TS} {HOSTILE}\n"), LogChunk("web", 2, f"{TS} ok\n")]

    monkeypatch.setattr(logs, "history", history)


@pytest.mark.usefixtures("fake_engine")
def test_status_text_shows_healthcheck_output_and_task_messages_clean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"last probe exited 7: probe {SHOWN}" in out
    assert f"({SHOWN})" in out  # the Swarm task's message
    assert SHOWN in out.splitlines()[1]  # the version label, in the table
    assert is_inert(out)


@pytest.mark.usefixtures("fake_engine")
def test_status_json_is_faithful_and_escaped_by_the_encoder(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["status", "--json"]) == 0
    out = capsys.readouterr().out
    assert is_inert(out.replace("\x7f", ""))  # DEL is printed as is by JSON, and is inert
    assert "\\u001b]52;c;" in out
    assert "\\u009b" in out
    document = json.loads(out)
    assert document["services"][0]["health_output"] == f"probe {HOSTILE}\n"


@pytest.mark.usefixtures("fake_engine")
def test_logs_arrive_clean_on_a_pipe_too_and_raw_only_when_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["logs", "--no-color"]) == 0
    assert capsys.readouterr().out == f"api | {SHOWN}\nweb | ok\n"
    assert cli.main(["logs", "--no-color", "--raw"]) == 0
    assert capsys.readouterr().out == f"api | {HOSTILE}\nweb | ok\n"


def test_doctor_findings_quote_containers_clean(tmp_path: Path) -> None:
    from kgop_tui.services.diagnosis.doctor import FAIL, Doctor
    from kgop_tui.settings import load_settings

    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=kg\n")
    doctor = Doctor(load_settings(kg_home=tmp_path))
    doctor.add("service.api", FAIL, f"unhealthy: {HOSTILE}", HOSTILE)
    doctor.guarded("engine", lambda: (_ for _ in ()).throw(OperationFailed(HOSTILE)))
    for check in doctor.checks:
        assert is_inert(check.detail)
        assert is_inert(check.hint or "")
    assert doctor.checks[0].detail == f"unhealthy: {SHOWN}"


def test_health_of_a_service_is_rendered_clean() -> None:
    from kgop_tui.render import render_project_status

    shown = render_project_status(hostile_status())
    assert is_inert(shown)
    assert Health.UNHEALTHY.value in shown


# ---- operator.sh logs, with a stand-in for docker -------------------------------------

FAKE_DOCKER = """#!/bin/sh
case "$1 $2" in
  "compose logs") printf '%s' "$HOSTILE_LOG" ;;
  *) exit 0 ;;
esac
"""


def test_operator_sh_logs_on_a_terminal_removes_escape_sequences(tmp_path: Path) -> None:
    import os
    import pty
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[2]
    shutil.copy(root / "operator.sh", tmp_path / "operator.sh")
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=kg\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "HOSTILE_LOG": f"api  | {HOSTILE}\napi  | é │ ok\n"}  # fmt: skip
    controller, terminal = pty.openpty()
    done = subprocess.run([str(tmp_path / "operator.sh"), "logs"], stdout=terminal, env=env,
                          stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=30)  # fmt: skip
    os.close(terminal)
    shown = b""
    while True:
        try:
            data = os.read(controller, 65536)
        except OSError:  # the terminal closed: all of it was read
            break
        if not data:
            break
        shown += data
    os.close(controller)
    assert done.returncode == 0, done.stderr
    text = shown.decode().replace("\r\n", "\n")  # the terminal's own line ends
    assert is_inert(text), repr(text)
    assert f"api  | {SHOWN}\n" in text  # as kgop logs shows it
    assert "é │ ok" in text
    piped = subprocess.run([str(tmp_path / "operator.sh"), "logs"], capture_output=True, env=env,
                           timeout=30)  # fmt: skip
    assert piped.stdout.decode() == env["HOSTILE_LOG"]  # a pipe gets what compose wrote


def test_operator_sh_strips_what_kgop_strips(tmp_path: Path) -> None:
    # The shim's sed filter (no Python on the host) against kgop's sanitizer: the same text
    # from every kind of sequence, and never anything that acts, on random mixes of them.
    import random
    import subprocess

    script = (Path(__file__).resolve().parents[2] / "operator.sh").read_text()
    function = script[script.index("strip_escapes() {") :]
    function = function[: function.index("\n}\n") + 3]
    kinds = [HOSTILE, "\x1b[1;31mred\x1b[0m", "a\x1b]0;t\x1b\\b", "a\x9d52;c;QQ==\x9cb",
             "a\x90q\x9cb\x98s\x9cc\x9ep\x9cd\x9fa\x9ce", "a\x1b_x\x1b\\b\x1bXy\x1b\\c",
             "a\x1b(Bb\x1bcc\x1b7d", "a\x01b\x07c\x08d\re\x7ff\x85g\x9ah",
             "é │ ° ok\t."]  # fmt: skip
    pieces = ["\x1b", "[", "]", "P", "\\", "\x07", "\x9b", "\x9c", "\x9d", "\x90", "1", ";",
              "m", "a", "é", "°", " ", "(", "\x7f", "\x01"]  # fmt: skip
    rng = random.Random(7)
    mixes = ["".join(rng.choices(pieces, k=rng.randint(1, 12))) for _ in range(2000)]
    done = subprocess.run(["bash", "-c", function + "strip_escapes"], capture_output=True,
                          input="\n".join(kinds + mixes).encode() + b"\n", check=True)  # fmt: skip
    shown = done.stdout.decode().split("\n")[:-1]
    assert shown[: len(kinds)] == [clean(text) for text in kinds]
    assert all(is_inert(line) for line in shown[len(kinds) :])


def test_an_upgrade_s_steps_and_error_quote_the_engine_clean() -> None:
    from kgop_tui.models import RunState, StepState, UpgradeStatus, UpgradeStep
    from kgop_tui.render import render_upgrade_status
    from tests.tui.fakes import NOW

    status = UpgradeStatus(
        id="run-1", from_version="0.5.0", to_version="0.6.0", state=RunState.FAILED, pid=1,
        steps=[UpgradeStep(key="health", title="Health", state=StepState.FAILED,
                           detail=f"api: unhealthy: {HOSTILE}")],
        point_of_no_return="stop", log_file="/srv/kg/upgrade/runs/run.log", started_at=NOW,
        error=f"api is not healthy: {HOSTILE}",
    )  # fmt: skip
    shown = render_upgrade_status(status)
    assert f"api: unhealthy: {SHOWN}" in shown
    assert f"Error: api is not healthy: {SHOWN}" in shown
    assert is_inert(shown.replace("\n", ""))
