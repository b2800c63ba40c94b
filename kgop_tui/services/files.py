"""Atomic file writes for secrets: 0600, temp file + fsync + rename, never half-written."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from kgop_tui.errors import ConfigInvalid, OperationFailed

_SAFE_VALUE = re.compile(r"[A-Za-z0-9_@%+=:,./-]*")


def write_secret_file(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` atomically with ``data``; the file is ``mode`` from its first byte."""
    directory = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OperationFailed(
            f"Cannot write {path}: {exc.strerror}", hint="check the folder's owner and free space"
        ) from None
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _quote(value: str) -> str:
    if _SAFE_VALUE.fullmatch(value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    escaped = escaped.replace("$", "\\$")
    return '"' + escaped + '"'


def update_env_file(path: Path, updates: Mapping[str, str | None]) -> None:
    """Set (or, with None, remove) keys of a ``.env`` file, keeping every other line.

    The file is rewritten atomically with mode 0600, so an interruption leaves either the
    old or the new file, never a mix.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    except OSError as exc:
        raise ConfigInvalid(f"Cannot read {path}: {exc.strerror}", hint="check its mode") from None
    remaining = dict(updates)
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        body = stripped.removeprefix("export ").lstrip()
        key = body.partition("=")[0].strip()
        if stripped and not stripped.startswith("#") and "=" in body and key in remaining:
            value = remaining.pop(key)
            if value is not None:
                out.append(f"{key}={_quote(value)}")
            continue
        out.append(line)
    for key, value in remaining.items():
        if value is not None:
            out.append(f"{key}={_quote(value)}")
    write_secret_file(path, ("\n".join(out) + "\n").encode("utf-8"))


def save_log_lines(kg_home: Path, lines: list[str], now: str) -> Path:
    """Write lines to ``KG_HOME/logs/kgop-logs-NOW.log`` (0600: logs can hold secrets)."""
    folder = kg_home / "logs"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / f"kgop-logs-{now}.log"
    write_secret_file(target, ("\n".join(lines) + "\n").encode("utf-8"))
    return target
