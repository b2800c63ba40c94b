"""Settings: ``KG_HOME/.env`` read as configuration, the environment overriding it.

The ``.env`` reader is strict on purpose: compose silently ignores some malformed lines,
and a half-read ``.env`` is how an operator ends up generating a second set of secrets.
A malformed line is a :class:`~kgop_tui.errors.ConfigInvalid` naming the file and line
(never its value, which may be a secret).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from kgop_tui.errors import ConfigInvalid

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class EnvEntry:
    """One ``KEY=VALUE`` of a ``.env`` file and the line it came from."""

    value: str
    line: int


def _parse_double_quoted(text: str, where: str) -> tuple[str, str]:
    """Return (value, rest after the closing quote) for text after an opening ``"``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_DOUBLE_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        if ch == '"':
            return "".join(out), text[i + 1 :]
        out.append(ch)
        i += 1
    raise ConfigInvalid(
        f"{where}: the double-quoted value is not closed on that line",
        hint='close the quote; values spanning several lines are not supported, use "\\n"',
    )


def _parse_value(raw: str, where: str) -> str:
    raw = raw.strip()
    if raw.startswith("'"):
        end = raw.find("'", 1)
        if end < 0:
            raise ConfigInvalid(
                f"{where}: the single-quoted value is not closed on that line",
                hint="close the quote",
            )
        value, rest = raw[1:end], raw[end + 1 :]
    elif raw.startswith('"'):
        value, rest = _parse_double_quoted(raw[1:], where)
    else:
        # An unquoted value ends at " #" (a comment), as in compose.
        return re.split(r"\s#", raw, maxsplit=1)[0].rstrip()
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise ConfigInvalid(
            f"{where}: unexpected text after the closing quote",
            hint="put comments after a space and '#', or quote the whole value",
        )
    return value


def parse_env_text(text: str, source: str = ".env") -> dict[str, EnvEntry]:
    """Parse the text of a ``.env`` file; raise ConfigInvalid naming the first bad line."""
    entries: dict[str, EnvEntry] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{source} line {number}"
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        key, sep, raw = stripped.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigInvalid(
                f"{where}: expected KEY=VALUE",
                hint="fix or remove that line, or comment it with '#'",
            )
        if not _KEY.fullmatch(key):
            raise ConfigInvalid(
                f"{where}: {key[:40]!r} is not a valid variable name",
                hint="names are letters, digits and '_', not starting with a digit",
            )
        entries[key] = EnvEntry(_parse_value(raw, where), number)
    return entries


