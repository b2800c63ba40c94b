"""Log stream decoding, filtering and formatting (no engine)."""

from __future__ import annotations

import io
import struct
from datetime import UTC, datetime

import pytest

from kgop_tui.commands.engine import _Printer
from kgop_tui.errors import UsageError
from kgop_tui.services.docker.logs import (
    TRUNCATED,
    Demuxer,
    LogChunk,
    LogFilter,
    LogLine,
    parse_since,
    sort_key,
)

TS = "2026-11-26T10:00:00.123456789Z"


def frame(text: str, stream: int = 1) -> bytes:
    data = text.encode()
    return struct.pack(">BxxxL", stream, len(data)) + data


def test_frames_split_across_reads_are_reassembled() -> None:
    demux = Demuxer("api", 8192)
    data = frame(f"{TS} first\n") + frame(f"{TS} second\n")
    out = demux.feed(data[:5]) + demux.feed(data[5:20]) + demux.feed(data[20:])
    lines = [line for chunk in out for line in chunk.lines()]
    assert [line.text for line in lines] == ["first", "second"]
    assert lines[0] == LogLine("api", 1, TS, "first")


def test_stdout_and_stderr_keep_their_order() -> None:
    demux = Demuxer("api", 8192)
    chunks = demux.feed(frame(f"{TS} a\n") + frame(f"{TS} b\n", 2) + frame(f"{TS} c\n"))
    assert [(c.stream, c.text.split(" ", 1)[1]) for c in chunks] == [
        (1, "a\n"), (2, "b\n"), (1, "c\n")
    ]  # fmt: skip


def test_split_long_line_is_joined_then_truncated() -> None:
    demux = Demuxer("api", 100)
    # The engine splits long lines into messages with a timestamp each.
    out = demux.feed(frame(f"{TS} " + "x" * 150) + frame(f"{TS} " + "y" * 50 + "\n"))
    lines = [line for chunk in out for line in chunk.lines()]
    assert len(lines) == 1
    assert lines[0].text.endswith(TRUNCATED)
    assert "Z y" not in lines[0].text


def test_endless_line_is_cut_and_the_rest_discarded() -> None:
    demux = Demuxer("api", 100)
    out = demux.feed(frame(f"{TS} " + "z" * 500))
    out += demux.feed(frame(f"{TS} " + "z" * 500 + "\n") + frame(f"{TS} next\n"))
    texts = [line.text for chunk in out for line in chunk.lines()]
    assert len(texts) == 2
    assert texts[0].endswith(TRUNCATED)
    assert texts[1] == "next"


def test_filter_and_inverted_filter_look_at_the_message_only() -> None:
    chunk = LogChunk("api", 1, f"{TS} GET /health 200\n{TS} POST /graph 500\n")
    kept = LogFilter(r"^GET").apply(chunk)
    assert kept is not None
    assert [ln.text for ln in kept.lines()] == ["GET /health 200"]
    inverted = LogFilter("health", invert=True).apply(chunk)
    assert inverted is not None
    assert [ln.text for ln in inverted.lines()] == ["POST /graph 500"]
    assert LogFilter("2026").apply(chunk) is None  # the timestamp is not searched
    with pytest.raises(UsageError, match="not a valid regular expression"):
        LogFilter("(open")


def test_printer_prefixes_services_and_strips_timestamps() -> None:
    out = io.StringIO()
    printer = _Printer(["api", "postgres"], out, timestamps=False, colour=False)
    printer.write(
        [LogChunk("api", 1, f"{TS} one\n{TS} \n"), LogChunk("postgres", 2, f"{TS} two\n")]
    )
    assert out.getvalue() == "api      | one\napi      | \npostgres | two\n"
    stamped = io.StringIO()
    _Printer(["api"], stamped, timestamps=True, colour=False).write(
        [LogChunk("api", 1, f"{TS} x\n")]
    )
    assert stamped.getvalue() == f"{TS} x\n"


def test_since_accepts_durations_and_dates() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_since("10m", now) == now.timestamp() - 600
    assert parse_since("1d", now) == now.timestamp() - 86400
    assert parse_since("2026-11-26T11:00:00", now) == now.timestamp() - 3600
    with pytest.raises(UsageError):
        parse_since("yesterday", now)


def test_sort_key_orders_trimmed_nanoseconds() -> None:
    a, b = "2026-11-26T10:00:00.8359113Z", "2026-11-26T10:00:00.835911351Z"
    assert sort_key(a) < sort_key(b)


def test_a_catastrophic_pattern_over_a_long_line_returns_at_once() -> None:
    # With a backtracking engine `(\w+\s?)*$` over 'aaa…a!' runs for longer than the age of
    # the universe; RE2 answers in linear time. Run in a child process with a deadline, so a
    # regression fails here instead of hanging the suite.
    import subprocess
    import sys

    probe = (
        "from kgop_tui.logtypes import LogChunk, LogFilter\n"
        "line = '2026-11-26T10:00:00Z ' + 'a' * 200_000 + '!\\n'\n"
        "kept = LogFilter(r'(\\w+\\s?)*$').apply(LogChunk('api', 1, line))\n"
        "print('kept' if kept else 'dropped')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kept"  # the empty match at the end, as Python's re finds


def test_patterns_re2_cannot_run_are_refused_in_one_line() -> None:
    with pytest.raises(UsageError, match="not a valid regular expression") as caught:
        LogFilter(r"(a)\1")
    assert "backreferences and lookaround are not supported" in (caught.value.hint or "")
    assert "\n" not in caught.value.one_line()


def test_log_text_cannot_control_the_terminal() -> None:
    hostile = f"{TS} \x1b[2J\x1b[31mred\x1b[0m \x1b]0;owned\x07title\rback\x08 tab\tok\n"
    out = io.StringIO()  # a terminal, a pipe or a file: read on a terminal sooner or later
    _Printer(["api"], out, timestamps=False, colour=False).write([LogChunk("api", 1, hostile)])
    assert out.getvalue() == "red titleback tab\tok\n"
    raw = io.StringIO()  # --raw: the bytes as the container wrote them
    _Printer(["api"], raw, timestamps=False, colour=False, raw=True).write(
        [LogChunk("api", 1, hostile)]
    )
    assert "\x1b[31m" in raw.getvalue()
