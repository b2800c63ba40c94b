"""Settings: ``KG_HOME/.env`` read as configuration, the environment overriding it.

The ``.env`` reader is strict on purpose: compose silently ignores some malformed lines,
and a half-read ``.env`` is how an operator ends up generating a second set of secrets.
A malformed line is a :class:`~kgop_tui.errors.ConfigInvalid` naming the file and line
(never its value, which may be a secret).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from kgop_tui.errors import ConfigInvalid

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
GARAGE_BUCKET = "kg-storage"
"""The platform's bucket: its api's default (api/app/lib/garage/base.py:131, .env.example:100)
and compose's default of GARAGE_BUCKET, the one kgop creates unless .env names another."""
_DOUBLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


class EnvEntry(NamedTuple):
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


class Secret:
    """A secret value that never shows itself in ``repr``, ``str`` or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The value itself: pass it on, never print it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********" if self._value else ""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _text(value: str) -> str:
    return value


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if not 1 <= number <= 65535:
        raise ValueError("must be between 1 and 65535")
    return number


def _project_name(value: str) -> str:
    if not _PROJECT.fullmatch(value):
        raise ValueError("must be lowercase letters, digits, '-' or '_'")
    return value


def _bucket(value: str) -> str:
    if not _BUCKET.fullmatch(value):
        raise ValueError("must be 3 to 63 lowercase letters, digits, '.' or '-' (S3's rule)")
    return value


def _region(value: str) -> str:
    if not _REGION.fullmatch(value):
        raise ValueError("must be 1 to 63 letters, digits, '_', '.' or '-', starting alphanumeric")
    return value


class Settings(NamedTuple):
    """Everything kgop needs to find the stack, the engine and the database.

    A named tuple validated by :func:`load_settings`: every verb builds one, and pydantic
    (or even the ``dataclasses`` module, with the ``inspect`` it imports) would be most of
    the start-up of ``kgop status``. Build it with keywords.
    """

    kg_home: Path
    """The install directory; holds .env, compose/ and sql/."""
    compose_project_name: str = "kg"
    """Compose project whose containers kgop operates."""
    compose_file: str | None = None
    """Compose files, separated by ':' as in compose itself."""
    docker_host: str = DEFAULT_DOCKER_HOST
    """Docker engine address (DOCKER_HOST)."""
    kgop_database_url: Secret | None = None
    """Postgres URL; built from the POSTGRES_* values when unset."""
    postgres_user: str = "admin"
    """The platform's default (its docker/docker-compose.yml:45); earlier installs wrote kg."""
    postgres_password: Secret | None = None
    postgres_db: str = "knowledge_graph"
    postgres_host: str = "postgres"
    """Database host as kgop sees it."""
    postgres_port: int = 5432
    kg_version: str | None = None
    """Pinned platform version."""
    encryption_key: Secret | None = None
    """Fernet key that encrypts stored secrets."""
    encryption_keys_previous: Secret | None = None
    """Keys being rotated out (comma-separated)."""
    garage_admin_token: Secret | None = None
    """Bearer token of Garage's admin API."""
    kg_garage_admin_url: str = "http://garage:3903"
    """Garage's admin API as kgop sees it."""
    kg_garage_region: str = "garage"
    """S3 region of Garage (its garage.toml's s3_region), given to the api."""
    garage_bucket: str = GARAGE_BUCKET
    """GARAGE_BUCKET: the api's bucket, which `kgop garage init` creates (compose gives the
    api the same variable, with the same default)."""
    kgop_migrations_dir: Path | None = None
    """Migrations folder; default KG_HOME/sql/migrations."""
    kgop_warm_migrations_dir: Path | None = None
    """Migrations that need the running application (applied after api is healthy); default
    migrations-warm/ beside the migrations folder, when present."""

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (already typed values)."""
        return self._replace(**changes)

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


_PARSERS: dict[str, Callable[[str], Any]] = {
    "compose_project_name": _project_name,
    "compose_file": _text,
    "docker_host": _text,
    "kgop_database_url": Secret,
    "postgres_user": _text,
    "postgres_password": Secret,
    "postgres_db": _text,
    "postgres_host": _text,
    "postgres_port": _port,
    "kg_version": _text,
    "encryption_key": Secret,
    "encryption_keys_previous": Secret,
    "garage_admin_token": Secret,
    "kg_garage_admin_url": _text,
    "kg_garage_region": _region,
    "garage_bucket": _bucket,
    "kgop_migrations_dir": Path,
    "kgop_warm_migrations_dir": Path,
}
"""How each setting is read from its text (raising ValueError with what is wrong)."""


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
    for name, parse in _PARSERS.items():
        key = name.upper()
        if env.get(key):
            text, where = env[key], f"the environment variable {key}"
        elif key in file_values and file_values[key].value != "":
            entry = file_values[key]
            text, where = entry.value, f"{key} in {env_path} line {entry.line}"
        else:
            continue
        try:
            values[name] = parse(text)
        except ValueError as exc:
            raise ConfigInvalid(
                f"{where} is invalid: {exc}", hint="correct the value and run again"
            ) from None
    return Settings(**values)


_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEYS?(_|$)|DATABASE_URL")


def is_secret_name(name: str) -> bool:
    """Names of ``.env`` values that hold secrets by the platform's conventions (never
    printed by ``kgop env get``, masked in a support bundle)."""
    return bool(_SECRET_NAME.search(name.upper()))
