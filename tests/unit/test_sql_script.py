"""The SQL splitter against psql's own reading of a script.

Each case is a script and the statements psql sends for it (``psql -f``: top-level ``;``
ends a statement; quotes, ``E''`` strings, quoted identifiers, dollar quotes, comments and
``BEGIN ATOMIC`` bodies hide theirs).
"""

from __future__ import annotations

import pytest

from kgop_tui.services.database.sql_script import (
    controls_transaction,
    insertion_point,
    meta_command,
    statements,
    without_transaction_control,
)

SPLITS = [
    ("plain", "SELECT 1; SELECT 2;", ["SELECT 1;", "SELECT 2;"]),
    ("no final semicolon", "SELECT 1;\nSELECT 2", ["SELECT 1;", "SELECT 2"]),
    ("empty statements", ";;SELECT 1;;", ["SELECT 1;"]),
    ("string", "SELECT 'a;b'; SELECT 2;", ["SELECT 'a;b';", "SELECT 2;"]),
    ("doubled quote", "SELECT 'it''s;'; SELECT 2;", ["SELECT 'it''s;';", "SELECT 2;"]),
    ("E string", r"SELECT E'it\'s;'; SELECT 2;", [r"SELECT E'it\'s;';", "SELECT 2;"]),
    ("e string", r"SELECT e'\\'; SELECT 2;", [r"SELECT e'\\';", "SELECT 2;"]),
    # A standard string: the backslash is a character, the quote after it ends the string.
    ("standard string", r"SELECT 'C:\'; SELECT 2;", [r"SELECT 'C:\';", "SELECT 2;"]),
    ("word ending in e", r"SELECT name'x\'; SELECT 2;", [r"SELECT name'x\';", "SELECT 2;"]),
    ("identifier", 'SELECT 1 AS "a;""b"; SELECT 2;', ['SELECT 1 AS "a;""b";', "SELECT 2;"]),
    (
        "line comment",
        "-- a; b\nSELECT 1; -- c;\nSELECT 2;",
        ["-- a; b\nSELECT 1;", "-- c;\nSELECT 2;"],
    ),
    ("nested block comment", "/* a; /* b; */ c; */ SELECT 1;", ["/* a; /* b; */ c; */ SELECT 1;"]),
    (
        "dollar quote",
        "DO $$ BEGIN PERFORM 1; END $$; SELECT 2;",
        ["DO $$ BEGIN PERFORM 1; END $$;", "SELECT 2;"],
    ),
    (
        "tagged dollar quote holding $$",
        "CREATE FUNCTION f() RETURNS text AS $fn$ SELECT $$;$$ $fn$ LANGUAGE sql; SELECT 2;",
        ["CREATE FUNCTION f() RETURNS text AS $fn$ SELECT $$;$$ $fn$ LANGUAGE sql;", "SELECT 2;"],
    ),
    (
        "parameter, not a quote",
        "PREPARE p AS SELECT $1; EXECUTE p(1);",
        ["PREPARE p AS SELECT $1;", "EXECUTE p(1);"],
    ),
    ("dollar inside a word", "SELECT a$b; SELECT 2;", ["SELECT a$b;", "SELECT 2;"]),
    (
        "BEGIN ATOMIC body",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN "
        "true THEN 2 END; END; SELECT 3;",
        [
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE "
            "WHEN true THEN 2 END; END;",
            "SELECT 3;",
        ],
    ),
    (
        "unterminated string runs to the end",
        "SELECT 1; SELECT 'open;",
        ["SELECT 1;", "SELECT 'open;"],
    ),
]


@pytest.mark.parametrize(
    ("sql", "expected"), [(s, e) for _, s, e in SPLITS], ids=[c[0] for c in SPLITS]
)
def test_statements_split_as_psql_splits(sql: str, expected: list[str]) -> None:
    assert [sql[s.start : s.end].strip() for s in statements(sql)] == expected


TRANSACTIONS = [
    ("own transaction", "BEGIN;\nCREATE TABLE t ();\nCOMMIT;\n", 1, True),
    ("start transaction", "-- x\nSTART TRANSACTION;\nSELECT 1;\nEND;\n", 2, True),
    ("BEGIN inside a DO body", "DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$;\n", None, False),
    (
        "BEGIN inside a function",
        "CREATE FUNCTION f() RETURNS void AS $$ BEGIN END $$ LANGUAGE plpgsql;",
        None,
        False,
    ),
    ("savepoint rollback is not an end", "SAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\n", None, False),
    ("commit prepared is not an end", "COMMIT PREPARED 'x';\n", None, False),
    ("rollback at the end", "BEGIN;\nSELECT 1;\nROLLBACK;\n", 1, False),
]


@pytest.mark.parametrize(
    ("sql", "line", "joinable"), [c[1:] for c in TRANSACTIONS], ids=[c[0] for c in TRANSACTIONS]
)
def test_transaction_control_is_found_at_the_top_level_only(
    sql: str, line: int | None, joinable: bool
) -> None:
    assert controls_transaction(sql) == line
    at = insertion_point(sql)
    assert (at is not None) == joinable
    if at is not None:
        assert sql[at:].strip().upper() in ("COMMIT;", "END;")


def test_transaction_control_is_blanked_keeping_every_position() -> None:
    sql = "BEGIN;\nCREATE TABLE t (v text DEFAULT 'BEGIN;');\nCOMMIT;\n"
    blank = without_transaction_control(sql)
    assert len(blank) == len(sql)
    assert blank.split("\n") == [
        "      ",
        "CREATE TABLE t (v text DEFAULT 'BEGIN;');",
        "       ",
        "",
    ]


META = [
    ("set", "SELECT 1;\n\\set ON_ERROR_STOP on\nSELECT 2;", (2, "\\set")),
    ("include", "\\i other.sql\n", (1, "\\i")),
    ("gexec after a query", "SELECT 'SELECT 1'\n\\gexec\n", (2, "\\gexec")),
    ("inside a string", "SELECT '\\n';", None),
    ("inside an E string", "SELECT E'\\\\';", None),
    ("inside a comment", "-- \\set x\n/* \\i y */ SELECT 1;", None),
    ("inside a dollar quote", "DO $$ BEGIN RAISE NOTICE '\\'; END $$;", None),
]


@pytest.mark.parametrize(("sql", "found"), [c[1:] for c in META], ids=[c[0] for c in META])
def test_psql_commands_are_found_outside_quotes_only(
    sql: str, found: tuple[int, str] | None
) -> None:
    assert meta_command(sql) == found
