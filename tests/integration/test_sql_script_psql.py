"""The SQL splitter against psql itself: each script of the splitter's table run with
``psql -f``, every statement psql sends to the server read back from its session log, and
compared with the splitter's statements (psql also sends empty statements and drops ``--``
comments; neither changes what the server runs, so both sides are compared without them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kgop_tui.services.database.sql_script import controls_transaction, statements
from tests.unit.test_sql_script import SPLITS, TRANSACTIONS

_LOGGED = re.compile(r"\*{9} QUERY \*{10}\n(.*?)\n\*{26}\n", re.S)


def _same_for_the_server(texts: list[str]) -> list[str]:
    """Without ``--`` comments, runs of blanks, and statements left empty by that."""
    bare = (re.sub(r"\s+", " ", re.sub(r"--[^\n]*", "", t)).strip() for t in texts)
    return [t for t in bare if t not in ("", ";")]


def psql_sends(sql: str, postgres: str, tmp_path: Path) -> list[str]:
    """The statements ``psql -f`` sends to the server for ``sql``, from its session log."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed")
    script, log = tmp_path / "script.sql", tmp_path / "session.log"
    script.write_text(sql)
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=0", "-o", "/dev/null", "-L", str(log),
         "-d", postgres, "-f", str(script)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    sent = _LOGGED.findall(log.read_text())
    assert sent, log.read_text()
    return sent


@pytest.mark.parametrize(
    ("sql", "expected"), [(s, e) for _, s, e in SPLITS], ids=[c[0] for c in SPLITS]
)
def test_the_splitter_sends_what_psql_sends(
    sql: str, expected: list[str], postgres: str, tmp_path: Path
) -> None:
    sent = psql_sends(sql, postgres, tmp_path)
    ours = [sql[s.start : s.end] for s in statements(sql)]
    assert _same_for_the_server(ours) == _same_for_the_server(sent)
    assert _same_for_the_server(expected) == _same_for_the_server(sent)


@pytest.mark.parametrize(
    ("sql", "line"), [c[1:3] for c in TRANSACTIONS], ids=[c[0] for c in TRANSACTIONS]
)
def test_transaction_control_is_what_psql_sends_as_a_statement(
    sql: str, line: int | None, postgres: str, tmp_path: Path
) -> None:
    """A file controls its own transaction exactly when psql sends a BEGIN (or START
    TRANSACTION) of its own, not one inside a body."""
    sent = _same_for_the_server(psql_sends(sql, postgres, tmp_path))
    opens = [s for s in sent if re.match(r"(BEGIN|START TRANSACTION)\s*;", s, re.I)]
    assert (controls_transaction(sql) is not None) == bool(opens)