def read_env_file(path: Path) -> dict[str, EnvEntry]:
    """Read and parse a ``.env`` file; a missing file is an empty configuration."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:
        raise ConfigInvalid(f"{path} is not UTF-8 text", hint="re-save it as UTF-8") from exc
    except OSError as exc:
        raise ConfigInvalid(
            f"cannot read {path}: {exc.strerror}", hint="check the file's owner and mode"
        ) from exc
    return parse_env_text(text, source=str(path))


class Settings(BaseModel):
    """Everything kgop needs to find the stack, the engine and the database."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    kg_home: Path = Field(description="The install directory; holds .env, compose/ and sql/.")
    compose_project_name: str = Field(
        default="kg", description="Compose project whose containers kgop operates."
    )
    compose_file: str | None = Field(
        default=None, description="Compose files, separated by ':' as in compose itself."
    )
    docker_host: str = Field(
        default=DEFAULT_DOCKER_HOST, description="Docker engine address (DOCKER_HOST)."
    )
    kgop_database_url: SecretStr | None = Field(
        default=None, description="Postgres URL; built from the POSTGRES_* values when unset."
    )
    postgres_user: str = Field(default="kg", description="Platform database user.")
    postgres_password: SecretStr | None = Field(default=None, description="Its password.")
    postgres_db: str = Field(default="knowledge_graph", description="Platform database name.")
    postgres_host: str = Field(default="postgres", description="Database host as kgop sees it.")
    postgres_port: int = Field(default=5432, ge=1, le=65535, description="Database port.")
    kg_version: str | None = Field(default=None, description="Pinned platform version.")
    encryption_key: SecretStr | None = Field(
        default=None, description="Fernet key that encrypts stored secrets."
    )
    encryption_keys_previous: SecretStr | None = Field(
        default=None,
        description="Keys being rotated out (comma-separated); set only during a rotation.",
    )
    garage_admin_token: SecretStr | None = Field(
        default=None, description="Bearer token of Garage's admin API."
    )
    kg_garage_admin_url: str = Field(
        default="http://garage:3903", description="Garage's admin API as kgop sees it."
    )
    kg_garage_region: str = Field(
        default="garage",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="S3 region of Garage (its garage.toml's s3_region), given to the api.",
    )
    kgop_migrations_dir: Path | None = Field(
        default=None, description="Migrations folder; default KG_HOME/sql/migrations."
    )
    kgop_warm_migrations_dir: Path | None = Field(
        default=None,
        description="Migrations that need the running application (applied after api is "
        "healthy); default migrations-warm/ beside the migrations folder, when present.",
    )

    @field_validator("compose_project_name")
    @classmethod
    def _project_name(cls, value: str) -> str:
        if not _PROJECT.fullmatch(value):
            raise ValueError("must be lowercase letters, digits, '-' or '_'")
        return value

    def database_url(self) -> str:
        """The Postgres URL kgop connects to (contains the password: never print it)."""
        if self.kgop_database_url is not None:
            return self.kgop_database_url.get_secret_value()
        password = self.postgres_password.get_secret_value() if self.postgres_password else ""
        auth = quote(self.postgres_user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        return (
            f"postgresql://{auth}@{self.postgres_host}:{self.postgres_port}/"
            f"{quote(self.postgres_db, safe='')}"
        )

    def database_target(self) -> str:
        """Where the database is, without credentials: safe for messages."""
        if self.kgop_database_url is not None:
            return "KGOP_DATABASE_URL"
        return f"{self.postgres_host}:{self.postgres_port}/{self.postgres_db}"

    def compose_files(self) -> list[Path]:
        """The compose files, resolved against KG_HOME (compose's own rule for .env)."""
        if not self.compose_file:
            return [self.kg_home / "compose" / "compose.yml"]
        return [self.kg_home / part for part in self.compose_file.split(":") if part]

    def migrations_dir(self) -> Path:
        """KGOP_MIGRATIONS_DIR, else KG_HOME/sql/migrations, else the packaged copy."""
        if self.kgop_migrations_dir is not None:
            return self.kgop_migrations_dir
        own = self.kg_home / "sql" / "migrations"
        if own.is_dir():
            return own
        return Path(__file__).parent / "sql" / "migrations"

    def warm_migrations_dir(self) -> Path | None:
        """KGOP_WARM_MIGRATIONS_DIR, else migrations-warm/ beside the migrations folder."""
        if self.kgop_warm_migrations_dir is not None:
            return self.kgop_warm_migrations_dir
        beside = self.migrations_dir().parent / "migrations-warm"
        return beside if beside.is_dir() else None


_FIELDS = tuple(name for name in Settings.model_fields if name != "kg_home")


def load_settings(
    kg_home: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings: explicit home, else ``KG_HOME``, else the current directory.

    Values come from ``KG_HOME/.env``; an environment variable of the same name wins.
    """
    env = os.environ if environ is None else environ
    home = Path(kg_home or env.get("KG_HOME") or Path.cwd()).absolute()
    env_path = home / ".env"
    file_values = read_env_file(env_path)
    values: dict[str, Any] = {"kg_home": home}
    origin: dict[str, str] = {}
    for name in _FIELDS:
        key = name.upper()
        if env.get(key):
            values[name] = env[key]
            origin[name] = f"the environment variable {key}"
        elif key in file_values and file_values[key].value != "":
            values[name] = file_values[key].value
            origin[name] = f"{key} in {env_path} line {file_values[key].line}"
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        where = origin.get(name, name.upper())
        raise ConfigInvalid(
            f"{where} is invalid: {first['msg']}", hint="correct the value and run again"
        ) from None
