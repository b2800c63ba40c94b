"""Exit codes and the one-line error a user sees, through the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgop_tui import cli
from kgop_tui.errors import (
    ChecksumDrift,
    ConfigInvalid,
    DatabaseUnavailable,
    DockerUnavailable,
    ExitCode,
    KgopError,
    LockHeld,
    MigrationFailed,
    UnknownService,
    UsageError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (KgopError("x"), 1),
        (MigrationFailed("x"), 1),
        (ConfigInvalid("x"), 2),
        (UnknownService("x"), 2),
        (DockerUnavailable("x"), 3),
        (DatabaseUnavailable("x"), 3),
        (LockHeld("x"), 4),
        (ChecksumDrift("x"), 4),
    ],
)
def test_every_error_maps_to_its_exit_code(
    error: KgopError, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(*_: object) -> int:
        raise error

    monkeypatch.setattr(cli, "run", failing)
    assert cli.main([]) == code
    err = capsys.readouterr().err
    assert err.startswith("kgop: ")
    assert err.count("\n") == 1


def test_message_and_hint_on_one_line() -> None:
    error = DockerUnavailable("Cannot reach it.", hint="start Docker")
    assert error.one_line() == "Cannot reach it. Hint: start Docker."


def run_kgop(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kgop_tui.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
    )


def test_version(tmp_path: Path) -> None:
    done = run_kgop("--version", env=dict(os.environ), cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("kgop ")


def test_bad_usage_is_exit_2_with_hint(tmp_path: Path) -> None:
    done = run_kgop("statuss", env=dict(os.environ), cwd=tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert "invalid choice" in done.stderr
    assert "kgop --help" in done.stderr
    assert "Traceback" not in done.stderr


def test_malformed_env_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("GOOD=1\nBROKEN\n")
    env = {k: v for k, v in os.environ.items() if k != "KG_HOME"}
    done = run_kgop("status", env=env, cwd=tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert ".env line 2: expected KEY=VALUE" in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("unix:///nonexistent/docker.sock", "no such file or directory"),
        ("tcp://127.0.0.1:9", "connection refused"),
    ],
)
def test_unreachable_engine_is_exit_3_one_line(tmp_path: Path, host: str, reason: str) -> None:
    env = {**os.environ, "DOCKER_HOST": host, "KG_HOME": str(tmp_path)}
    done = run_kgop("status", env=env, cwd=tmp_path)
    assert done.returncode == ExitCode.UNAVAILABLE
    assert done.stderr.count("\n") == 1, done.stderr
    assert "Docker engine" in done.stderr
    assert host in done.stderr
    assert reason in done.stderr
    assert "Hint:" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_tui_without_a_terminal_is_exit_2(tmp_path: Path) -> None:
    done = run_kgop("tui", env=dict(os.environ), cwd=tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert "needs a terminal" in done.stderr


def test_no_verb_without_a_terminal_prints_status_and_help(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock", "KG_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "kgop_tui.cli"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0
    assert "usage: kgop" in done.stdout
    assert "Cannot reach the Docker engine" in done.stderr


def test_an_unexpected_error_is_one_line_without_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object) -> int:
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(cli, "run", broken)
    monkeypatch.delenv("KGOP_DEBUG", raising=False)
    assert cli.main([]) == ExitCode.FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unexpected error: RuntimeError: something inside broke" in err
    assert "KGOP_DEBUG=1" in err


def upgrade_home(tmp_path: Path, version: str | None = "0.5.0") -> dict[str, str]:
    (tmp_path / ".env").write_text(f"KG_VERSION={version}\n" if version else "A=1\n")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KG_", "KGOP_"))},
        "KG_HOME": str(tmp_path),
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    }


@pytest.mark.parametrize(
    ("args", "version", "code", "says"),
    [
        (["upgrade", "--to", "banana"], "0.5.0", 2, "'banana' is not a version"),
        (["upgrade"], None, 2, "KG_VERSION is not set in .env"),
        (["upgrade", "--to", "0.6.0"], "0.5.0", 3, "Cannot reach the Docker engine"),
        (["upgrade", "--abort"], "0.5.0", 1, "No upgrade is running"),
        (["upgrade", "--attach"], "0.5.0", 1, "No upgrade has run here"),
        (["upgrade", "--status", "--attach"], "0.5.0", 2, "not allowed with argument"),
        (["restore", "/nonexistent/backup"], "0.5.0", 2, "is not a kgop backup"),
        (["releases", "--markdown"], "0.5.0", 0, ""),
        # operator.sh deploy-swarm passes its options through this check before it renders.
        (
            ["stack", "render", "--resolve-image", "sometimes", "--check"],
            "0.5.0",
            2,
            "invalid choice: 'sometimes'",
        ),
        (["stack", "render", "--resolve-image", "never", "--check"], "0.5.0", 0, ""),
        (["stack", "render", "--detach", "--check"], "0.5.0", 2, "unrecognized arguments"),
        (["wait", "--timeout", "0", "postgres"], "0.5.0", 2, "--timeout must be more than 0"),
    ],
)
def test_upgrade_verbs_bad_input(
    tmp_path: Path, args: list[str], version: str | None, code: int, says: str
) -> None:
    done = run_kgop(*args, env=upgrade_home(tmp_path, version), cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert says in done.stderr
    if code:
        assert done.stderr.count("\n") == 1
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "backups").exists()


def test_upgrade_status_before_any_upgrade(tmp_path: Path) -> None:
    done = run_kgop("upgrade", "--status", env=upgrade_home(tmp_path), cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == "No upgrade has run here."
    idle = run_kgop("upgrade", "--idle", env=upgrade_home(tmp_path), cwd=tmp_path)
    assert idle.returncode == 0


def test_each_verb_builds_only_its_part_of_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """VERB_MODULES names, for every verb, the one module that defines it."""
    import argparse
    import importlib

    for name in cli.COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        verbs = parser.add_subparsers()
        importlib.import_module(f"kgop_tui.commands.{name}").register(verbs)
        assert {v: cli.VERB_MODULES.get(v) for v in verbs.choices} == dict.fromkeys(
            verbs.choices, name
        )
    full = cli.build_parser()
    choices = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(choices) == {*cli.VERB_MODULES, "status", "tui"}
    assert cli.verb_of(["--home", "/x", "logs", "api"]) == "logs"
    assert cli.verb_of(["--home=/x", "migrate", "status"]) == "migrate"
    assert cli.verb_of(["--help", "logs"]) is None
    # A mistyped verb is refused with the whole list, as before.
    with pytest.raises(UsageError, match="invalid choice: 'lgs'.*'logs'"):
        cli.run(["lgs"])
    with pytest.raises(SystemExit):
        cli.run(["logs", "--help"])
    assert "--tail" in capsys.readouterr().out
