"""The dump's list a restore hands pg_restore, and the line of a tool's output kgop quotes."""

from __future__ import annotations

import base64
import hashlib
import hmac

from kgop_tui.services.backups.restore_role import restore_list, scram_verifier
from kgop_tui.services.database.pg_tools import tool_error

TOC = """;
; Selected TOC Entries:
;
7; 2615 16385 SCHEMA - ag_catalog postgres
9; 2615 17007 SCHEMA - kg_api postgres
2; 3079 16386 EXTENSION - age 
4165; 0 0 COMMENT - EXTENSION age 
3; 3079 16390 EXTENSION - pg_trgm 
4166; 0 0 COMMENT - EXTENSION pg_trgm 
796; 1255 17964 FUNCTION ag_catalog archive_old_jobs(integer) postgres
4397; 0 17260 TABLE DATA ag_catalog ag_graph postgres
"""  # noqa: W291 — pg_restore -l ends an entry without owner with a space


def test_the_list_leaves_out_only_what_kgop_creates_for_age() -> None:
    kept, has_age = restore_list(TOC)
    assert has_age
    lines = kept.splitlines()
    assert not any(" SCHEMA - ag_catalog " in line or "EXTENSION - age" in line for line in lines)
    # Everything else stays: other extensions (the server refuses an untrusted one), the
    # platform's functions in ag_catalog, AGE's catalog rows.
    for entry in (
        "SCHEMA - kg_api",
        "EXTENSION - pg_trgm",
        "COMMENT - EXTENSION pg_trgm",
        "FUNCTION ag_catalog archive_old_jobs",
        "TABLE DATA ag_catalog ag_graph",
    ):
        assert any(entry in line for line in lines), entry  # fmt: skip


def test_a_dump_without_age_keeps_its_list_whole() -> None:
    toc = "9; 2615 17007 SCHEMA - ag_catalog postgres\n9; 2615 17008 SCHEMA - kg_api postgres\n"
    assert restore_list(toc) == (toc, False)


def test_the_verifier_is_what_the_server_checks_a_scram_login_against() -> None:
    verifier = scram_verifier("s3cret")
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored, server = keys.split(":")
    assert method == "SCRAM-SHA-256"
    assert iterations == "4096"
    salted = hashlib.pbkdf2_hmac("sha256", b"s3cret", base64.b64decode(salt), 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    assert base64.b64decode(stored) == hashlib.sha256(client_key).digest()
    assert base64.b64decode(server) == hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    assert "s3cret" not in verifier
    assert scram_verifier("s3cret") != verifier  # a new salt each time


def test_the_server_error_is_quoted_not_where_it_happened() -> None:
    stderr = (
        "pg_restore: error: could not execute query: ERROR:  must be superuser to create "
        'superusers\nCONTEXT:  SQL statement "CREATE ROLE x SUPERUSER"\n'
        "Command was: REFRESH MATERIALIZED VIEW kg_api.counts;\n\n"
    )
    assert tool_error(stderr).endswith("must be superuser to create superusers")
    assert tool_error("pg_dump: error: connection to server failed\n").startswith("pg_dump: error")
    assert tool_error("something\nlast words\n") == "last words"
    assert tool_error("") == "no output"
