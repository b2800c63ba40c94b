"""One log line as the log view draws it: the service's name in its colour, the
timestamp when shown, stderr in red, search hits (and the current hit) reversed; and the
rows of wrapped lines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

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


def _height(strip: Strip, width: int) -> int:
    return max(1, -(-strip.cell_length // width))


def wrap_start(
    height: int, rows: int, width: int, strip_of: Callable[[int], Strip | None]
) -> tuple[int, int]:
    """The first row of a wrapped view laid out from its last line up (following), and how
    many of that line's rows are above the view: the newest line ends at the bottom however
    many rows the lines above it take."""
    taken, row = 0, rows - 1
    while row >= 0:
        strip = strip_of(row)
        assert strip is not None
        taken += _height(strip, width)
        if taken >= height:
            return row, taken - height
        row -= 1
    return 0, 0


def wrapped_row(
    y: int,
    width: int,
    style: Style,
    height: int,
    rows: int,
    first: int | None,
    strip_of: Callable[[int], Strip | None],
) -> Strip:
    """Row ``y`` of a view of ``rows`` lines wrapped at ``width``, starting at the line
    ``first`` (None: laid out so that the last line ends at the bottom)."""
    if width <= 0:
        return Strip.blank(width, style)
    row, remaining = (first, 0) if first is not None else wrap_start(height, rows, width, strip_of)
    remaining += y
    while True:
        strip = strip_of(row)
        if strip is None:
            return Strip.blank(width, style)
        lines = _height(strip, width)
        if remaining < lines:
            start = remaining * width
            return strip.crop_extend(start, start + width, style)
        remaining -= lines
        row += 1
