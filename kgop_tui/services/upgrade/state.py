"""An upgrade's state on disk: its files, the lock, the status and log, the abort flag.

``KG_HOME/upgrade/status.json`` (an :class:`~kgop_tui.models.UpgradeStatus`, written
atomically) and ``runs/<id>.log`` are what ``kgop upgrade --status`` and the TUI read. One
upgrade (or restore) at a time: the runner holds an exclusive lock on ``upgrade/lock`` for
its whole life, released by the kernel if it dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from kgop_tui.errors import (
    ConfigInvalid,
    KgopError,
    LockHeld,
    OperationFailed,
    RefusedForSafety,
)
from kgop_tui.models import (
    RunState,
    StepState,
    StoredPlan,
    UpgradePlan,
    UpgradeStatus,
    UpgradeStep,
)
from kgop_tui.settings import Settings


def now() -> datetime:
    return datetime.now(UTC)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, KgopError):
        return exc.one_line()
    return f"{type(exc).__name__}: {str(exc)[:300]}"


@dataclass(frozen=True)
class UpgradeFiles:
    """Where an install keeps its upgrade state."""

    root: Path

    @classmethod
    def of(cls, settings: Settings) -> UpgradeFiles:
        return cls(settings.kg_home / "upgrade")

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def abort(self) -> Path:
        return self.root / "abort"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    def release(self, version: str) -> Path:
        return self.root / "releases" / version

    def prepare(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runs.mkdir(mode=0o700, exist_ok=True)


def _write_json(path: Path, data: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def save_plan(files: UpgradeFiles, plan: UpgradePlan) -> None:
    """Keep the plan a preflight made, for sessions that may not run one (read-only)."""
    files.prepare()
    _write_json(files.plan, StoredPlan(plan=plan, made_at=now()).model_dump_json(indent=2))


def read_plan(files: UpgradeFiles) -> StoredPlan | None:
    """The last plan a preflight made, if any."""
    try:
        return StoredPlan.model_validate_json(files.plan.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        raise ConfigInvalid(
            f"{files.plan} is damaged", hint="move it away; the next preflight writes it again"
        ) from None


def lock_is_free(files: UpgradeFiles) -> bool:
    """True when no upgrade runner holds the lock."""
    if not files.lock.exists():
        return True
    with open(files.lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(handle, fcntl.LOCK_UN)
        return True


def read_status(files: UpgradeFiles) -> UpgradeStatus | None:
    """The last upgrade's status; a ``running`` one whose runner is gone is ``interrupted``."""
    try:
        status = UpgradeStatus.model_validate_json(files.status.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        raise ConfigInvalid(
            f"{files.status} is damaged", hint="move it away; the backups are untouched"
        ) from None
    if status.state is RunState.RUNNING and lock_is_free(files):
        # Read again: the runner may have finished between the two reads.
        status = UpgradeStatus.model_validate_json(files.status.read_text(encoding="utf-8"))
        if status.state is RunState.RUNNING:
            status.state = RunState.INTERRUPTED
            status.hint = (
                "the upgrade process stopped mid-way (operator container restarted?); "
                f"`kgop upgrade --recover` rolls back to {status.from_version}"
                if status.passed_point_of_no_return
                else "the upgrade process stopped before changing anything; "
                "`kgop upgrade --recover` closes it"
            )
    return status


def read_log(files: UpgradeFiles, status: UpgradeStatus, offset: int) -> tuple[list[str], int]:
    """Lines of the run's log from byte ``offset``; the new offset (whole lines only)."""
    try:
        with open(status.log_file, "rb") as handle:
            handle.seek(offset)
            data = handle.read(1 << 20)
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    chunk = data[: end + 1]
    return chunk.decode("utf-8", "replace").splitlines(), offset + len(chunk)


class Recorder:
    """Writes the status file and the run's log as the upgrade goes."""

    def __init__(self, files: UpgradeFiles, status: UpgradeStatus, log: IO[str]) -> None:
        self.files = files
        self.status = status
        self._log = log

    def line(self, text: str) -> None:
        for part in text.splitlines() or [""]:
            self._log.write(f"{datetime.now(UTC):%H:%M:%S} {part}\n")
        self._log.flush()

    def save(self) -> None:
        _write_json(self.files.status, self.status.model_dump_json(indent=2))

    @contextlib.contextmanager
    def step(self, key: str) -> Iterator[UpgradeStep]:
        step = self.status.step(key)
        step.state, step.started_at = StepState.RUNNING, now()
        self.line(f"== {step.title}")
        self.save()
        try:
            yield step
        except BaseException as exc:
            step.state, step.finished_at = StepState.FAILED, now()
            message = describe_error(exc)
            step.detail = step.detail or message[:300]
            self.line(f"   failed: {message}")
            self.save()
            raise
        if step.state is StepState.RUNNING:
            step.state = StepState.DONE
        step.finished_at = now()
        if step.detail:
            self.line(f"   {step.state.value}: {step.detail}")
        self.save()

    def finish(self) -> None:
        """The run has ended: steps never reached are skipped; the end is recorded."""
        for step in self.status.steps:
            if step.state is StepState.PENDING:
                step.state = StepState.SKIPPED
        self.status.finished_at = now()
        self.line(f"== {self.status.state.value}")
        self.save()

    def skip(self, key: str, why: str) -> None:
        step = self.status.step(key)
        step.state, step.detail = StepState.SKIPPED, why
        self.line(f"== {step.title}: skipped ({why})")
        self.save()


class Aborted(KgopError):
    """The user aborted the upgrade before anything changed."""


def check_abort(files: UpgradeFiles) -> None:
    if files.abort.exists():
        raise Aborted(
            "The upgrade was aborted before anything changed", hint="run it again when ready"
        )


@contextlib.contextmanager
def hold_lock(files: UpgradeFiles) -> Iterator[None]:
    files.prepare()
    handle = open(files.lock, "a+")  # noqa: SIM115 - held for the whole run
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(
                "An upgrade or a restore is running",
                hint="follow an upgrade with `kgop upgrade --status`",
            ) from None
        yield
    finally:
        handle.close()


def new_run_id() -> str:
    return f"{now():%Y%m%dT%H%M%SZ}-{os.getpid()}"


def request_abort(files: UpgradeFiles) -> UpgradeStatus:
    status = read_status(files)
    if status is None or status.state is not RunState.RUNNING:
        raise OperationFailed(
            "No upgrade is running", hint="`kgop upgrade --status` shows the last one"
        )
    if status.passed_point_of_no_return:
        raise RefusedForSafety(
            "The upgrade has passed the point of no return; it finishes or rolls back on its own",
            hint="follow it with `kgop upgrade --status`",
        )
    files.abort.touch()
    return status
