"""FOR TESTS ONLY: the Garage stand-in's admin API v1 (images/garage-standin/garage.py):
keys, buckets, layout and nodes as Garage v1.0.1's src/api/admin/ answers them.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

from cluster import LOCK, SEEN, UP_FOR, VERSION, connect

if TYPE_CHECKING:
    from garage import Store


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def key_info(state: dict, key_id: str, show_secret: bool) -> dict:
    key = state["keys"][key_id]
    buckets = [
        {"id": bid, "globalAliases": b["globalAliases"], "localAliases": [],
         "permissions": next(k["permissions"] for k in b["keys"] if k["accessKeyId"] == key_id)}
        for bid, b in state["buckets"].items()
        if any(k["accessKeyId"] == key_id for k in b["keys"])
    ]  # fmt: skip
    return {
        "name": key["name"],
        "accessKeyId": key_id,
        "secretAccessKey": key["secret"] if show_secret else None,
        "permissions": {"createBucket": False},
        "buckets": buckets,
    }


def bucket_info(state: dict, bucket_id: str) -> dict:
    bucket = state["buckets"][bucket_id]
    keys = [
        {"accessKeyId": k["accessKeyId"], "name": state["keys"][k["accessKeyId"]]["name"],
         "permissions": k["permissions"], "bucketLocalAliases": []}
        for k in bucket["keys"]
    ]  # fmt: skip
    return {
        "id": bucket_id, "globalAliases": bucket["globalAliases"], "websiteAccess": False,
        "websiteConfig": None, "keys": keys, "objects": 0, "bytes": 0, "unfinishedUploads": 0,
        "unfinishedMultipartUploads": 0, "unfinishedMultipartUploadParts": 0,
        "unfinishedMultipartUploadBytes": 0, "quotas": {"maxSize": None, "maxObjects": None},
    }  # fmt: skip


def matching_key(state: dict, pattern: str) -> str:
    """Garage's search: an id prefix or the exact name (case-insensitive); exactly one."""
    pattern = pattern.lower()
    found = [
        kid for kid, k in state["keys"].items()
        if kid.lower().startswith(pattern) or k["name"].lower() == pattern
    ]  # fmt: skip
    if len(found) != 1:
        raise ApiError(400, "InvalidRequest", f"Bad request: {len(found)} matching keys")
    return found[0]


# ---- the admin API -----------------------------------------------------------------------


def get(store: Store, state: dict, path: str, query: dict[str, str]) -> dict | list:
    layout = state["layout"]
    if path == "/v1/status":
        roles = {r["id"]: r for r in layout["roles"]}
        now = time.monotonic()
        nodes = {store.node: {"id": store.node, "addr": store.addr, "hostname": store.hostname,
                              "isUp": True, "lastSeenSecsAgo": None}}  # fmt: skip
        for peer, known in state["peers"].items():
            seen = SEEN.get(peer)
            ago = None if seen is None else int(now - seen)
            up = ago is not None and ago < UP_FOR
            nodes[peer] = {"id": peer, "addr": known["addr"], "hostname": known["hostname"],
                           "isUp": up, "lastSeenSecsAgo": ago}  # fmt: skip
        for node in roles.keys() - nodes.keys():  # in the layout, never met: id and role only
            nodes[node] = {"id": node, "addr": None, "hostname": None, "isUp": False,
                           "lastSeenSecsAgo": None}  # fmt: skip
        listed = [{**n, "role": roles.get(n["id"]), "draining": False} for n in nodes.values()]
        return {"node": store.node, "garageVersion": VERSION, "garageFeatures": None,
                "rustVersion": "standin", "dbEngine": "LMDB (stand-in)",
                "layoutVersion": layout["version"],
                "nodes": sorted(listed, key=lambda n: n["id"])}  # fmt: skip
    if path == "/v1/layout":
        return {"version": layout["version"], "roles": layout["roles"],
                "stagedRoleChanges": layout["staged"]}  # fmt: skip
    if path == "/v1/key" and ("id" in query or "search" in query):
        show = query.get("showSecretKey") == "true"
        if "id" in query:
            if query["id"] not in state["keys"]:
                raise ApiError(404, "NoSuchAccessKey", f"Access key not found: {query['id']}")
            return key_info(state, query["id"], show)
        return key_info(state, matching_key(state, query["search"]), show)
    if path == "/v1/key":
        return [{"id": kid, "name": k["name"]} for kid, k in state["keys"].items()]
    if path == "/v1/bucket" and ("id" in query) != ("globalAlias" in query):
        for bid, bucket in state["buckets"].items():
            if bid == query.get("id") or query.get("globalAlias") in bucket["globalAliases"]:
                return bucket_info(state, bid)
        missing = query.get("id") or query.get("globalAlias")
        raise ApiError(404, "NoSuchBucket", f"Bucket not found: {missing}")
    if path == "/v1/bucket" and not query:
        return [{"id": bid, "globalAliases": b["globalAliases"], "localAliases": []}
                for bid, b in state["buckets"].items()]  # fmt: skip
    raise ApiError(400, "InvalidRequest", f"Bad request: Unknown API endpoint: GET {path}")


