"""Top-level statements of an SQL script, the way psql splits them.

Only what the migration runner needs: where each top-level statement starts and ends and
its first keywords, so that a file's own transaction control (``BEGIN`` ... ``COMMIT``)
can be found, and taken out for a dry run. Quotes, ``E''`` strings, quoted identifiers,
dollar quotes (``$$`` and ``$tag$``), ``--`` and nested ``/* */`` comments, and the
``BEGIN ATOMIC ... END`` bodies of SQL-standard functions are skipped as psql skips them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Identifier characters as Postgres's lexer has them: ASCII letters, '_' and every
# non-ASCII character (digits and '$' after the first). Written as what they exclude: a
# class spanning U+0080..U+FFFF takes Python's regex compiler tens of milliseconds to build,
# paid by every verb that reads migration files.
_IDENT_START = r"[^\x00-\x40\x5b-\x5e\x60\x7b-\x7f]"
_IDENT_PART = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"
_IDENT_PART_OR_DOLLAR = r"[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"
_DOLLAR_TAG = re.compile(rf"\$(?:{_IDENT_START}{_IDENT_PART}*)?\$")
_OPENERS = frozenset({"--", "/*", "'", '"', "$"})
# What can open a comment, a string or a dollar quote, or end a statement ...
_TOKEN = re.compile(r"--|/\*|['\";$]")
# ... a backslash (outside quotes: one of psql's own commands) ...
_TOKEN_OR_BACKSLASH = re.compile(r"--|/\*|['\";$\\]")
# ... and, where words matter, words too.
_TOKEN_OR_WORD = re.compile(rf"--|/\*|['\";$]|{_IDENT_START}{_IDENT_PART_OR_DOLLAR}*")
_STARTS = frozenset({"BEGIN", "START"})
_ENDS = frozenset({"COMMIT", "END", "ROLLBACK", "ABORT"})


@dataclass(frozen=True)
class Statement:
    """One top-level statement: ``sql[start:end]`` (with its ``;``), first keywords."""

    start: int
    end: int
    first: int
    """Offset of its first keyword (after any leading comments)."""
    words: tuple[str, ...]

    @property
    def opens_transaction(self) -> bool:
        head = self.words[:2]
        return bool(head) and (
            head[0] == "BEGIN" or (head[0] == "START" and head[1:] == ("TRANSACTION",))
        )

    @property
    def ends_transaction(self) -> bool:
        """COMMIT/END/ROLLBACK/ABORT, but not ROLLBACK TO (a savepoint) or ... PREPARED."""
        head = self.words[:2]
        return bool(head) and head[0] in _ENDS and head[1:2] not in (("TO",), ("PREPARED",))

    @property
    def controls_transaction(self) -> bool:
        return self.opens_transaction or self.ends_transaction


def _skip_string(sql: str, i: int, backslash: bool) -> int:
    """Index after the string literal opening at ``sql[i] == "'"``."""
    j, n = i + 1, len(sql)
    while j < n:
        c = sql[j]
        if backslash and c == "\\":
            j += 2
            continue
        if c == "'":
            if j + 1 < n and sql[j + 1] == "'":
                j += 2
                continue
            return j + 1
        j += 1
    return n


def _skip_block_comment(sql: str, i: int) -> int:
    depth, j, n = 0, i, len(sql)
    while j < n:
        if sql.startswith("/*", j):
            depth += 1
            j += 2
        elif sql.startswith("*/", j):
            depth -= 1
            j += 2
            if depth == 0:
                return j
        else:
            j += 1
    return n


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c in "_$"


def _skip_quoted(sql: str, i: int) -> int | None:
    """Index after a comment, string, quoted identifier or dollar quote at ``i``; else None."""
    c = sql[i]
    if c == "-" and sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end
    if c == "/" and sql.startswith("/*", i):
        return _skip_block_comment(sql, i)
    if c == "'":
        escape = i > 0 and sql[i - 1] in "eE" and (i < 2 or not _is_word_char(sql[i - 2]))
        return _skip_string(sql, i, escape)
    if c == '"':
        end = i + 1
        while True:
            end = sql.find('"', end)
            if end < 0:
                return len(sql)
            if not sql.startswith('""', end):
                return end + 1
            end += 2
    if c == "$" and (i == 0 or not _is_word_char(sql[i - 1])):
        match = _DOLLAR_TAG.match(sql, i)
        if match:
            end = sql.find(match.group(), match.end())
            return len(sql) if end < 0 else end + len(match.group())
    return None


def statements(sql: str) -> list[Statement]:
    """The top-level statements of ``sql`` in order (empty ones left out).

    The scan jumps from one token that matters to the next with a regular expression (in C),
    not a character at a time: ``kgop migrate status`` reads every file on each call. Words
    matter only at a statement's start, and throughout a ``CREATE`` (``BEGIN ATOMIC``).
    """
    found: list[Statement] = []
    start, i, n = 0, 0, len(sql)
    head: list[str] = []  # the statement's first three words
    last = ""
    first = 0
    atomic = 0  # depth inside BEGIN ATOMIC ... END, where ';' does not end the statement
    while i < n:
        wants_words = len(head) < 3 or head[0] == "CREATE"
        token = (_TOKEN_OR_WORD if wants_words else _TOKEN).search(sql, i)
        if token is None:
            break
        at, text = token.start(), token.group()
        if text == ";":
            if atomic == 0:
                if head:
                    found.append(Statement(start, at + 1, first, tuple(head)))
                start, head, last = at + 1, [], ""
            i = at + 1
            continue
        if text in _OPENERS:
            skipped = _skip_quoted(sql, at)
            i = skipped if skipped is not None else at + 1
            continue
        word = text.upper()
        if atomic == 0 and word == "ATOMIC" and last == "BEGIN" and head[:1] == ["CREATE"]:
            atomic = 1
        elif atomic and word == "CASE":
            atomic += 1
        elif atomic and word == "END":
            atomic -= 1
        if not head:
            first = at
        if len(head) < 3:
            head.append(word)
        last = word
        i = token.end()
    if head:
        found.append(Statement(start, n, first, tuple(head)))
    return found


def controls_transaction(sql: str) -> int | None:
    """Line of the first top-level BEGIN/COMMIT/ROLLBACK, or None when there is none."""
    for statement in statements(sql):
        if statement.controls_transaction:
            return sql.count("\n", 0, statement.first) + 1
    return None


def without_transaction_control(sql: str) -> str:
    """``sql`` with its top-level transaction control blanked out (same length and lines).

    Positions in Postgres's error reports stay valid for the original file.
    """
    chars = list(sql)
    for statement in statements(sql):
        if statement.controls_transaction:
            for k in range(statement.start, statement.end):
                if chars[k] != "\n":
                    chars[k] = " "
    return "".join(chars)


def insertion_point(sql: str) -> int | None:
    """Where a statement can join the file's own final transaction: before its COMMIT.

    Only when the file's last statement is COMMIT/END; None otherwise.
    """
    found = statements(sql)
    if not found or not found[-1].ends_transaction or found[-1].words[0] not in ("COMMIT", "END"):
        return None
    return found[-1].start


def meta_command(sql: str) -> tuple[int, str] | None:
    """Line and text of the first psql command (``\\set``, ``\\i``, ``\\gexec`` ...) outside
    quotes, comments and dollar quotes; None when there is none. psql runs those itself; a
    server sent them reads a syntax error, so kgop refuses such a file up front."""
    i, n = 0, len(sql)
    while i < n:
        token = _TOKEN_OR_BACKSLASH.search(sql, i)
        if token is None:
            return None
        at, text = token.start(), token.group()
        if text == "\\":
            end = sql.find("\n", at)
            line = sql[at : end if end >= 0 else n].split()[0]
            return sql.count("\n", 0, at) + 1, line
        skipped = _skip_quoted(sql, at) if text in _OPENERS else None
        i = skipped if skipped is not None else at + 1
    return None
