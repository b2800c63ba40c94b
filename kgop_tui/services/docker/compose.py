"""Service lifecycle through compose v2, with the install's own compose files.

kgop runs ``docker compose`` with the project name, the ``COMPOSE_FILE`` list and
``KG_HOME/.env``, in KG_HOME: the same stack a plain ``docker compose`` in KG_HOME sees.
Every call has a timeout; compose's own error is surfaced as the message.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kgop_tui.errors import ComposeFailed, DockerUnavailable, UnknownService
from kgop_tui.settings import Settings

_NOISE = ("level=warning", "WARN[", "variable is not set")


def compose_error(stderr: str) -> str:
    """The line of compose's output that explains the failure."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    meaningful = [line for line in lines if not any(n in line for n in _NOISE)]
    return (meaningful or lines or ["no output"])[-1][:300]


class ComposeService:
    """``docker compose`` for this install: known services, start, stop, restart."""

    def __init__(
        self, settings: Settings, timeout: float = 180.0, extra_files: list[Path] | None = None
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.extra_files = list(extra_files or [])
        """Files merged after COMPOSE_FILE's (the Swarm overlay)."""

    def command(self, *args: str) -> list[str]:
        # The operator image has the standalone compose binary and no docker CLI.
        program = os.environ.get("KGOP_COMPOSE_COMMAND", "docker compose").split()
        cmd = [*program, "--project-name", self.settings.compose_project_name]
        for path in [*self.settings.compose_files(), *self.extra_files]:
            cmd += ["--file", str(path)]
        env_file = self.settings.kg_home / ".env"
        if env_file.exists():
            cmd += ["--env-file", str(env_file)]
        return [*cmd, *args]

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.settings.docker_host
        env.pop("COMPOSE_FILE", None)  # the --file arguments say it
        return env

    def run(self, *args: str, timeout: float | None = None) -> str:
        """Run a compose command; return stdout or raise ComposeFailed with its error."""
        limit = timeout or self.timeout
        what = "docker compose " + " ".join(args)
        try:
            done = subprocess.run(
                self.command(*args),
                capture_output=True,
                text=True,
                env=self.environment(),
                cwd=self.settings.kg_home,
                timeout=limit,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise DockerUnavailable(
                "Docker compose is not installed here",
                hint="install the Docker CLI with the compose v2 plugin (or set "
                "KGOP_COMPOSE_COMMAND)",
            ) from None
        except subprocess.TimeoutExpired:
            raise ComposeFailed(
                f"`{what}` did not finish within {limit:g}s",
                hint="check the service's logs with `kgop logs`",
            ) from None
        if done.returncode != 0:
            error = compose_error(done.stderr)
            if "Cannot connect to the Docker daemon" in error:
                raise DockerUnavailable(
                    f"Cannot reach the Docker engine at {self.settings.docker_host}",
                    hint="start Docker, or set DOCKER_HOST to the engine's socket",
                )
            raise ComposeFailed(f"`{what}` failed: {error}", hint="see `kgop logs` and the error")
        return done.stdout

    def services(self) -> list[str]:
        """The services the compose files define."""
        return sorted(self.run("config", "--services", timeout=60).split())

    def check_services(self, names: list[str]) -> None:
        known = self.services()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise UnknownService(
                f"No service named {', '.join(unknown)} in the compose files",
                hint=f"known services: {', '.join(known)}",
            )

    def start(self, names: list[str]) -> None:
        self.check_services(names)
        self.run("up", "--detach", "--no-deps", *names)

    def stop(self, names: list[str], grace_seconds: int = 10) -> None:
        self.check_services(names)
        self.run("stop", "--timeout", str(grace_seconds), *names)

    def restart(self, names: list[str], grace_seconds: int = 10) -> None:
        self.check_services(names)
        self.run("restart", "--timeout", str(grace_seconds), *names)
