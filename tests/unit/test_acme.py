"""The ACME client does not trust what the server sends (no server needed for these)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kgop_tui.errors import OperationFailed
from kgop_tui.services.acme import (
    AcmeClient,
    _install_pair,
    account_key_path,
    check_token,
    check_url,
)
from kgop_tui.services.certs import self_signed

DIRECTORY = "https://acme.example.org/dir"


@pytest.mark.parametrize("token", ["../../.env", "a/b", "..", "", "tok en", "x\n", None, 7])
def test_a_token_that_is_not_base64url_is_refused(token: object) -> None:
    with pytest.raises(OperationFailed, match="not a base64url word"):
        check_token(token)


def test_a_base64url_token_is_taken() -> None:
    assert check_token("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0").startswith("Loq")


@pytest.mark.parametrize(
    "url",
    ["https://evil.example.org/acme/order/1", "http://acme.example.org/acme/order/1",
     "https://acme.example.org:444/x", "file:///etc/passwd", None],
)  # fmt: skip
def test_urls_off_the_directorys_origin_are_refused(url: object) -> None:
    with pytest.raises(OperationFailed, match="outside"):
        check_url(url, DIRECTORY)


def test_urls_on_the_directorys_origin_are_followed() -> None:
    assert check_url("https://acme.example.org/acme/order/1", DIRECTORY).endswith("/1")


def test_a_plain_http_directory_is_refused_before_any_request() -> None:
    with pytest.raises(OperationFailed, match="not https"):
        AcmeClient("http://acme.example.org/dir", ec.generate_private_key(ec.SECP256R1()))


def test_the_account_key_lives_outside_the_certificates_folder(tmp_path: Path) -> None:
    assert account_key_path(tmp_path / "certs" / "kg.crt") == tmp_path / "acme" / "account.key"


def test_a_certificate_that_does_not_match_its_key_never_replaces_the_working_one(
    tmp_path: Path,
) -> None:
    cert, key = tmp_path / "kg.crt", tmp_path / "kg.key"
    self_signed("kg.example.org", cert, key)
    working = cert.read_bytes(), key.read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    self_signed("kg.example.org", other / "c.pem", other / "k.pem")
    stranger = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )  # fmt: skip
    with pytest.raises(OperationFailed, match="refused"):
        _install_pair((other / "c.pem").read_bytes(), stranger, "kg.example.org", cert, key)
    pair = (other / "c.pem").read_bytes(), (other / "k.pem").read_bytes()
    with pytest.raises(OperationFailed, match="not other.example.org"):
        _install_pair(*pair, "other.example.org", cert, key)
    assert (cert.read_bytes(), key.read_bytes()) == working
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kg.crt", "kg.key", "other"]
