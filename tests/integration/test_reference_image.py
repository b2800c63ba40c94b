"""The api/web stand-in (images/reference) against the platform's real 0.17.1 database.

The database is ``kg-postgres:15`` initialised with the platform's own
``schema/00_baseline.sql`` as its compose mounts it; the stand-in reads it as the platform's
api does (docs/stand-ins.md). Garage's S3 side is a small server on the test network that
answers a HeadBucket on ``kg-storage`` with 200 only when its AWS Signature V4 verifies with
the one key pair it knows, 403 otherwise: what Garage answers (the Garage stand-in serves no
S3). The api's Garage credentials are written as the platform writes them: Fernet of
``ACCESS:SECRET`` under ENCRYPTION_KEY in ``kg_api.system_api_keys`` (provider ``garage``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import bcrypt
import pytest
from cryptography.fernet import Fernet

from kgop_tui.services.docker.docker_engine import status_from_inspect
from tests.support.engines import DockerEngine, free_port, require_or_skip, wait_for
from tests.support.helpers import execute, fetch
from tests.support.platform import baseline_for_pg15
from tests.support.stack import ROOT

PLATFORM = "0.17.1"
LABEL = "kgop.test=1"
PG_PASSWORD = "ref-Pg-secret-5521"
ACCESS, SECRET = "GK0123456789abcdef01234567", "s3-secret-" + "9" * 30
KEY = Fernet.generate_key().decode()
ADMIN_PASSWORD = "Reference-admin-pass-1"
REDIRECT = "http://localhost:3000/callback"  # registered for kg-web by the 0.17.1 baseline
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 43).digest()).rstrip(b"=").decode()

# Garage's S3 HeadBucket, for one bucket and one key pair: the signature is checked as S3
# checks it (AWS Signature V4 over the canonical request).
S3 = r"""
import hashlib, hmac, os
from http.server import BaseHTTPRequestHandler, HTTPServer
A, S = os.environ["ACCESS"], os.environ["SECRET"]
def h(k, t): return hmac.new(k, t.encode(), hashlib.sha256).digest()
class H(BaseHTTPRequestHandler):
    def do_HEAD(self):
        auth = dict(p.strip().split("=", 1) for p in
                    self.headers.get("Authorization", "x x=x").split(" ", 1)[1].split(","))
        access, day, region, _, _ = auth.get("Credential", "////").split("/")
        names = auth.get("SignedHeaders", "").split(";")
        canonical = "\n".join(["HEAD", self.path, ""] + [n + ":" + (self.headers.get(n) or "")
            for n in names] + ["", ";".join(names), self.headers.get("x-amz-content-sha256", "")])
        scope = "/".join([day, region, "s3", "aws4_request"])
        text = "\n".join(["AWS4-HMAC-SHA256", self.headers.get("x-amz-date", ""), scope,
                          hashlib.sha256(canonical.encode()).hexdigest()])
        k = h(h(h(h(("AWS4" + S).encode(), day), region), "s3"), "aws4_request")
        good = access == A and hmac.new(k, text.encode(), hashlib.sha256).hexdigest() == \
            auth.get("Signature")
        status = 403 if not good else 200 if self.path == "/kg-storage" else 404
        self.send_response(status); self.send_header("Content-Length", "0"); self.end_headers()
