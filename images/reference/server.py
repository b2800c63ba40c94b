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

import json
import signal
import sys
import time
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from garage_probe import garage_component
from oauth_login import Refused, form_fields, login_and_authorize
from standin import ROLE, VERSION, connect, env, first_line, log

SCHEMA = int(env("KG_SCHEMA") or 0)
PORT = 8000 if ROLE == "api" else 80
HEALTHY_SINCE = []  # when /health first answered 200 (ISO 8601, UTC): a stand-in extra


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
