"""``kgop doctor``: what is wrong with this host and this install, and what to do about it.

Every check has an id, a state (ok, warn, fail, skip), a line of detail and, when not ok,
a hint. Doctor never changes anything and needs no terminal. A check that cannot run (the
engine or the database unreachable) is ``fail`` or ``skip`` with the reason; the others
still run.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kgop_tui.checks import Check, CheckState, DoctorReport
from kgop_tui.errors import KgopError
from kgop_tui.services.diagnosis.doctor_data import (
    check_backup,
    check_database,
    check_garage,
    check_tls,
)
from kgop_tui.settings import Settings
from kgop_tui.text import clean, clean_line

if TYPE_CHECKING:
    from kgop_tui.services.docker.docker_engine import DockerService

OK, WARN, FAIL, SKIP = CheckState.OK, CheckState.WARN, CheckState.FAIL, CheckState.SKIP
# Below this much free space, next to the newest backup's size, a backup would not fit.
MIN_FREE = 2 * 1024**3
MAX_SKEW_SECONDS = 60


# What to do when the platform's api reports a part of it unhealthy (its /health).
_DEGRADED_HINT = {
    "garage": "the api needs its Garage key in kg_api.system_api_keys and Garage answering: "
    "`./operator.sh garage init`, then `./operator.sh logs api`",
    "database": "`./operator.sh logs api` and `./operator.sh logs postgres`",
}


def _error(exc: BaseException) -> tuple[str, str | None]:
    if isinstance(exc, KgopError):
        return exc.message, exc.hint
    return f"{type(exc).__name__}: {str(exc)[:200]}", None


class Doctor:
    """Runs the checks in order; each failure is a finding, never a crash."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.checks: list[Check] = []
        self.engine_ok = False
        self._docker: DockerService | None = None

    def add(self, ident: str, state: CheckState, detail: str, hint: str | None = None) -> None:
        # Details quote containers and the engine: no escape sequences reach a terminal.
        hint = None if hint is None else clean_line(hint)
        self.checks.append(Check(id=ident, state=state, detail=clean_line(detail), hint=hint))

    def guarded(self, ident: str, check: Callable[[], None]) -> None:
        try:
            check()
        except Exception as exc:  # a check that breaks is a finding, not a crash
            message, hint = _error(exc)
            self.add(ident, FAIL, message, hint)

    def run(self) -> DoctorReport:
        for ident, check in (
            ("engine", self.check_engine),
            ("compose", self.check_compose),
            ("env", self.check_env),
            ("mounts", self.check_mounts),
            ("ports", self.check_ports),
            ("disk", self.check_disk),
            ("services", self.check_services),
            ("clock", self.check_clock),
            ("database", lambda: check_database(self.settings, self.add)),
            ("garage", lambda: check_garage(self.settings, self.add, self.engine_ok)),
            ("tls", lambda: check_tls(self.settings, self.add)),
            ("backup", lambda: check_backup(self.settings, self.add)),
        ):
            self.guarded(ident, check)
        if self._docker is not None:
            self._docker.close()
        return DoctorReport.of(self.checks)

    # ---- engine and compose --------------------------------------------------------------

    def docker(self) -> DockerService:
        from kgop_tui.services.docker.docker_engine import DockerService

        if self._docker is None:
            self._docker = DockerService(self.settings)
        return self._docker

    def check_engine(self) -> None:
        docker = self.docker()
        with docker.translate_errors():
            version = docker.client().version()
        self.engine_ok = True
        self.add(
            "engine",
            OK,
            f"Docker {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}) at "
            f"{docker.engine_address}",
        )

    def _needs_engine(self, ident: str) -> bool:
        if not self.engine_ok:
            self.add(ident, SKIP, "the Docker engine is unreachable (see engine)")
        return self.engine_ok

    def check_compose(self) -> None:
        from kgop_tui.services.docker.compose import ComposeService

        compose = ComposeService(self.settings, timeout=30)
        version = compose.run("version", "--short").strip()
        state = OK if version.lstrip("v")[:1] >= "2" else FAIL
        self.add("compose", state, f"compose {version}", "install compose v2" if state else None)

    # ---- .env and mounts -----------------------------------------------------------------

    def check_env(self) -> None:
        import re

        from kgop_tui.settings import read_env_file

        path = self.settings.kg_home / ".env"
        if not path.exists():
            self.add("env", FAIL, f"{path} is missing", "run install.sh, or restore .env")
            return
        values = read_env_file(path)  # raises ConfigInvalid naming the bad line
        self.add("env", OK, f"{path}: {len(values)} variables")
        info = path.stat()
        mode = stat.S_IMODE(info.st_mode)
        self.add(
            "env.mode",
            OK if mode == 0o600 else FAIL,
            f"mode {mode:04o}, owner uid {info.st_uid}",
            None if mode == 0o600 else f"chmod 600 {path}: it holds the keys to the data",
        )
        required: set[str] = set()
        for file in self.settings.compose_files():
            if file.exists():
                required |= set(re.findall(r"\$\{([A-Z0-9_]+):?\?", file.read_text()))
        missing = sorted(k for k in required if not (k in values or os.environ.get(k)))
        self.add(
            "env.required",
            FAIL if missing else OK,
            f"missing: {', '.join(missing)}" if missing else f"{len(required)} required set",
            "re-run install.sh with the same --dir: it adds the secrets an older .env lacks and "
            "keeps every one it has; or set them in .env"
            if missing
            else None,
        )

    def check_mounts(self) -> None:
        from kgop_tui.services.docker.compose import ComposeService
        from kgop_tui.services.docker.mounts import mount_checks

        found = mount_checks(ComposeService(self.settings, timeout=30))
        self.checks.extend(found)
        if not found:
            self.add("mounts", OK, "no bind mounts")

    # ---- ports, disk, services, clock ------------------------------------------------------

    def check_ports(self) -> None:
        if not self._needs_engine("ports"):
            return
        docker = self.docker()
        mine = {
            (p.host_ip, p.host_port)
            for s in docker.project_status().services
            for p in s.ports
            if s.state.value == "running"
        }
        with docker.translate_errors():
            others = [
                (c.name, binding.get("HostPort"))
                for c in docker.client().containers.list()
                if c.labels.get("com.docker.compose.project") != self.settings.compose_project_name
                for bindings in (c.attrs.get("NetworkSettings", {}).get("Ports") or {}).values()
                for binding in bindings or []
            ]
        wanted = self._published_ports()
        taken = [(name, port) for name, port in others if port and int(port) in wanted]
        if taken:
            name, port = taken[0]
            self.add(
                "ports", FAIL, f"port {port} is published by another container ({name})",
                f"stop {name}, or set this stack's KG_*_PORT to a free port",
            )  # fmt: skip
        else:
            self.add(
                "ports", OK,
                f"{len(wanted)} published port(s): {len(mine)} held by this stack, "
                "none by another container",
            )  # fmt: skip

    def _published_ports(self) -> set[int]:
        import json

        from kgop_tui.services.docker.compose import ComposeService

        config = json.loads(
            ComposeService(self.settings, timeout=30).run("config", "--format", "json")
        )
        ports = set()
        for service in (config.get("services") or {}).values():
            for port in service.get("ports") or []:
                if isinstance(port, dict) and port.get("published"):
                    ports.add(int(port["published"]))
        return ports

    def check_disk(self) -> None:
        from kgop_tui.services.backups.backup import BackupService

        backups = BackupService(self.settings).backups()
        yardstick = max(backups[-1].dump_bytes * 2, MIN_FREE) if backups else MIN_FREE
        free = shutil.disk_usage(self.settings.kg_home).free
        self.add(
            "disk.kg_home",
            OK if free >= yardstick else WARN,
            f"{free >> 30} GiB free for KG_HOME (wanted {yardstick >> 30} GiB: twice the newest "
            "backup, at least 2)",
            None if free >= yardstick else "free space, or move old backups off the host",
        )
        if not self.engine_ok:
            return
        docker = self.docker()
        with docker.translate_errors():
            root = str(docker.client().info().get("DockerRootDir", ""))
        if root and os.path.isdir(root):
            free = shutil.disk_usage(root).free
            self.add(
                "disk.docker",
                OK if free >= yardstick else WARN,
                f"{free >> 30} GiB free for Docker's data root {root} (the database volume)",
                None if free >= yardstick else "free space: `docker system prune` removes unused",
            )
        else:
            self.add("disk.docker", SKIP, f"Docker's data root {root or '?'} is not visible here")

    def check_services(self) -> None:
        if not self._needs_engine("services"):
            return
        docker = self.docker()
        from kgop_tui.services.docker.compose import ComposeService

        status = docker.project_status()
        declared = ComposeService(self.settings, timeout=30).services()
        if not status.services:
            self.add(
                "services", FAIL, f"no containers in project {status.project}",
                "./operator.sh start-infra, then ./operator.sh start",
            )  # fmt: skip
        present = {s.service for s in status.services}
        for name in declared:
            if name not in present and status.services:
                self.add(
                    f"service.{name}", FAIL, "no container: not started",
                    "./operator.sh start-infra, then ./operator.sh start",
                )  # fmt: skip
        for s in status.services:
            ident = f"service.{s.service}"
            restarts = f", {s.restart_count} restart(s)" if s.restart_count else ""
            if s.state.value != "running":
                code = f" (exit {s.exit_code})" if s.exit_code is not None else ""
                self.add(
                    ident, FAIL, f"{s.state.value}{code}{restarts}",
                    f"./operator.sh logs {s.service}",
                )  # fmt: skip
            elif s.health.value == "unhealthy":
                output = clean(s.health_output or "").strip().splitlines()
                self.add(
                    ident, FAIL,
                    f"unhealthy{restarts}; last healthcheck (exit {s.health_exit_code}): "
                    f"{(output[-1] if output else '')[:160]}",
                    f"./operator.sh logs {s.service}",
                )  # fmt: skip
            elif s.restart_count:
                self.add(ident, WARN, f"running, {s.health.value}{restarts}",
                         f"./operator.sh logs {s.service}")  # fmt: skip
            elif s.degraded:
                self.add(
                    ident, WARN,
                    f"running, healthy to Docker, but it reports degraded: "
                    f"{', '.join(s.degraded)}",
                    _DEGRADED_HINT.get(s.degraded[0].split()[0], f"./operator.sh logs {s.service}"),
                )  # fmt: skip
            else:
                self.add(ident, OK, f"running, {s.health.value}, {s.image}")

    def check_clock(self) -> None:
        if not self._needs_engine("clock"):
            return
        from kgop_tui.services.docker.docker_engine import parse_docker_time

        docker = self.docker()
        with docker.translate_errors():
            engine_time = parse_docker_time(str(docker.client().info().get("SystemTime", "")))
        if engine_time is None:
            self.add("clock", SKIP, "the engine did not report its time")
            return
        skew = abs((datetime.now(UTC) - engine_time).total_seconds())
        self.add(
            "clock",
            OK if skew <= MAX_SKEW_SECONDS else FAIL,
            f"engine and kgop clocks {skew:.0f} s apart",
            None if skew <= MAX_SKEW_SECONDS else "sync the clocks (NTP): TLS and ACME need it",
        )
