"""One log line as the log view draws it: the service's name in its colour, the
timestamp when shown, stderr in red, search hits (and the current hit) reversed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style

# 16-colour safe: readable with TERM=xterm and no COLORTERM, and in truecolor.
PALETTE = ("cyan", "yellow", "green", "magenta", "blue", "bright_cyan", "bright_yellow",
           "bright_green", "bright_magenta", "bright_blue")  # fmt: skip


def line_segments(
    raw: str,
    meta: int,
    names: Sequence[str],
    *,
    timestamps: bool,
    search: Any,
    current: bool,
) -> list[Segment]:
    """``raw`` is the engine's "TIMESTAMP message"; ``meta`` is service index × 2 + stream
    (1 = stderr); ``search`` an RE2 pattern whose hits are marked, or None."""
    stamp, _, message = raw.partition(" ")
    message = message.expandtabs()
    name = names[meta // 2]
    colour = PALETTE[(meta // 2) % len(PALETTE)]
    segments = []
    if len(names) > 1:
        width = max(map(len, names))
        segments.append(Segment(f"{name:<{width}} │ ", Style(color=colour, bold=True)))
    if timestamps:
        segments.append(Segment(stamp[:23].replace("T", " ") + " ", Style(dim=True)))
    base = Style(color="red") if meta % 2 else Style()
    if current:
        base += Style(reverse=True)
    if search is None:
        segments.append(Segment(message, base))
        return segments
    position = 0
    for match in search.finditer(message):
        if match.end() == match.start():
            break
        segments.append(Segment(message[position : match.start()], base))
        segments.append(Segment(match.group(), base + Style(reverse=True, bold=True)))
        position = match.end()
    segments.append(Segment(message[position:], base))
    return segments
