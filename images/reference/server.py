"""Reference api/web for the Knowledge Graph platform: /health, /version, a summary page.

api: healthy when the database answers and the platform schema is there.
web: healthy when the api is.
"""

import json
import os
import signal
import sys
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = os.environ.get("KG_ROLE", "api")
VERSION = os.environ.get("KG_VERSION", "0.0.0")
# The lowest migration version this build needs (the api is unhealthy on an older schema).
SCHEMA = int(os.environ.get("KG_SCHEMA") or 0)


def database_check():
    import psycopg2

    conn = psycopg2.connect(
        host=os.environ.get("POSTGRES_HOST", "postgres"),
        port=int(os.environ.get("POSTGRES_PORT", "5432")),
        user=os.environ.get("POSTGRES_USER", "kg"),
        password=os.environ.get("POSTGRES_PASSWORD", ""),
        dbname=os.environ.get("POSTGRES_DB", "knowledge_graph"),
        connect_timeout=3,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT name FROM kg_api.embedding_profile WHERE active")
            row = cur.fetchone()
            cur.execute(
                "SELECT count(*) FROM kg_auth.users "
                "WHERE primary_role IN ('admin', 'platform_admin') AND NOT disabled"
            )
            admins = cur.fetchone()[0]
            cur.execute("SELECT max(version::int) FROM public.schema_migrations")
            schema = cur.fetchone()[0] or 0
        if schema < SCHEMA:
            raise RuntimeError(f"database schema {schema} is older than {SCHEMA}, run migrations")
        return {"active_embedding": row[0] if row else None, "admins": admins, "schema": schema}
    finally:
        conn.close()


HEALTHY_SINCE = []  # when this process first answered healthy (ISO 8601, UTC)


def health():
    if os.environ.get("KG_FAIL_HEALTH"):
        return 503, {"status": "failing", "reason": "KG_FAIL_HEALTH is set"}
    try:
        if ROLE == "api":
            body = database_check()
            if not HEALTHY_SINCE:
                HEALTHY_SINCE.append(datetime.now(UTC).isoformat())
            return 200, {"status": "ok", "healthy_since": HEALTHY_SINCE[0], **body}
        url = os.environ.get("KG_API_URL", "http://api:8000") + "/health"
        with urllib.request.urlopen(url, timeout=3) as response:
            return 200, {"status": "ok", "api": json.load(response)["status"]}
    except Exception as exc:  # a stand-in reports any failure as unhealthy
        return 503, {"status": "unavailable", "reason": str(exc).splitlines()[0][:200]}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        if self.path == "/health":
            status, body = health()
        elif self.path == "/version":
            status, body = 200, {"service": ROLE, "version": VERSION}
        else:
            status, body = 200, {"service": f"Knowledge Graph {ROLE}", "version": VERSION}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stdout.write(f"{ROLE} {self.address_string()} {fmt % args}\n")


if __name__ == "__main__":
    # PID 1 in its container: without a handler SIGTERM is ignored and `docker stop` waits
    # out its grace period. Stop at once instead.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    delay = float(os.environ.get("KG_START_DELAY") or 0)
    if delay:  # a slow-starting build, for upgrade tests
        print(f"kg-{ROLE} {VERSION} warming up for {delay:g} s", flush=True)
        time.sleep(delay)
    print(f"kg-{ROLE} {VERSION} listening on :8000", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
