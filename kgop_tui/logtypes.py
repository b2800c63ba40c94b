"""Log lines as the services hand them out and the TUI shows them: chunks of complete
lines, stream events, batches, the line filter and the timestamp helpers.

Plain Python with no engine or Textual import, so services, screens and widgets share these
types (the ports name them directly).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from kgop_tui.errors import UsageError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class LogLine(NamedTuple):
    """One log line: service, stream (1 stdout, 2 stderr), RFC 3339 timestamp, text."""

    service: str
    stream: int
    timestamp: str
    text: str


class LogChunk(NamedTuple):
    """Complete lines of one service and stream, each ``TIMESTAMP message\\n``."""

    service: str
    stream: int
    text: str

    def lines(self) -> list[LogLine]:
        service, stream = self.service, self.stream
        out = []
        for raw in self.text.split("\n")[:-1]:
            timestamp, _, message = raw.partition(" ")
            out.append(LogLine(service, stream, timestamp, message))
        return out

    def last_timestamp(self) -> str:
        start = self.text.rfind("\n", 0, len(self.text) - 1) + 1
        return self.text[start : self.text.find(" ", start)]


class StreamEvent(NamedTuple):
    """A service's stream ended (``ended``: its container stopped, it will reattach), was
    attached again (``reattached``) or stopped for good on an error (``failed``, the error's
    message as ``detail``)."""

    service: str
    kind: str
    detail: str = ""


class LogBatch:
    """Everything that arrived since the last batch, in order."""

    __slots__ = ("items",)

    def __init__(self, items: list[LogChunk | StreamEvent] | None = None) -> None:
        self.items: list[LogChunk | StreamEvent] = [] if items is None else items

    @property
    def chunks(self) -> list[LogChunk]:
        return [item for item in self.items if isinstance(item, LogChunk)]

    @property
    def events(self) -> list[StreamEvent]:
        return [item for item in self.items if isinstance(item, StreamEvent)]

    def lines(self) -> list[LogLine]:
        return [line for chunk in self.chunks for line in chunk.lines()]


def parse_since(text: str, now: datetime | None = None) -> float:
    """``10m``, ``2h``, ``1d``, ``90s`` (ago), a unix time, or an ISO date -> unix time."""
    now = now or datetime.now(UTC)
    value = text.strip()
    match = _DURATION.fullmatch(value)
    if match:
        ago = float(match.group(1)) * _UNITS[match.group(2)]
        return (now - timedelta(seconds=ago)).timestamp()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since {value!r} is neither a duration nor a date",
            hint="use e.g. 10m, 2h, 1d, or 2026-11-26T10:00:00",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def sort_key(timestamp: str) -> str:
    """Docker trims trailing zeros of the nanoseconds: pad them so strings sort by time."""
    head, dot, frac = timestamp.rstrip("Z").partition(".")
    return f"{head}.{frac:0<9}" if dot else f"{head}.000000000"


def timestamp_seconds(timestamp: str) -> float:
    head, _, frac = timestamp.rstrip("Z").partition(".")
    base = datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
    return base + float(f"0.{frac or '0'}")


def user_regex(pattern: str, what: str = "filter") -> Any:
    """A person's regular expression, compiled with RE2 (google-re2).

    Log lines come from the containers, so anyone who can write to a log chooses the text a
    pattern runs on: with Python's backtracking ``re``, ``(\\w+\\s?)*$`` over one long line
    runs for minutes. RE2 matches in linear time; the price is no backreferences and no
    lookaround, which are refused with a clear error.
    """
    import re2

    options = re2.Options()
    options.log_errors = False  # the error is ours to report, in one line
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise UsageError(
            f"The {what} {pattern!r} is not a valid regular expression: {reason}",
            hint="escape special characters such as ( [ . * with a backslash; backreferences "
            "and lookaround are not supported (RE2 syntax, which never hangs on a long line)",
        ) from None


class LogFilter:
    """A regular expression the message must match (or, inverted, must not)."""

    def __init__(self, pattern: str | None, invert: bool = False) -> None:
        self._regex = user_regex(pattern) if pattern else None
        self.invert = invert
        self.pattern = pattern

    @property
    def active(self) -> bool:
        return self._regex is not None

    def keep(self, text: str) -> bool:
        if self._regex is None:
            return True
        return (self._regex.search(text) is None) is self.invert

    def apply(self, chunk: LogChunk) -> LogChunk | None:
        """The chunk with only the lines that pass; None when none do."""
        if self._regex is None:
            return chunk
        search, invert = self._regex.search, self.invert
        kept = [
            raw
            for raw in chunk.text.split("\n")[:-1]
            if (search(raw[raw.find(" ") + 1 :]) is None) is invert
        ]
        if not kept:
            return None
        return LogChunk(chunk.service, chunk.stream, "\n".join(kept) + "\n")
