"""Postgres connections (asyncpg) with errors translated at the boundary.

Connection failures become :class:`DatabaseUnavailable` (exit 3) naming where kgop looked,
never the password. Server errors keep Postgres's sqlstate, detail, hint and position.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import asyncpg

from kgop_tui.errors import ConfigInvalid, DatabaseUnavailable
from kgop_tui.settings import Settings


@dataclass(frozen=True)
class DatabaseTarget:
    """Where to connect, and how to name it in messages without leaking credentials."""

    url: str
    label: str

    @classmethod
    def from_settings(cls, settings: Settings) -> DatabaseTarget:
        return cls(url=settings.database_url(), label=settings.database_target())


@dataclass(frozen=True)
class PgErrorInfo:
    """The parts of a Postgres error a user needs to fix the statement."""

    message: str
    sqlstate: str | None = None
    detail: str | None = None
    hint: str | None = None
    position: int | None = None
    context: str | None = None


def pg_error_info(exc: BaseException) -> PgErrorInfo:
    """Extract sqlstate, detail, hint and position from an asyncpg error."""
    if not isinstance(exc, asyncpg.PostgresError):
        return PgErrorInfo(message=str(exc) or type(exc).__name__)
    position = getattr(exc, "position", None)
    return PgErrorInfo(
        message=str(getattr(exc, "message", None) or exc),
        sqlstate=getattr(exc, "sqlstate", None),
        detail=getattr(exc, "detail", None),
        hint=getattr(exc, "hint", None),
        position=int(position) if position else None,
        context=getattr(exc, "context", None),
    )


def application_name(purpose: str) -> str:
    """``kgop migrate@host`` — shown in pg_stat_activity, so a waiting run can name us."""
    return f"kgop {purpose}@{socket.gethostname()}"[:63]


async def connect(
    target: DatabaseTarget, purpose: str = "kgop", connect_timeout: float = 10.0
) -> asyncpg.Connection:
    """Open one connection; raise DatabaseUnavailable with a hint when it cannot."""
    where = target.label
    try:
        return await asyncpg.connect(
            target.url,
            timeout=connect_timeout,
            server_settings={"application_name": application_name(purpose)},
        )
    except asyncpg.InvalidAuthorizationSpecificationError as exc:
        raise DatabaseUnavailable(
            f"Postgres at {where} refused the login: {pg_error_info(exc).message}",
            hint="check POSTGRES_USER and POSTGRES_PASSWORD in .env (or KGOP_DATABASE_URL)",
        ) from None
    except asyncpg.InvalidCatalogNameError as exc:
        raise DatabaseUnavailable(
            f"Postgres at {where}: {pg_error_info(exc).message}",
            hint="check POSTGRES_DB in .env; the install creates the database",
        ) from None
    except asyncpg.CannotConnectNowError:
        raise DatabaseUnavailable(
            f"Postgres at {where} is starting up or shutting down",
            hint="wait for the postgres service to be healthy (`kgop status`)",
        ) from None
    except (TimeoutError, OSError, asyncpg.ConnectionFailureError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or "no answer in time"
        raise DatabaseUnavailable(
            f"Cannot reach Postgres at {where} ({reason.lower()})",
            hint="start it with `./operator.sh start-infra`, or check POSTGRES_HOST/PORT",
        ) from None
    except ValueError:  # malformed URL; its text may hold the password
        raise ConfigInvalid(
            f"The database URL ({where}) is not a valid postgresql:// URL",
            hint="check KGOP_DATABASE_URL or the POSTGRES_* values",
        ) from None
