"""The error hierarchy of kgop and the exit codes every verb follows.

Every expected failure is a :class:`KgopError`: one sentence saying what happened and a
hint saying what to do. The CLI turns it into a single stderr line and its exit code;
the TUI shows it in a notification. Exit codes (documented in the README):

- 0 ok
- 1 the operation failed
- 2 usage or bad input
- 3 a dependency is unreachable (Docker engine, Postgres)
- 4 refused for safety (lock held, checksum drift, destructive action without --yes)
"""

from __future__ import annotations

import re
from enum import IntEnum

from kgop_tui.text import clean


class ExitCode(IntEnum):
    """Process exit codes of kgop and operator.sh."""

    OK = 0
    FAILED = 1
    USAGE = 2
    UNAVAILABLE = 3
    REFUSED = 4


class KgopError(Exception):
    """Base of every expected failure: a message, a hint and an exit code."""

    exit_code: ExitCode = ExitCode.FAILED
    title: str = "Operation failed"

    def __init__(self, message: str, hint: str | None = None) -> None:
        # Messages quote the engine, Postgres and containers: never their escape sequences.
        message = clean(message)
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else clean(hint)

    def one_line(self) -> str:
        """The message and hint as one line, for stderr and logs."""
        text = self.message.rstrip(".") + "."
        if self.hint:
            text += f" Hint: {self.hint.rstrip('.')}."
        return text


class UsageError(KgopError):
    """Bad arguments or bad input given by the user."""

    exit_code = ExitCode.USAGE
    title = "Invalid input"


class ConfigInvalid(UsageError):
    """Configuration (``.env``, settings) that cannot be used as it is."""

    title = "Invalid configuration"


class UnknownService(UsageError):
    """A service name that is not part of the compose project."""

    title = "Unknown service"


class DependencyUnavailable(KgopError):
    """Something kgop needs cannot be reached."""

    exit_code = ExitCode.UNAVAILABLE
    title = "Dependency unreachable"


class DockerUnavailable(DependencyUnavailable):
    """The Docker engine cannot be reached."""

    title = "Docker engine unreachable"


class DatabaseUnavailable(DependencyUnavailable):
    """Postgres cannot be reached or refuses the connection."""

    title = "Database unreachable"


class OperationFailed(KgopError):
    """An operation ran and failed."""


class ComposeFailed(OperationFailed):
    """A ``docker compose`` command failed; the message carries compose's own error."""

    title = "Compose command failed"


class MigrationFailed(OperationFailed):
    """A migration file failed and was rolled back."""

    title = "Migration failed"


class RefusedForSafety(KgopError):
    """kgop refused to act because acting could lose data or race another run."""

    exit_code = ExitCode.REFUSED
    title = "Refused for safety"


class LockHeld(RefusedForSafety):
    """Another run holds the lock and did not release it in time."""

    title = "Lock held"


class ChecksumDrift(RefusedForSafety):
    """An applied migration file changed after it was applied."""

    title = "Checksum drift"


# What an unexpected exception may show a user: its type and message, with anything shaped
# like a credential masked (a URL's password, a provider key, a NAME=value whose name looks
# secret), never a traceback (whose locals may hold secrets).
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s@/]+@", re.IGNORECASE)
_PROVIDER_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}")
_SECRET_SETTING = re.compile(
    r"\b([A-Za-z0-9_]*(?:PASSWORD|SECRET|TOKEN|KEY)(?:_\w+)?\s*[=:]\s*)(['\"]?)[^\s'\"]+\2",
    re.IGNORECASE,
)
MAX_DESCRIPTION = 2000


def describe_unexpected(error: BaseException) -> str:
    """``Type: message`` of an exception nobody expected, safe to show and to copy."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    text = _URL_PASSWORD.sub(r"\1[redacted]@", text)
    text = _PROVIDER_KEY.sub("[redacted]", text)
    text = _SECRET_SETTING.sub(r"\1[redacted]", text)
    if len(text) > MAX_DESCRIPTION:
        text = text[:MAX_DESCRIPTION] + "…"
    return text
