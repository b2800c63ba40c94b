"""Reference api/web for the Knowledge Graph platform: /health, /version, a summary page.

api: healthy when the database answers and the platform schema is there.
web: healthy when the api is.
"""

import json
import os
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = os.environ.get("KG_ROLE", "api")
VERSION = os.environ.get("KG_VERSION", "0.0.0")


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
            cur.execute("SELECT count(*) FROM kg_auth.users WHERE primary_role = 'admin'")
            admins = cur.fetchone()[0]
        return {"active_embedding": row[0] if row else None, "admins": admins}
    finally:
        conn.close()


def health():
    if os.environ.get("KG_FAIL_HEALTH"):
        return 503, {"status": "failing", "reason": "KG_FAIL_HEALTH is set"}
    try:
        if ROLE == "api":
            return 200, {"status": "ok", **database_check()}
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
    print(f"kg-{ROLE} {VERSION} listening on :8000", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
