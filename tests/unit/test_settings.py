"""Settings: .env parsing, precedence, and the errors a user sees for a bad .env."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgop_tui.errors import ConfigInvalid, ExitCode
from kgop_tui.settings import load_settings, parse_env_text


def write_env(home: Path, text: str) -> None:
    (home / ".env").write_text(text)


def test_env_file_values_are_read(tmp_path: Path) -> None:
    write_env(
        tmp_path,
        "# platform\nCOMPOSE_PROJECT_NAME=kgprod\nexport KG_VERSION=0.6.0\n"
        "POSTGRES_PASSWORD='p@ss word#1'\nPOSTGRES_DB=\"graph\" # the db\n"
        "COMPOSE_FILE=compose/compose.yml:compose/compose.ssl.yml\n",
    )
    settings = load_settings(kg_home=tmp_path, environ={})
    assert settings.kg_home == tmp_path
    assert settings.compose_project_name == "kgprod"
    assert settings.kg_version == "0.6.0"
    assert settings.postgres_db == "graph"
    assert settings.postgres_password is not None
    assert settings.postgres_password.get_secret_value() == "p@ss word#1"
    assert settings.compose_files() == [
        tmp_path / "compose/compose.yml",
        tmp_path / "compose/compose.ssl.yml",
    ]


def test_environment_overrides_env_file(tmp_path: Path) -> None:
    write_env(tmp_path, "COMPOSE_PROJECT_NAME=fromfile\nDOCKER_HOST=unix:///file.sock\n")
    settings = load_settings(
        kg_home=tmp_path, environ={"COMPOSE_PROJECT_NAME": "fromenv", "KG_HOME": "/ignored"}
    )
    assert settings.compose_project_name == "fromenv"
    assert settings.docker_host == "unix:///file.sock"


def test_defaults_without_env_file(tmp_path: Path) -> None:
    settings = load_settings(environ={"KG_HOME": str(tmp_path)})
    assert settings.kg_home == tmp_path
    assert settings.compose_project_name == "kg"
    assert settings.docker_host == "unix:///var/run/docker.sock"
    # The platform's own defaults (its docker/docker-compose.yml): user admin, bucket kg-storage.
    assert settings.database_url() == "postgresql://admin@postgres:5432/knowledge_graph"
    assert settings.garage_bucket == "kg-storage"


def test_compose_gives_the_api_kgops_default_bucket_and_postgres_user() -> None:
    """compose.yml's defaults and kgop's are one: the api's bucket is the one kgop creates,
    its database user the one kgop connects as."""
    from kgop_tui.settings import GARAGE_BUCKET, Settings

    compose = (Path(__file__).resolve().parents[2] / "compose" / "compose.yml").read_text()
    assert f"GARAGE_BUCKET: ${{GARAGE_BUCKET:-{GARAGE_BUCKET}}}" in compose
    assert (
        compose.count(
            f"POSTGRES_USER: ${{POSTGRES_USER:-{Settings._field_defaults['postgres_user']}}}"
        )
        == 2
    )


def test_a_bucket_name_s3_refuses_is_a_one_line_error(tmp_path: Path) -> None:
    write_env(tmp_path, "GARAGE_BUCKET=Not_A_Bucket\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(kg_home=tmp_path, environ={})
    assert "GARAGE_BUCKET in" in caught.value.message
    assert "S3" in caught.value.message
    write_env(tmp_path, "GARAGE_BUCKET=knowledge-graph\n")
    assert load_settings(kg_home=tmp_path, environ={}).garage_bucket == "knowledge-graph"


def test_kg_home_defaults_to_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_env(tmp_path, "COMPOSE_PROJECT_NAME=here\n")
    assert load_settings(environ={}).compose_project_name == "here"


def test_database_url_quotes_credentials(tmp_path: Path) -> None:
    write_env(tmp_path, "POSTGRES_USER=kg\nPOSTGRES_PASSWORD='a@b/c:d%'\nPOSTGRES_HOST=db\n")
    settings = load_settings(kg_home=tmp_path, environ={})
    assert settings.database_url() == "postgresql://kg:a%40b%2Fc%3Ad%25@db:5432/knowledge_graph"
    assert "a@b" not in settings.database_target()


def test_explicit_database_url_wins(tmp_path: Path) -> None:
    write_env(tmp_path, "POSTGRES_PASSWORD=x\n")
    settings = load_settings(
        kg_home=tmp_path, environ={"KGOP_DATABASE_URL": "postgresql://u:p@h:1/d"}
    )
    assert settings.database_url() == "postgresql://u:p@h:1/d"
    assert settings.database_target() == "KGOP_DATABASE_URL"


def test_secrets_are_masked_in_repr(tmp_path: Path) -> None:
    write_env(tmp_path, "POSTGRES_PASSWORD=hunter2hunter2\nENCRYPTION_KEY=abcdefsecret\n")
    settings = load_settings(kg_home=tmp_path, environ={})
    assert "hunter2hunter2" not in repr(settings)
    assert "abcdefsecret" not in str(settings)


def test_double_quoted_escapes() -> None:
    entries = parse_env_text('A="line\\nnext \\"q\\""\nB=plain value # note\nC=\n')
    assert entries["A"].value == 'line\nnext "q"'
    assert entries["B"].value == "plain value"
    assert entries["C"].value == ""
    assert entries["B"].line == 2


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("A=1\nthis is not an assignment\n", 2, "expected KEY=VALUE"),
        ("A=1\n\n1BAD=2\n", 3, "not a valid variable name"),
        ("PASSWORD='unterminated\n", 1, "not closed"),
        ('A="open\nB=2\n', 1, "not closed"),
        ("A='x' trailing\n", 1, "after the closing quote"),
        ("A B=1\n", 1, "not a valid variable name"),
    ],
)
def test_malformed_env_names_the_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    write_env(tmp_path, text)
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(kg_home=tmp_path, environ={})
    assert caught.value.exit_code == ExitCode.USAGE
    assert f".env line {line}:" in caught.value.message
    assert fragment in caught.value.message


def test_malformed_env_never_echoes_the_value(tmp_path: Path) -> None:
    write_env(tmp_path, "POSTGRES_PASSWORD='s3cr3t-value\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(kg_home=tmp_path, environ={})
    assert "s3cr3t" not in caught.value.one_line()


def test_invalid_value_names_its_origin(tmp_path: Path) -> None:
    write_env(tmp_path, "A=1\nPOSTGRES_PORT=seventy\n")
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(kg_home=tmp_path, environ={})
    assert "POSTGRES_PORT in" in caught.value.message
    assert "line 2" in caught.value.message
    with pytest.raises(ConfigInvalid, match="environment variable COMPOSE_PROJECT_NAME"):
        load_settings(kg_home=tmp_path, environ={"COMPOSE_PROJECT_NAME": "Bad Name"})


def test_not_utf8_env(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"A=\xff\xfe\n")
    with pytest.raises(ConfigInvalid, match="not UTF-8"):
        load_settings(kg_home=tmp_path, environ={})


def test_every_setting_is_read_from_env(tmp_path: Path) -> None:
    """Each field of Settings (but KG_HOME) has its reader: a new field cannot be forgotten."""

    from kgop_tui.settings import _PARSERS, Settings

    assert set(_PARSERS) == set(Settings._fields) - {"kg_home"}
    write_env(tmp_path, "POSTGRES_PORT=70000\nKG_GARAGE_REGION=eu/west\n")
    with pytest.raises(ConfigInvalid, match="POSTGRES_PORT in .* line 1 is invalid: must be"):
        load_settings(kg_home=tmp_path, environ={})
    write_env(tmp_path, "KG_GARAGE_REGION=eu/west\n")
    with pytest.raises(ConfigInvalid, match="KG_GARAGE_REGION in .* line 1 is invalid"):
        load_settings(kg_home=tmp_path, environ={})
