"""Atomic file writes for secrets: 0600, temp file + fsync + rename, never half-written.

``.env`` has one writer: :func:`update_env_file`, under ``KG_HOME/.env.lock`` (install.sh
writes through it too, in an operator container), so two writers never lose each other's
change.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from kgop_tui.errors import ConfigInvalid, OperationFailed, RefusedForSafety

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


ENV_LOCK = ".env.lock"
_held: dict[tuple[str, int], tuple[int, int]] = {}
"""(lock path, thread) -> (fd, depth): re-entrant in one thread; other threads of the process
take the lock on their own descriptor, and flock makes them wait like another process."""


@contextlib.contextmanager
def env_lock(kg_home: Path, timeout: float = 30.0) -> Iterator[None]:
    """Hold ``KG_HOME/.env.lock`` (exclusive, across processes and containers)."""
    path = str(kg_home / ENV_LOCK)
    key = (path, threading.get_ident())
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            _held[key] = (fd, _held[key][1] - 1)
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise OperationFailed(
            f"Cannot open {path}: {exc.strerror}", hint="check the owner of KG_HOME"
        ) from None
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RefusedForSafety(
                        f"Another kgop or install.sh is writing {kg_home / '.env'}",
                        hint="wait for it to finish, then try again",
                    ) from None
                time.sleep(0.05)
        _held[key] = (fd, 1)
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)


def _line_key(line: str) -> str | None:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return None
    body = stripped.removeprefix("export ").lstrip()
    if "=" not in body:
        return None
    return body.partition("=")[0].strip()


def _line_value(line: str) -> str | None:
    from kgop_tui.settings import parse_env_text

    try:
        entries = parse_env_text(line)
    except ConfigInvalid:
        return None
    return next(iter(entries.values())).value if entries else None


def update_env_file(path: Path, updates: Mapping[str, str | None]) -> bool:
    """Set (or, with None, remove) keys of a ``.env`` file, keeping every other line.

    Lines of keys not in ``updates`` are kept byte for byte, in order, and so is the line of
    a key whose value does not change (``export``, quoting and a trailing comment
    included). The file is rewritten atomically with mode 0600 under the ``.env`` lock, so
    an interruption leaves either the old or the new file, never a mix. Returns whether
    the file changed.
    """
    with env_lock(path.parent):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            raise ConfigInvalid(
                f"Cannot read {path}: {exc.strerror}", hint="check its mode"
            ) from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigInvalid(f"{path} is not UTF-8 text", hint="re-save it as UTF-8") from None
        lines = text.splitlines(keepends=True)
        remaining = dict(updates)
        out: list[str] = []
        for line in lines:
            key = _line_key(line)
            if key is None or key not in remaining:
                out.append(line)
                continue
            value = remaining.pop(key)
            if value is None:
                continue
            if _line_value(line) == value:
                out.append(line)
                continue
            prefix = "export " if line.lstrip().startswith("export ") else ""
            out.append(f"{prefix}{key}={_quote(value)}\n")
        if out and not out[-1].endswith("\n") and remaining:
            out[-1] += "\n"
        for key, value in remaining.items():
            if value is not None:
                out.append(f"{key}={_quote(value)}\n")
        new = "".join(out).encode("utf-8")
        if new == data and path.exists():
            return False
        write_secret_file(path, new)
        return True


def save_log_lines(kg_home: Path, lines: list[str], now: str) -> Path:
    """Write lines to ``KG_HOME/logs/kgop-logs-NOW.log`` (0600: logs can hold secrets)."""
    folder = kg_home / "logs"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / f"kgop-logs-{now}.log"
    write_secret_file(target, ("\n".join(lines) + "\n").encode("utf-8"))
    return target


def add_encryption_keys(path: Path, retired: list[str], primary: str | None = None) -> int:
    """Keep ``retired`` keys in ``.env``'s ENCRYPTION_KEYS_PREVIOUS (and, with ``primary``,
    make it ENCRYPTION_KEY, the key it replaces joining the retired ones).

    The file is re-read under its lock and the retired keys only ever grow (a union): a
    restore that adds a backup's key beside a rotation that retires the current one keeps
    both. Returns how many keys joined ENCRYPTION_KEYS_PREVIOUS.
    """
    from kgop_tui.settings import read_env_file

    with env_lock(path.parent):
        values = {k: e.value for k, e in read_env_file(path).items()} if path.exists() else {}
        current = values.get("ENCRYPTION_KEY", "").strip()
        held = [k.strip() for k in values.get("ENCRYPTION_KEYS_PREVIOUS", "").split(",")]
        held = [k for k in held if k]
        keep = [*held, *retired]
        updates: dict[str, str | None] = {}
        head = current
        if primary is not None and primary != current:
            keep.append(current)
            updates["ENCRYPTION_KEY"] = head = primary
        union = [k for k in dict.fromkeys(keep) if k and k != head]
        updates["ENCRYPTION_KEYS_PREVIOUS"] = ",".join(union)
        update_env_file(path, updates)
    return len(set(union) - set(held))
