"""Stand-in for the platform's api and web images (aaronsb/knowledge-graph-system 0.17.1).

It honours the contract kgop's stack gives the real images (docs/stand-ins.md has the table,
with the upstream file and line of each behaviour):

api (port 8000)
  environment  POSTGRES_HOST/PORT/DB/USER/PASSWORD, ENCRYPTION_KEY, OAUTH_SIGNING_KEY,
               INTERNAL_KEY_SERVICE_SECRET, GARAGE_S3_ENDPOINT, GARAGE_REGION, GARAGE_BUCKET,
               GARAGE_ACCESS_KEY_ID/GARAGE_SECRET_ACCESS_KEY (fallback credentials)
  GET /health  200 {"status": "healthy"|"degraded", "components": {api, database, garage}}
               as api/app/main.py answers it: the database pinged through cypher, Garage
               through an S3 HeadBucket signed with the credentials the api reads
               (kg_api.system_api_keys, provider garage, Fernet of ACCESS:SECRET under
               ENCRYPTION_KEY; else the environment's)
  POST /auth/oauth/login-and-authorize
               the password checked against kg_auth.users (bcrypt), the client and its
               redirect URI against kg_auth.oauth_clients, as api/app/routes/oauth.py does
web (port 80)
  environment  VITE_API_URL, VITE_OAUTH_CLIENT_ID, VITE_OAUTH_REDIRECT_URI, VITE_APP_NAME
  GET /config.js  window.APP_CONFIG from them (web/docker-entrypoint.sh); /health 200;
               every other path the single page, as the web image's nginx serves it

Test knobs of the stand-in only: KG_SCHEMA (the api answers 503 until public.schema_migrations
reaches this version), KG_FAIL_HEALTH (503 everywhere health is asked), KG_START_DELAY
(seconds before listening). Both roles answer GET /version.
"""

import hashlib
import hmac
import json
import os
import secrets
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = os.environ.get("KG_ROLE", "api")
VERSION = os.environ.get("KG_VERSION", "0.0.0")
SCHEMA = int(os.environ.get("KG_SCHEMA") or 0)
PORT = 8000 if ROLE == "api" else 80
HEALTHY_SINCE = []  # when /health first answered 200 (ISO 8601, UTC): a stand-in extra


def env(name, default=""):
    return os.environ.get(name) or default


def connect():
    """The api's connection: POSTGRES_* with the api's own defaults (age_client/base.py:52-55)."""
    import psycopg2

    return psycopg2.connect(
        host=env("POSTGRES_HOST", "localhost"),
        port=int(env("POSTGRES_PORT", "5432")),
        dbname=env("POSTGRES_DB", "knowledge_graph"),
        user=env("POSTGRES_USER", "admin"),
        password=env("POSTGRES_PASSWORD"),
        connect_timeout=2,
        options="-c statement_timeout=3000",
    )


# ---- /health ----------------------------------------------------------------------------------


def ping_graph(conn):
    """The api's database check: a cypher RETURN on the graph, after LOAD 'age'."""
    with conn.cursor() as cur:
        cur.execute("LOAD 'age'")
        cur.execute('SET search_path = ag_catalog, "$user", public')
        cur.execute("SELECT * FROM cypher('knowledge_graph', $$ RETURN 1 $$) AS (ping agtype)")
        cur.fetchone()
    conn.commit()


