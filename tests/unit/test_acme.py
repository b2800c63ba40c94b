"""The ACME client does not trust what the server sends: checks, and a hostile server.

The hostile server is a few lines of ACME over https on loopback that answers with
whatever the test wants: enough for the ``acme`` library to reach the point where kgop
must refuse.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kgop_tui.errors import OperationFailed
from kgop_tui.services.tls.acme import (
    AcmeClient,
    _install_pair,
    account_key_path,
    check_token,
    check_url,
    issue_certificate,
)
from kgop_tui.services.tls.certs import self_signed

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


# ---- a hostile ACME server ---------------------------------------------------------------

Answer = Callable[[str], dict[str, object]]


class _Handler(http.server.BaseHTTPRequestHandler):
    base = ""
    answers: dict[str, Answer] = {}
    seen: list[str] = []
    bad_nonces = 0

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: object, location: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Replay-Nonce", "bm9uY2Vub25jZQ")
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 - newNonce
        self.send_response(200)
        self.send_header("Replay-Nonce", "bm9uY2Vub25jZQ")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(self.path)
        b = self.base
        self._reply(
            200,
            {"newNonce": f"{b}/nonce", "newAccount": f"{b}/account", "newOrder": f"{b}/order"},
        )

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(self.path)
        b = self.base
        if self.bad_nonces:
            type(self).bad_nonces -= 1
            problem = {"type": "urn:ietf:params:acme:error:badNonce", "detail": "stale nonce"}
            data = json.dumps(problem).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Replay-Nonce", "bm9uY2Vub25jZQ")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if self.path == "/account":
            self._reply(201, {"status": "valid"}, f"{b}/acct/1")
        elif self.path == "/order":
            body = {
                "status": "pending",
                "identifiers": [{"type": "dns", "value": "kg.example.org"}],
                "authorizations": [self.answers["authz_url"](b)],
                "finalize": f"{b}/finalize",
            }
            self._reply(201, body, f"{b}/order/1")
        elif self.path == "/authz/1":
            self._reply(200, self.answers["authz"](b))
        else:
            self._reply(404, {"type": "urn:ietf:params:acme:error:malformed", "detail": "no"})


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[str, str, type[_Handler]]]:
    """(directory URL, CA bundle, handler class) of a server on loopback."""
    from kgop_tui.services.tls.certs import self_signed

    cert, key = tmp_path / "srv.crt", tmp_path / "srv.key"
    self_signed("127.0.0.1", cert, key)
    handler = type("Handler", (_Handler,), {"answers": {}, "seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    handler.base = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{handler.base}/dir", str(cert), handler
    finally:
        server.shutdown()


def _authz(token: str) -> Answer:
    return lambda b: {
        "status": "pending",
        "identifier": {"type": "dns", "value": "kg.example.org"},
        "challenges": [{"type": "http-01", "url": f"{b}/chall/1", "token": token}],
    }


@pytest.mark.parametrize("token", ["../../.env", "a/b", "..", "x.y.z"])
def test_a_path_for_a_token_is_refused_before_any_file_is_written(
    hostile: tuple[str, str, type[_Handler]], tmp_path: Path, token: str
) -> None:
    directory, bundle, handler = hostile
    handler.answers.update(authz_url=lambda b: f"{b}/authz/1", authz=_authz(token))
    home = tmp_path / "kg"
    (home / "certs").mkdir(parents=True)
    webroot = home / "nginx" / "acme"
    webroot.mkdir(parents=True)
    with pytest.raises(OperationFailed, match="malformed answer was refused"):
        issue_certificate(
            directory, "kg.example.org", "ops@example.org", webroot,
            home / "certs" / "kg.crt", home / "certs" / "kg.key", ca_bundle=bundle,
        )  # fmt: skip
    assert "/authz/1" in handler.seen  # the library got as far as the challenge
    assert [p for p in webroot.rglob("*") if p.is_file()] == []
    assert not (home / ".env").exists()
    assert not (tmp_path / ".env").exists()
    assert sorted(p.name for p in (home / "certs").iterdir()) == []


def test_an_authorization_url_on_another_origin_is_never_requested(
    hostile: tuple[str, str, type[_Handler]], tmp_path: Path
) -> None:
    directory, bundle, handler = hostile
    handler.answers.update(
        authz_url=lambda b: "https://127.0.0.2:9/authz/1", authz=_authz("dG9rZW4")
    )
    with pytest.raises(OperationFailed, match="outside"):
        issue_certificate(
            directory, "kg.example.org", "ops@example.org", tmp_path / "webroot",
            tmp_path / "certs" / "kg.crt", tmp_path / "certs" / "kg.key", ca_bundle=bundle,
        )  # fmt: skip
    assert "/order" in handler.seen
    assert not (tmp_path / "webroot").exists()


def test_bad_nonces_are_retried_with_fresh_ones(
    hostile: tuple[str, str, type[_Handler]], tmp_path: Path
) -> None:
    directory, bundle, handler = hostile
    handler.answers.update(authz_url=lambda b: f"{b}/authz/1", authz=_authz("a/b"))
    handler.bad_nonces = 4  # more than the library's own single retry
    with pytest.raises(OperationFailed, match="malformed answer was refused"):
        issue_certificate(
            directory, "kg.example.org", "ops@example.org", tmp_path / "webroot",
            tmp_path / "certs" / "kg.crt", tmp_path / "certs" / "kg.key", ca_bundle=bundle,
        )  # fmt: skip
    assert handler.seen.count("/account") == 5  # four refused, then taken
    assert "/authz/1" in handler.seen
