"""What the TUI's workers tell its screens: typed Textual messages.

Workers and service threads never touch widgets. They post one of these to their screen
(``post_message`` is thread-safe and does not wait for the UI), and the screen's handler
turns it into reactive state, which its widgets show. A burst of messages that only the
newest matters for (a status snapshot, a service's stats sample, an upgrade's progress)
is coalesced: ``can_replace`` lets the queue drop the older one when a newer is waiting.
"""

from __future__ import annotations

from textual.message import Message

from kgop_tui.errors import KgopError
from kgop_tui.models import UpgradeStatus
from kgop_tui.project import ProjectStatus


class StatusChanged(Message):
    """The compose project's status after a change (events or a reconcile)."""

    def __init__(self, status: ProjectStatus) -> None:
        super().__init__()
        self.status = status

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatusChanged)


class EngineDown(Message):
    """The Docker engine cannot be reached (the watcher keeps retrying)."""

    def __init__(self, error: KgopError) -> None:
        super().__init__()
        self.error = error

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EngineDown | StatusChanged)


class StatsSampled(Message):
    """One stats sample of one service (CPU, memory, network and block I/O figures)."""

    def __init__(self, service: str, figures: dict[str, float]) -> None:
        super().__init__()
        self.service = service
        self.figures = figures

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatsSampled) and message.service == self.service


class HostFactsRead(Message):
    """The Health screen's header line: disk, database size, newest backup."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class UpgradeProgress(Message):
    """The running (or last) upgrade's status (None: there has been none), with its log
    lines from ``from_offset`` to ``offset``; ``error`` when the status could not be read.
    ``first``: read when the screen opened (to reattach, or to plan a new upgrade)."""

    def __init__(
        self,
        status: UpgradeStatus | None,
        lines: list[str],
        from_offset: int,
        offset: int,
        error: KgopError | None = None,
        first: bool = False,
    ) -> None:
        super().__init__()
        self.status = status
        self.lines = lines
        self.from_offset = from_offset
        self.offset = offset
        self.error = error
        self.first = first