def applied_schema(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT max(version::int) FROM public.schema_migrations")
        return cur.fetchone()[0] or 0


def garage_credentials(conn):
    """(access, secret): the garage row of system_api_keys decrypted with ENCRYPTION_KEY,
    else the environment's pair; ValueError when neither gives one."""
    key = env("ENCRYPTION_KEY")
    if conn is not None and key:
        try:
            from cryptography.fernet import Fernet

            with conn.cursor() as cur:
                cur.execute(
                    "SELECT encrypted_key FROM kg_api.system_api_keys WHERE provider = 'garage'"
                )
                row = cur.fetchone()
            conn.rollback()
            if row:
                plain = Fernet(key.encode()).decrypt(bytes(row[0])).decode()
                if ":" in plain:
                    access, secret = plain.split(":", 1)
                    return access, secret
                log("the stored garage credentials are not ACCESS:SECRET; trying the environment")
        except Exception as exc:  # unreadable or undecryptable: the api falls back likewise
            conn.rollback()
            log(f"garage credentials not read from kg_api.system_api_keys: {first_line(exc)}")
    access, secret = env("GARAGE_ACCESS_KEY_ID"), env("GARAGE_SECRET_ACCESS_KEY")
    if access and secret:
        return access, secret
    raise ValueError(
        "no Garage credentials: kg_api.system_api_keys has no readable 'garage' row and "
        "GARAGE_ACCESS_KEY_ID/GARAGE_SECRET_ACCESS_KEY are not set"
    )


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def head_bucket(endpoint, bucket, region, access, secret, timeout=2.0):
    """S3 HeadBucket, path style, signed with AWS Signature V4 (what boto3 sends); the
    HTTP status, or an OSError when nothing answers."""
    url = urllib.parse.urlsplit(endpoint)
    now = datetime.now(UTC)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    empty = hashlib.sha256(b"").hexdigest()
    path = "/" + urllib.parse.quote(bucket, safe="")
    headers = {"host": url.netloc, "x-amz-content-sha256": empty, "x-amz-date": stamp}
    signed = ";".join(sorted(headers))
    canonical = "\n".join(
        ["HEAD", path, "", *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, empty]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), region), "s3"), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    request = urllib.request.Request(endpoint.rstrip("/") + path, method="HEAD")
    request.add_header("x-amz-content-sha256", empty)
    request.add_header("x-amz-date", stamp)
    request.add_header(
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def garage_component(conn):
    bucket = env("GARAGE_BUCKET", "kg-storage")
    try:
        access, secret = garage_credentials(conn)
    except ValueError as exc:
        return {"status": "unhealthy", "error": str(exc)}
    endpoint = env("GARAGE_S3_ENDPOINT", "http://localhost:3900")
    try:
        status = head_bucket(endpoint, bucket, env("GARAGE_REGION", "garage"), access, secret)
    except OSError as exc:
        return {"status": "unhealthy", "bucket": bucket, "error": f"{endpoint}: {first_line(exc)}"}
    if 200 <= status < 300:
        return {"status": "healthy", "bucket": bucket}
    return {"status": "unhealthy", "bucket": bucket, "error": f"HeadBucket answered {status}"}


def api_health():
    if env("KG_FAIL_HEALTH"):
        return 503, {"status": "failing", "reason": "KG_FAIL_HEALTH is set"}
    components = {"api": {"status": "healthy"}}
    conn, schema, reason = None, None, None
    try:
        conn = connect()
        if SCHEMA:
            schema = applied_schema(conn)
            conn.rollback()
        ping_graph(conn)
        components["database"] = {"status": "healthy"}
    except Exception as exc:
        components["database"] = {"status": "unhealthy", "error": first_line(exc)}
        if conn is not None:
            conn.rollback()
    try:
        components["garage"] = garage_component(conn)
    finally:
        if conn is not None:
            conn.close()
    if SCHEMA and (schema or 0) < SCHEMA:  # the stand-in's own gate (KG_SCHEMA)
        reason = (
            f"database schema {schema} is older than {SCHEMA}, run migrations"
            if schema is not None
            else f"cannot read the database's schema version: {components['database']}"
        )
        return 503, {"status": "unavailable", "reason": reason, "components": components}
    healthy = all(c["status"] == "healthy" for c in components.values())
    if not HEALTHY_SINCE:
        HEALTHY_SINCE.append(datetime.now(UTC).isoformat())
    body = {"status": "healthy" if healthy else "degraded", "components": components}
    return 200, {**body, "healthy_since": HEALTHY_SINCE[0]}


# ---- POST /auth/oauth/login-and-authorize -----------------------------------------------------

REQUIRED = ("username", "password", "client_id", "redirect_uri", "code_challenge")
OPTIONAL = {"scope": "read:* write:*", "code_challenge_method": "S256", "state": None}


class Refused(Exception):
    def __init__(self, status, detail):
        super().__init__(detail)
        self.status, self.detail = status, detail


def form_fields(content_type, body):
    """The form's fields, urlencoded or multipart (curl -F), as text."""
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                fields[name] = part.get_payload(decode=True).decode("utf-8", "replace")
        return fields
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


def scopes_allowed(requested, allowed):
    """(valid, granted), by the wildcard rules of api/app/lib/oauth_utils.py:260-314."""
    requested = requested or ["read:*"]
    if not allowed or "*" in allowed or ("read:*" in allowed and "write:*" in allowed):
        return True, requested
    granted = [
        s for s in requested
        if s in allowed or (":" in s and s.split(":", 1)[0] + ":*" in allowed)
    ]  # fmt: skip
    return len(granted) == len(requested), granted


def login_and_authorize(fields):
    """The checks of api/app/routes/oauth.py:1129-1240, in its order; the JSON to answer."""
    import bcrypt

    # FastAPI: a required form field that is missing or empty is a 422.
    missing = [name for name in REQUIRED if not fields.get(name)]
    if missing:
        raise Refused(422, [
            {"type": "missing", "loc": ["body", name], "msg": "Field required", "input": None}
            for name in missing
        ])  # fmt: skip
    values = {**OPTIONAL, **{k: v for k, v in fields.items() if k in OPTIONAL}}
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id, password_hash, disabled FROM kg_auth.users WHERE username = %s",
                (fields["username"],),
            )
            user = cur.fetchone()
            if user is None:
                raise Refused(401, "Invalid username or password")
            user_id, password_hash, disabled = user
            if disabled:
                raise Refused(403, "User account is disabled")
            if not bcrypt.checkpw(fields["password"].encode(), password_hash.encode()):
                raise Refused(401, "Invalid username or password")
            client_id, redirect_uri = fields["client_id"], fields["redirect_uri"]
            cur.execute(
                "SELECT client_type, grant_types, redirect_uris, scopes, is_active "
                "FROM kg_auth.oauth_clients WHERE client_id = %s",
                (client_id,),
            )
            client = cur.fetchone()
            if client is None:
                raise Refused(400, f"OAuth client '{client_id}' not found")
            _type, grants, uris, allowed, active = client
            if not active:
                raise Refused(400, f"OAuth client '{client_id}' is inactive")
            if "authorization_code" not in (grants or []):
                raise Refused(
                    400, f"Client '{client_id}' does not support authorization_code grant"
                )
            if redirect_uri not in (uris or []):
                raise Refused(
                    400, f"Redirect URI '{redirect_uri}' not registered for client '{client_id}'"
                )
            valid, granted = scopes_allowed((values["scope"] or "").split(), allowed)
            if not valid:
                raise Refused(400, "Requested scopes not allowed for this client")
            code = secrets.token_urlsafe(32)
            # The code is kept where the api keeps it, when the schema has that table.
            cur.execute("SELECT to_regclass('kg_auth.oauth_authorization_codes') IS NOT NULL")
            if cur.fetchone()[0]:
                cur.execute(
                    "INSERT INTO kg_auth.oauth_authorization_codes (code, client_id, user_id, "
                    "redirect_uri, scopes, code_challenge, code_challenge_method, expires_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, now() + interval '10 minutes')",
                    (code, client_id, user_id, redirect_uri, granted, fields["code_challenge"],
                     values["code_challenge_method"]),
                )  # fmt: skip
        conn.commit()
        return {"code": code, "state": values["state"]}
    except Refused:
        conn.rollback()
        raise
    except Exception as exc:
        conn.rollback()
        raise Refused(500, f"Failed to authorize: {first_line(exc)}") from None
    finally:
        conn.close()