def post(store: Store, state: dict, path: str, body: object) -> dict:
    layout = state["layout"]
    if path == "/v1/layout" and isinstance(body, list):
        for change in body:
            if not re.fullmatch(r"[0-9a-f]{64}", str(change.get("id", ""))):
                raise ApiError(400, "InvalidRequest", "Bad request: Invalid node identifier")
            layout["staged"] = [c for c in layout["staged"] if c["id"] != change["id"]] + [change]
        return {"version": layout["version"], "roles": layout["roles"],
                "stagedRoleChanges": layout["staged"]}  # fmt: skip
    if path == "/v1/layout/apply" and isinstance(body, dict):
        if body.get("version") != layout["version"] + 1:
            # Garage answers this with an internal error (a plain Message error).
            raise ApiError(500, "InternalError", "Internal error: Invalid new layout version")
        roles = {r["id"]: r for r in layout["roles"]}
        for change in layout["staged"]:
            if change.get("remove"):
                roles.pop(change["id"], None)
            else:
                roles[change["id"]] = {k: change.get(k) for k in ("id", "zone", "capacity", "tags")}
        storing = [r for r in roles.values() if r.get("capacity")]
        if len(storing) < store.replication_factor:
            raise ApiError(500, "InternalError", "Internal error: The number of nodes with "
                           f"positive capacity ({len(storing)}) is smaller than the replication "
                           f"factor ({store.replication_factor}).")  # fmt: skip
        layout.update(roles=list(roles.values()), staged=[], version=layout["version"] + 1)
        return {"message": ["Layout applied"], "layout": get(store, state, "/v1/layout", {})}
    if path == "/v1/connect" and isinstance(body, list):
        return [connect(store, state, str(spec)) for spec in body]  # type: ignore[return-value]
    if path == "/v1/bucket" and isinstance(body, dict):
        alias = body.get("globalAlias")
        if alias and any(alias in b["globalAliases"] for b in state["buckets"].values()):
            raise ApiError(409, "BucketAlreadyExists", "Bucket already exists")
        bucket_id = secrets.token_hex(32)
        state["buckets"][bucket_id] = {"globalAliases": [alias] if alias else [], "keys": []}
        return bucket_info(state, bucket_id)
    if path == "/v1/key" and isinstance(body, dict):
        key_id = "GK" + secrets.token_hex(12)
        state["keys"][key_id] = {"name": body.get("name") or "Unnamed key",
                                 "secret": secrets.token_hex(32)}  # fmt: skip
        return key_info(state, key_id, True)
    if path in ("/v1/bucket/allow", "/v1/bucket/deny") and isinstance(body, dict):
        bucket = state["buckets"].get(body.get("bucketId"))
        if bucket is None:
            raise ApiError(404, "NoSuchBucket", f"Bucket not found: {body.get('bucketId')}")
        key_id = body.get("accessKeyId")
        if key_id not in state["keys"]:
            raise ApiError(404, "NoSuchAccessKey", f"Access key not found: {key_id}")
        # Each flag given true is set to allow (allow) or to not (deny); the others are kept.
        allow = path.endswith("/allow")
        given = {p for p in ("read", "write", "owner") if body.get("permissions", {}).get(p)}
        entry = next((k for k in bucket["keys"] if k["accessKeyId"] == key_id), None)
        if entry is None:
            entry = {"accessKeyId": key_id, "permissions": dict.fromkeys(given, False)}
            bucket["keys"].append(entry)
        entry["permissions"] = {p: allow if p in given else bool(entry["permissions"].get(p))
                                for p in ("read", "write", "owner")}  # fmt: skip
        return bucket_info(state, body["bucketId"])
    raise ApiError(400, "InvalidRequest", f"Bad request: Unknown API endpoint: POST {path}")


def admin_handler(store: Store, token: str | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def reply(self, status: int, body: object, kind: str = "application/json") -> None:
            data = (body if isinstance(body, str) else json.dumps(body, indent=2)).encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_api(self, method: str) -> None:
            url = urlparse(self.path)
            if method == "GET" and url.path == "/health":
                return self.reply(200, "Garage is fully operational\n", "text/plain")
            try:
                self.authorise()
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                with LOCK:
                    state = store.load()
                    if method == "GET":
                        result = get(store, state, url.path, query)
                    else:
                        try:
                            body = json.loads(self.rfile.read(length) or b"null")
                        except ValueError:
                            raise ApiError(
                                400, "InvalidRequest", "Bad request: Invalid JSON"
                            ) from None
                        result = post(store, state, url.path, body)
                        store.save(state)
            except ApiError as exc:
                error = {"code": exc.code, "message": exc.message, "path": url.path,
                         "region": store.region}  # fmt: skip
                return self.reply(exc.status, error)
            return self.reply(200, result)

        def authorise(self) -> None:
            if token is None:
                raise ApiError(403, "AccessDenied", "Forbidden: Admin token isn't configured, "
                               "admin API access is disabled for security.")  # fmt: skip
            given = self.headers.get("Authorization")
            if given is None:
                raise ApiError(
                    403, "AccessDenied", "Forbidden: Authorization token must be provided"
                )
            if not hmac.compare_digest(given.removeprefix("Bearer ").strip(), token) or \
                    not given.startswith("Bearer "):  # fmt: skip
                raise ApiError(403, "AccessDenied", "Forbidden: Invalid authorization token")

        def do_GET(self) -> None:  # noqa: N802
            self.handle_api("GET")

        def do_POST(self) -> None:  # noqa: N802
            self.handle_api("POST")

        def log_message(self, fmt: str, *args: object) -> None:
            print(f"INFO garage_api::generic_server: {fmt % args}", flush=True)

    return Handler
