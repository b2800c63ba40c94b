"""`kgop serve`'s door (which origins and hosts count as its own), its argument checks, and
where it finds Postgres and Garage on the host's network."""

from __future__ import annotations

import argparse

import pytest

from kgop_tui.commands.serve import public_url_of, published_addresses
from kgop_tui.commands.serve_guard import Guard, Origin, parse_host
from kgop_tui.errors import UsageError
from kgop_tui.kinds import ContainerState
from kgop_tui.project import PortBinding, ProjectStatus, ServiceStatus


def test_origins_compare_as_browsers_send_them() -> None:
    public = Origin.parse("http://127.0.0.1:8422")
    assert Origin.parse("HTTP://127.0.0.1:8422") == public
    assert Origin.parse("http://127.0.0.1:8423") != public
    assert Origin.parse("https://127.0.0.1:8422") != public
    assert Origin.parse("https://ops.example.org/kgop") == Origin.parse(
        "https://ops.example.org:443"
    )
    for nothing in ("", "null", "file://", "http://", "http://host:99999", "ws://127.0.0.1"):
        assert Origin.parse(nothing) is None, nothing
    # As a header, an origin is nothing more: no user, path or query to hide another host.
    for dressed in ("http://evil@127.0.0.1:8422", "http://127.0.0.1:8422/x", "http://h?q"):
        assert Origin.parse(dressed, exact=True) is None, dressed


def test_hosts_are_the_public_one_and_the_bind_address() -> None:
    guard = Guard("http://localhost:9000", "127.0.0.1", 8422, 4)
    allowed = [
        parse_host(h, "http") for h in ("localhost:9000", "LOCALHOST:9000", "127.0.0.1:8422")
    ]
    assert all(host in guard.hosts for host in allowed)
    for foreign in (
        "evil.example:9000",
        "localhost:8422",
        "127.0.0.1:9000",
        "localhost",
        "",
        "evil.example@localhost:9000",
        "localhost:9000/x",
        "localhost:9000#",
    ):
        assert parse_host(foreign, "http") not in guard.hosts, foreign
    https = Guard("https://ops.example.org", "::1", 8422, 4)
    assert parse_host("ops.example.org", "https") in https.hosts
    assert parse_host("[::1]:8422", "https") in https.hosts


def test_an_unspecified_bind_address_is_no_host_name() -> None:
    guard = Guard("http://10.0.0.5:8422", "0.0.0.0", 8422, 4)
    assert parse_host("0.0.0.0:8422", "http") not in guard.hosts


def test_the_token_is_in_the_login_url_only() -> None:
    guard = Guard("http://127.0.0.1:8422", "127.0.0.1", 8422, 4, token="s3cret-token")
    assert guard.login_url("http://127.0.0.1:8422/") == "http://127.0.0.1:8422/?token=s3cret-token"
    assert "s3cret" not in repr(guard)
    other = Guard("http://127.0.0.1:8422", "127.0.0.1", 8422, 4)
    assert other.login_url("http://x") != Guard("http://x", "::1", 1, 1).login_url("http://x")


@pytest.mark.parametrize(
    ("flags", "wrong"),
    [
        ({"bind": "localhost"}, "--bind"),
        ({"port": 0}, "--port"),
        ({"max_sessions": 0}, "--max-sessions"),
        ({"public_url": "ftp://host"}, "--public-url"),
    ],
)
def test_bad_arguments_are_usage_errors(flags: dict[str, object], wrong: str) -> None:
    args = {"bind": "127.0.0.1", "port": 8422, "max_sessions": 4, "public_url": None, **flags}
    with pytest.raises(UsageError, match=wrong):
        public_url_of(argparse.Namespace(**args))


def test_the_public_url_defaults_to_the_bind_address() -> None:
    args = argparse.Namespace(bind="::1", port=8500, max_sessions=4, public_url=None)
    assert public_url_of(args) == ("::1", "http://[::1]:8500")


def test_on_the_hosts_network_kgop_finds_postgres_and_garage_where_published() -> None:
    def service(name: str, *ports: PortBinding) -> ServiceStatus:
        return ServiceStatus(service=name, container_name=f"kg-{name}-1", container_id="c",
                             state=ContainerState.RUNNING, image="i",
                             ports=list(ports))  # fmt: skip

    status = ProjectStatus(project="kg", services=[
        service("postgres", PortBinding(5432, "127.0.0.1", 15432)),
        service("garage", PortBinding(3900, "127.0.0.1", 13900), PortBinding(3903, "::", 13903)),
    ])  # fmt: skip
    env, said = published_addresses(status)
    assert env == {"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "15432",
                   "KG_GARAGE_ADMIN_URL": "http://127.0.0.1:13903"}  # fmt: skip
    assert said == ["postgres at 127.0.0.1:15432", "garage at 127.0.0.1:13903"]
    env, said = published_addresses(ProjectStatus(project="kg", services=[service("garage")]))
    assert env == {}
    assert said[0] == "postgres publishes no port 5432 here (shown unreachable)"
