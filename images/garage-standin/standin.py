"""FOR TESTS ONLY: Garage admin API v1 subset (status, layout, buckets, keys, allow).

State lives in /data/state.json so a restart keeps it, as Garage's metadata would.
Every /v1 call needs "Authorization: Bearer $GARAGE_ADMIN_TOKEN".
"""

import json
import os
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

STATE = os.environ.get("STANDIN_STATE", "/data/state.json")
TOKEN = os.environ.get("GARAGE_ADMIN_TOKEN", "")
LOCK = threading.Lock()
NODE = "563e1ac825ee3323aa441e72c26d1030d6d4414aeb3dd25287c531e7fc2bc95d"


def load():
    try:
        with open(STATE) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"layout": {"version": 0, "roles": [], "staged": []}, "buckets": {}, "keys": {}}


def save(state):
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with open(STATE + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(STATE + ".tmp", STATE)


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    def authorised(self):
        if self.headers.get("Authorization") != f"Bearer {TOKEN}" or not TOKEN:
            self.reply(403, {"code": "AccessDenied", "message": "Forbidden"})
            return False
        return True

    def do_GET(self):  # noqa: N802
        url = urlparse(self.path)
        if url.path == "/health":
            return self.reply(200, {"status": "healthy"})
        if not self.authorised():
            return None
        query = parse_qs(url.query)
        with LOCK:
            state = load()
        layout = state["layout"]
        if url.path == "/v1/status":
            role = next((r for r in layout["roles"] if r["id"] == NODE), None)
            return self.reply(
                200,
                {
                    "node": NODE,
                    "garageVersion": "standin",
                    "layoutVersion": layout["version"],
                    "nodes": [{"id": NODE, "role": role, "isUp": True}],
                },
            )
        if url.path == "/v1/layout":
            return self.reply(
                200,
                {
                    "version": layout["version"],
                    "roles": layout["roles"],
                    "stagedRoleChanges": layout["staged"],
                },
            )
        if url.path == "/v1/bucket":
            alias = query.get("globalAlias", [""])[0]
            for bucket_id, bucket in state["buckets"].items():
                if alias in bucket["globalAliases"]:
                    return self.reply(200, {"id": bucket_id, **bucket})
            return self.reply(404, {"code": "NoSuchBucket", "message": alias})
        if url.path == "/v1/key":
            if "search" in query:
                name = query["search"][0]
                for key_id, key in state["keys"].items():
                    if key["name"] == name:
                        return self.reply(200, {"accessKeyId": key_id, "name": name})
                return self.reply(404, {"code": "NoSuchKey", "message": name})
            return self.reply(200, [{"id": k, "name": v["name"]} for k, v in state["keys"].items()])
        return self.reply(404, {"code": "NotFound", "message": url.path})

    def do_POST(self):  # noqa: N802
        if not self.authorised():
            return None
        url = urlparse(self.path)
        body = self.body()
        with LOCK:
            state = load()
            layout = state["layout"]
            if url.path == "/v1/layout":
                layout["staged"] = body
                result = (200, {"stagedRoleChanges": body})
            elif url.path == "/v1/layout/apply":
                if body.get("version") != layout["version"] + 1:
                    result = (400, {"code": "InvalidRequest", "message": "bad layout version"})
                else:
                    layout["roles"], layout["staged"] = layout["staged"], []
                    layout["version"] += 1
                    result = (200, {"message": ["layout applied"], "layout": layout})
            elif url.path == "/v1/bucket":
                bucket_id = secrets.token_hex(32)
                state["buckets"][bucket_id] = {"globalAliases": [body["globalAlias"]], "keys": []}
                result = (200, {"id": bucket_id, **state["buckets"][bucket_id]})
            elif url.path == "/v1/key":
                key_id = "GK" + secrets.token_hex(12)
                secret = secrets.token_hex(32)
                state["keys"][key_id] = {"name": body["name"], "secret": secret}
                result = (
                    200,
                    {"accessKeyId": key_id, "secretAccessKey": secret, "name": body["name"]},
                )
            elif url.path == "/v1/bucket/allow":
                bucket = state["buckets"].get(body["bucketId"])
                if bucket is None or body["accessKeyId"] not in state["keys"]:
                    result = (404, {"code": "NoSuchBucket", "message": "bucket or key"})
                else:
                    bucket["keys"].append(
                        {"accessKeyId": body["accessKeyId"], "permissions": body["permissions"]}
                    )
                    result = (200, {"id": body["bucketId"], **bucket})
            else:
                result = (404, {"code": "NotFound", "message": url.path})
            save(state)
        return self.reply(*result)

    def log_message(self, fmt, *args):
        print(f"garage-standin {fmt % args}", flush=True)


if __name__ == "__main__":
    print("garage stand-in (tests only) listening on :3903", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 3903), Handler).serve_forever()