# ---- web --------------------------------------------------------------------------------------


def web_config():
    """config.js as the web image writes it at start, from the VITE_* variables."""
    redirect = env("VITE_OAUTH_REDIRECT_URI") or None
    config = {
        "apiUrl": env("VITE_API_URL", "http://localhost:8000"),
        "oauth": {"clientId": env("VITE_OAUTH_CLIENT_ID", "kg-web"), "redirectUri": redirect},
        "app": {"name": env("VITE_APP_NAME", "Knowledge Graph Visualizer"), "version": VERSION},
    }
    return f"window.APP_CONFIG = {json.dumps(config, indent=2)};\n"


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Knowledge Graph</title>
<script src="/config.js"></script></head>
<body><h1>Knowledge Graph</h1><p>kg-web stand-in {version}</p></body></html>
"""


# ---- the server -------------------------------------------------------------------------------


def first_line(exc):
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def log(message):
    sys.stdout.write(f"{ROLE}: {message}\n")
    sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    server_version = "kg-standin"

    def answer(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        path = urllib.parse.urlsplit(self.path).path
        if path == "/version":
            self.answer(200, {"service": ROLE, "version": VERSION})
        elif ROLE == "api":
            if path == "/health":
                self.answer(*api_health())
            else:
                self.answer(200, {"service": "Knowledge Graph API", "version": VERSION})
        elif env("KG_FAIL_HEALTH"):
            self.answer(503, "KG_FAIL_HEALTH is set\n", "text/plain")
        elif path == "/health":
            self.answer(200, "healthy\n", "text/plain")
        elif path == "/config.js":
            self.answer(200, web_config(), "application/javascript")
        else:  # the single page answers every route (/callback included)
            self.answer(200, PAGE.replace("{version}", VERSION), "text/html")

    do_HEAD = do_GET  # noqa: N815

    def do_POST(self):  # noqa: N802
        if ROLE != "api" or urllib.parse.urlsplit(self.path).path != (
            "/auth/oauth/login-and-authorize"
        ):
            self.answer(404, {"detail": "Not Found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        fields = form_fields(self.headers.get("Content-Type", ""), self.rfile.read(length))
        try:
            self.answer(200, login_and_authorize(fields))
        except Refused as refused:
            self.answer(refused.status, {"detail": refused.detail})

    def log_message(self, fmt, *args):
        log(f"{self.address_string()} {fmt % args}")


def warn_missing_secrets():
    for name, effect in (
        ("ENCRYPTION_KEY", "stored keys (Garage's included) cannot be decrypted"),
        ("OAUTH_SIGNING_KEY", "access tokens cannot be signed"),
        ("INTERNAL_KEY_SERVICE_SECRET", "a temporary service token is used"),
    ):
        if not env(name):
            log(f"{name} is not set: {effect}")


if __name__ == "__main__":
    # PID 1 in its container: without a handler SIGTERM is ignored and `docker stop` waits
    # out its grace period. Stop at once instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    delay = float(env("KG_START_DELAY", "0"))
    if delay:  # a slow-starting build, for upgrade tests
        log(f"kg-{ROLE} {VERSION} warming up for {delay:g} s")
        time.sleep(delay)
    if ROLE == "api":
        warn_missing_secrets()
    log(f"kg-{ROLE} {VERSION} listening on :{PORT}")
    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
