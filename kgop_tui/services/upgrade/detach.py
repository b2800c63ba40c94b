"""Starting the runner detached from the session, so a dropped SSH connection does not stop
an upgrade half-way; and waiting until it reports."""

from __future__ import annotations

import subprocess
import sys
import time

from kgop_tui.errors import (
    LockHeld,
    OperationFailed,
)
from kgop_tui.models import (
    UpgradeStatus,
)
from kgop_tui.services.upgrade.state import UpgradeFiles, lock_is_free, new_run_id, read_status
from kgop_tui.settings import Settings


def spawn_runner(
    settings: Settings, to: str, no_backup: bool, health_timeout: float
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start the runner in its own session: it outlives the terminal that started it."""
    files = UpgradeFiles.of(settings)
    files.prepare()
    if not lock_is_free(files):
        raise LockHeld("Another upgrade is running", hint="follow it with `kgop upgrade --status`")
    run_id = new_run_id()
    cmd = [
        sys.executable,
        "-m",
        "kgop_tui",
        "--home",
        str(settings.kg_home),
        "upgrade",
        "--run",
        run_id,
        "--to",
        to,
        "--health-timeout",
        f"{health_timeout:g}",
    ]
    if no_backup:
        cmd.append("--no-backup")
    out = open(files.runs / f"{run_id}.out", "wb")  # noqa: SIM115 - handed to the child
    try:
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=settings.kg_home,
        )
    finally:
        out.close()
    return run_id, process


def wait_started(
    files: UpgradeFiles, run_id: str, process: subprocess.Popen[bytes], timeout: float = 60
) -> UpgradeStatus:
    """The runner's first status, or why it did not start."""
    deadline = time.monotonic() + timeout
    while True:
        status = read_status(files)
        if status is not None and status.id == run_id:
            return status
        code = process.poll()
        if code is not None:
            out = files.runs / f"{run_id}.out"
            text = out.read_text(errors="replace").strip() if out.exists() else ""
            last = text.splitlines()[-1] if text else f"exit {code}"
            raise OperationFailed(f"The upgrade did not start: {last.removeprefix('kgop: ')}")
        if time.monotonic() > deadline:
            raise OperationFailed(
                "The upgrade process did not report within a minute",
                hint=f"see {files.runs / (run_id + '.out')}",
            )
        time.sleep(0.1)