HTTPServer(("0.0.0.0", 3900), H).serve_forever()
"""


def docker(
    engine: DockerEngine, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, env=engine.env(), timeout=timeout
    )


@dataclass
class Api:
    name: str
    url: str

    def get(self, path: str) -> tuple[int, dict[str, object]]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=15) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def login(self, multipart: bool = False, **fields: str) -> tuple[int, dict[str, object]]:
        form = {
            "username": "admin", "password": ADMIN_PASSWORD, "client_id": "kg-web",
            "redirect_uri": REDIRECT, "code_challenge": CHALLENGE, "state": "s-1", **fields,
        }  # fmt: skip
        form = {k: v for k, v in form.items() if v is not None}
        if multipart:  # as curl -F sends it
            boundary = uuid.uuid4().hex
            body = (
                "".join(
                    f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                    for k, v in form.items()
                ).encode()
                + f"--{boundary}--\r\n".encode()
            )
            kind = f"multipart/form-data; boundary={boundary}"
        else:
            body, kind = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        request = urllib.request.Request(
            self.url + "/auth/oauth/login-and-authorize", data=body, headers={"Content-Type": kind}
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)


@dataclass
class Site:
    engine: DockerEngine
    network: str
    dsn: str
    containers: list[str]

    def run(self, image: str, *args: str, alias: str | None = None, port: int | None = None,
            command: tuple[str, ...] = ()) -> str:  # fmt: skip
        name = f"kgoptest-ref-{uuid.uuid4().hex[:8]}"
        extra = ["--network-alias", alias] if alias else []
        if port is not None:
            extra += ["-p", f"127.0.0.1:{free_port()}:{port}"]
        done = docker(self.engine, "run", "-d", "--name", name, "--network", self.network,
                      "--label", LABEL, *extra, *args, image, *command)  # fmt: skip
        assert done.returncode == 0, done.stderr
        self.containers.append(name)
        return name

    def url(self, name: str, port: int) -> str:
        done = docker(self.engine, "port", name, str(port))
        return "http://" + done.stdout.split()[0]

    def inspect(self, name: str) -> dict[str, object]:
        doc: list[dict[str, object]] = json.loads(docker(self.engine, "inspect", name).stdout)
        return doc[0]

    def health(self, name: str) -> str:
        state = self.inspect(name)["State"]
        assert isinstance(state, dict)
        return str((state.get("Health") or {}).get("Status"))

    def api(self, *env: str, schema: int = 0) -> Api:
        settings = {
            "POSTGRES_HOST": "postgres", "POSTGRES_PORT": "5432", "POSTGRES_DB": "knowledge_graph",
            "POSTGRES_USER": "admin", "POSTGRES_PASSWORD": PG_PASSWORD, "ENCRYPTION_KEY": KEY,
            "OAUTH_SIGNING_KEY": "a" * 64, "INTERNAL_KEY_SERVICE_SECRET": KEY[::-1],
            "GARAGE_S3_ENDPOINT": "http://s3:3900", "KG_SCHEMA": str(schema),
        }  # fmt: skip
        args = [arg for k, v in settings.items() for arg in ("-e", f"{k}={v}")]
        version = (ROOT / "VERSION").read_text().strip()
        name = self.run(f"kg-api:{os.environ.get('KGOP_TEST_VERSION') or version}", *args,
                        *(a for e in env for a in ("-e", e)), port=8000)  # fmt: skip
        api = Api(name, self.url(name, 8000))

        def answers() -> bool:
            try:
                api.get("/version")
                return True
            except OSError:
                return False

        wait_for(answers, 60, f"{name} to answer", interval=0.2)
        return api


@pytest.fixture(scope="module")
def site(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    version = os.environ.get("KGOP_TEST_VERSION") or (ROOT / "VERSION").read_text().strip()
    for image in ("kg-postgres:15", f"kg-api:{version}", f"kg-web:{version}"):
        if docker(docker_engine, "image", "inspect", image).returncode != 0:
            require_or_skip(f"{image} is not built (scripts/test.sh builds it)")
    baseline = tmp_path_factory.mktemp("platform") / "00_baseline.sql"
    baseline.write_text(baseline_for_pg15(PLATFORM))
    baseline.chmod(0o644)
    network = f"kgoptest-ref-{uuid.uuid4().hex[:8]}"
    made = docker(docker_engine, "network", "create", "--label", LABEL, network)
    assert made.returncode == 0, made.stderr
    created = Site(docker_engine, network, "", [])
    try:
        pg = created.run(
            "kg-postgres:15", "-e", "POSTGRES_USER=admin", "-e", "POSTGRES_DB=knowledge_graph",
            "-e", f"POSTGRES_PASSWORD={PG_PASSWORD}",
            "-v", f"{baseline}:/docker-entrypoint-initdb.d/10-baseline.sql:ro",
            alias="postgres", port=5432,
        )  # fmt: skip
        wait_for(lambda: created.health(pg) == "healthy", 240, "the platform's database")
        created.dsn = (
            created.url(pg, 5432).replace("http://", f"postgresql://admin:{PG_PASSWORD}@")
            + "/knowledge_graph"
        )
        # The admin's password, as the platform's operator sets it (bcrypt, cost 12).
        hashed = bcrypt.hashpw(ADMIN_PASSWORD.encode(), bcrypt.gensalt(12)).decode()
        execute(created.dsn, f"UPDATE kg_auth.users SET password_hash = '{hashed}' "
                             "WHERE username = 'admin'")  # fmt: skip
        created.run(f"kg-api:{version}", "-e", f"ACCESS={ACCESS}", "-e", f"SECRET={SECRET}",
                    alias="s3", command=("python3", "-c", S3))  # fmt: skip
        yield created
    finally:
        if created.containers:
            docker(docker_engine, "rm", "-f", "-v", *created.containers)
        docker(docker_engine, "network", "rm", network)


def store_garage_key(dsn: str, plain: str, key: str = KEY) -> None:
    """As the platform stores it (api/app/lib/encrypted_keys.py, store_key)."""
    token = Fernet(key.encode()).encrypt(plain.encode()).decode()
    execute(
        dsn,
        "INSERT INTO kg_api.system_api_keys (provider, encrypted_key) "
        f"VALUES ('garage', convert_to('{token}', 'UTF8')) "
        "ON CONFLICT (provider) DO UPDATE SET encrypted_key = EXCLUDED.encrypted_key",
    )


def test_health_is_degraded_until_the_api_has_garage_credentials(site: Site) -> None:
    execute(site.dsn, "DELETE FROM kg_api.system_api_keys WHERE provider = 'garage'")
    api = site.api()
    status, body = api.get("/health")
    assert status == 200, body
    assert body["status"] == "degraded"
    parts = body["components"]
    assert isinstance(parts, dict)
    assert parts["api"] == {"status": "healthy"}
    assert parts["database"] == {"status": "healthy"}  # cypher on the platform's graph
    assert parts["garage"]["status"] == "unhealthy"
    assert "kg_api.system_api_keys" in parts["garage"]["error"]
    # Up for kgop (Docker healthy: it answered 200), and kgop sees what is down.
    wait_for(lambda: site.health(api.name) == "healthy", 60, "the api to count as up")
    seen = status_from_inspect(site.inspect(api.name), datetime.now(UTC))
    assert seen.ok
    assert seen.degraded == ("garage unhealthy",)

    # The platform's operator stores the key pair: healthy, on the platform's bucket.
    store_garage_key(site.dsn, f"{ACCESS}:{SECRET}")
    status, body = api.get("/health")
    assert (status, body["status"]) == (200, "healthy"), body
    assert body["components"]["garage"] == {"status": "healthy", "bucket": "kg-storage"}

    # A pair Garage does not know: it refuses the signature.
    store_garage_key(site.dsn, f"{ACCESS}:not-the-secret")
    status, body = api.get("/health")
    assert body["status"] == "degraded"
    assert body["components"]["garage"]["error"] == "HeadBucket answered 403"
    # Not ACCESS:SECRET, or sealed with another ENCRYPTION_KEY: as if none were stored.
    for plain, key in (
        (ACCESS + SECRET, KEY),
        (f"{ACCESS}:{SECRET}", Fernet.generate_key().decode()),
    ):
        store_garage_key(site.dsn, plain, key)
        status, body = api.get("/health")
        assert "kg_api.system_api_keys" in body["components"]["garage"]["error"], body


def test_environment_credentials_are_the_fallback_and_an_absent_garage_is_unhealthy(
    site: Site,
) -> None:
    execute(site.dsn, "DELETE FROM kg_api.system_api_keys WHERE provider = 'garage'")
    pair = (f"GARAGE_ACCESS_KEY_ID={ACCESS}", f"GARAGE_SECRET_ACCESS_KEY={SECRET}")
    status, body = site.api(*pair).get("/health")
    assert (status, body["status"]) == (200, "healthy"), body
    # Nothing listens at the endpoint, and the database refuses the password: 200 degraded.
    far = site.api(*pair, "GARAGE_S3_ENDPOINT=http://s3:3999", "POSTGRES_PASSWORD=wrong")
    status, body = far.get("/health")
    assert (status, body["status"]) == (200, "degraded"), body
    assert body["components"]["database"]["status"] == "unhealthy"
    assert "password authentication failed" in body["components"]["database"]["error"]
    assert body["components"]["garage"]["status"] == "unhealthy"
    assert body["components"]["garage"]["bucket"] == "kg-storage"


def test_the_schema_knob_keeps_the_api_unhealthy_until_migrated(site: Site) -> None:
    api = site.api(schema=81)  # the 0.17.1 baseline records migrations 1 to 80
    status, body = api.get("/health")
    assert status == 503
    assert "older than 81" in str(body["reason"])
    wait_for(lambda: site.health(api.name) == "unhealthy", 90, "the api to be unhealthy")


def test_the_login_checks_the_platforms_users_and_clients(site: Site) -> None:
    api = site.api()
    status, body = api.login()
    assert status == 200, body
    assert body["state"] == "s-1"
    code = str(body["code"])
    assert len(code) == 43
    stored = fetch(
        site.dsn,
        "SELECT client_id, user_id, redirect_uri, code_challenge "
        "FROM kg_auth.oauth_authorization_codes WHERE code = $1",
        code,
    )
    assert stored == [{"client_id": "kg-web", "user_id": 1000, "redirect_uri": REDIRECT,
                       "code_challenge": CHALLENGE}]  # fmt: skip
    assert api.login(multipart=True)[0] == 200  # curl -F
    for fields, status_, detail in (
        ({"password": ADMIN_PASSWORD + "x"}, 401, "Invalid username or password"),
        ({"username": "nobody"}, 401, "Invalid username or password"),
        ({"username": "Admin"}, 401, "Invalid username or password"),  # matched exactly
        ({"username": "system"}, 403, "User account is disabled"),
        ({"redirect_uri": "http://evil.example/callback"}, 400,
         "Redirect URI 'http://evil.example/callback' not registered for client 'kg-web'"),
        ({"client_id": "kg-cli"}, 400, "Client 'kg-cli' does not support authorization_code grant"),
        ({"client_id": "nope"}, 400, "OAuth client 'nope' not found"),
    ):  # fmt: skip
        assert api.login(**fields) == (status_, {"detail": detail}), fields
    status, body = api.login(code_challenge=None)
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "code_challenge"]


def test_web_serves_on_80_with_its_configuration_from_the_platforms_variables(
    site: Site,
) -> None:
    version = os.environ.get("KGOP_TEST_VERSION") or (ROOT / "VERSION").read_text().strip()
    web = site.run(
        f"kg-web:{version}", "-e", "VITE_API_URL=/api", "-e", "VITE_OAUTH_CLIENT_ID=kg-web",
        "-e", "VITE_OAUTH_REDIRECT_URI=https://kg.example.org/callback",
        "-e", "VITE_APP_NAME=Knowledge Graph", port=80,
    )  # fmt: skip
    wait_for(lambda: site.health(web) == "healthy", 60, "web to be healthy")
    base = site.url(web, 80)
    with urllib.request.urlopen(base + "/config.js", timeout=10) as response:
        config = response.read().decode()
    doc = json.loads(config.split("=", 1)[1].rstrip().rstrip(";"))
    assert doc["apiUrl"] == "/api"
    assert doc["oauth"] == {"clientId": "kg-web", "redirectUri": "https://kg.example.org/callback"}
    assert doc["app"]["name"] == "Knowledge Graph"
    with urllib.request.urlopen(base + "/callback", timeout=10) as response:
        assert "/config.js" in response.read().decode()  # the single page, on any route
    with urllib.request.urlopen(base + "/health", timeout=10) as response:
        assert response.read() == b"healthy\n"


def test_the_stand_in_reads_only_the_platforms_tables() -> None:
    """It runs on the platform's schema and on kgop's packaged subset of it alike: every
    table it names is one of the 0.17.1 baseline's."""
    text = "".join(p.read_text() for p in (ROOT / "images" / "reference").glob("*.py"))
    tables = set(re.findall(r"\b(?:kg_api|kg_auth|public)\.[a-z_]+", text))
    assert tables == {
        "kg_api.system_api_keys", "kg_auth.users", "kg_auth.oauth_clients",
        "kg_auth.oauth_authorization_codes", "public.schema_migrations",
    }  # fmt: skip
    baseline = baseline_for_pg15(PLATFORM)
    for table in tables:
        assert f"CREATE TABLE {table} (" in baseline, table
