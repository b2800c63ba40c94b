"""Fixtures shared by every tier: real Postgres and Docker engines."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.engines import (
    DockerEngine,
    PgServer,
    connect_engine,
    create_database,
    drop_database,
    start_cluster,
)

_TIERS = ("unit", "tui", "integration", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, taken from its folder (tests/<tier>/...)."""
    for item in items:
        parts = item.path.parts
        for tier in _TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A Postgres server: ``KGOP_TEST_DSN``'s, else a throwaway cluster for the session."""
    dsn = os.environ.get("KGOP_TEST_DSN")
    if dsn:
        from urllib.parse import urlparse

        url = urlparse(dsn)
        yield PgServer(
            host=url.hostname or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
        )
        return
    yield from start_cluster()


@pytest.fixture
def postgres(pg_server: PgServer) -> Iterator[str]:
    """The DSN of a fresh, empty database, dropped after the test."""
    name = create_database(pg_server)
    try:
        yield pg_server.dsn(name)
    finally:
        drop_database(pg_server, name)


@pytest.fixture(scope="session")
def docker_engine() -> DockerEngine:
    """The test environment's Docker engine (DOCKER_HOST), with compose v2 and the base image."""
    return connect_engine()
