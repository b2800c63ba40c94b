#!/usr/bin/python3
"""FOR TESTS ONLY: a stand-in for the `garage` binary of dxflrs/garage:v1.0.1.

It is installed as /garage and run the way the real image runs (exec form, no shell):
`/garage server` serves the admin API v1 subset kgop uses; `/garage status` is the
healthcheck. Behaviour follows Garage v1.0.1's sources (see docs/stand-ins.md): the
configuration file is required, secrets may come from GARAGE_* variables, errors are
JSON {code, message, path, region} with Garage's status codes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

# The S3 API and its signature checks live beside this program (images/garage-standin/).
sys.path[:0] = ["/usr/local/lib/garage-standin", str(Path(__file__).resolve().parent)]
from s3 import s3_handler  # noqa: E402

VERSION = "v1.0.1"
LOCK = threading.Lock()
PING_EVERY = 2.0  # seconds between pings of the known peers (which also spread the layout)
UP_FOR = 10.0  # a peer answered within this many seconds: isUp
SEEN: dict[str, float] = {}  # peer id → when it last answered (monotonic)


class Fatal(Exception):
    """Garage refuses to start (or a CLI command fails): message, then exit 1."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# ---- configuration -----------------------------------------------------------------------


def option(argv: list[str], short: str, long: str, env: str, default: str | None) -> str | None:
    for i, arg in enumerate(argv):
        if arg in (short, long) and i + 1 < len(argv):
            return argv[i + 1]
    return os.environ.get(env, default)


def secret(config: dict, section: dict, key: str, env: str) -> str | None:
    """A secret from GARAGE_* (or its _FILE form), else the configuration file."""
    if os.environ.get(env):
        return os.environ[env]
    path = os.environ.get(f"{env}_FILE") or section.get(f"{key}_file")
    if path:
        return Path(path).read_text().strip()
    return section.get(key)


def read_config(argv: list[str]) -> dict:
    path = option(argv, "-c", "--config", "GARAGE_CONFIG_FILE", "/etc/garage.toml")
    try:
        config = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise Fatal(f"Unable to read configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise Fatal(f"TOML decode error in {path}: {exc}") from None
    for key in ("metadata_dir", "data_dir", "rpc_bind_addr", "s3_api"):
        if key not in config:
            raise Fatal(f"TOML decode error in {path}: missing field `{key}`")
    if "s3_region" not in config["s3_api"]:
        raise Fatal(f"TOML decode error in {path}: missing field `s3_region` in [s3_api]")
    factor, mode = config.get("replication_factor"), config.get("replication_mode")
    if (factor is None) == (mode is None):
        raise Fatal("Either the legacy replication_mode or replication_factor must be set")
    if factor is not None and factor not in (1, 2, 3, 4, 5, 6, 7):
        raise Fatal("Invalid replication_factor in config file.")
    if config.get("db_engine", "lmdb") not in ("lmdb", "sqlite"):
        raise Fatal(f"Unsupported DB engine: {config['db_engine']}")
    rpc = secret(config, config, "rpc_secret", "GARAGE_RPC_SECRET")
    if rpc is None:
        raise Fatal("rpc_secret value is missing, not present in config file or in environment")
    if not re.fullmatch(r"[0-9a-fA-F]{64}", rpc):
        raise Fatal("Invalid RPC secret key: expected 32 bytes in hexadecimal")
    admin = config.setdefault("admin", {})
    config["rpc_secret"] = rpc
    admin["admin_token"] = secret(config, admin, "admin_token", "GARAGE_ADMIN_TOKEN")
    return config


def address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def bind_address(value: str) -> tuple[str, int]:
    """Where to listen: Garage listens on ``[::]`` dual-stack (the platform's own
    config/garage.toml binds its three ports there); the stand-in's servers are IPv4, so
    ``[::]`` is every IPv4 address."""
    host, port = address(value)
    return ("0.0.0.0" if host == "::" else host), port


def node_id(config: dict) -> str:
    """The node's identity, kept in metadata_dir like Garage's node_key."""
    meta = Path(config["metadata_dir"])
    meta.mkdir(parents=True, exist_ok=True)
    key = meta / "node_key.pub"
    if not key.exists():
        key.write_text(secrets.token_hex(32))
    return key.read_text().strip()


# ---- state -------------------------------------------------------------------------------


class Store:
    """Layout, buckets and keys, persisted in metadata_dir as Garage's metadata would be."""

    def __init__(self, config: dict) -> None:
        self.path = Path(config["metadata_dir"]) / "standin-state.json"
        self.node = node_id(config)
        self.region = config["s3_api"]["s3_region"]
        self.secret = config["rpc_secret"]
        self.replication_factor = int(config.get("replication_factor") or 1)
        self.hostname = socket.gethostname()
        self.port = address(config["rpc_bind_addr"])[1]
        self.addr = config.get("rpc_public_addr")  # else the address a peer sees us from

    def load(self) -> dict:
        try:
            state = json.loads(self.path.read_text())
        except FileNotFoundError:
            state = {"layout": {"version": 0, "roles": [], "staged": []}, "buckets": {}, "keys": {}}
        state.setdefault("peers", {})  # id → {"addr", "hostname"}: the nodes met over RPC
        return state

    def save(self, state: dict) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.path)


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


# ---- RPC: `garage status`, and nodes meeting each other ----------------------------------
#
# Not Garage's protocol (netapp, a handshake on the ed25519 node keys and the RPC secret):
# one JSON request per connection after a proof that the caller knows the secret and the
# node it asked for. What it reproduces: a node is reached as `id@address`, a wrong id or
# secret is refused, nodes that met remember each other and ping each other, and the
# newest layout spreads to every node (Garage's layout is a CRDT gossiped between nodes).


def rpc_proof(secret_hex: str, node: str) -> str:
    return hmac.new(bytes.fromhex(secret_hex), node.encode(), hashlib.sha256).hexdigest()


def rpc_call(secret_hex: str, node: str, host: str, port: int, request: dict) -> dict | None:
    """Send ``request`` to ``node`` at host:port; None when it refused the handshake."""
    with socket.create_connection((host, port), timeout=3) as conn:
        proof = rpc_proof(secret_hex, node)
        conn.sendall((proof + "\n" + json.dumps(request) + "\n").encode())
        reply = conn.makefile().readline()
    return json.loads(reply) if reply else None


def merge_layout(state: dict, layout: dict | None) -> bool:
    """Keep the newer of two layouts (the one with the higher version); True if it changed."""
    if layout is None or layout["version"] <= state["layout"]["version"]:
        return False
    state["layout"] = {**layout, "staged": state["layout"]["staged"]}
    return True


def remember(store: Store, state: dict, node: str, addr: str, message: dict) -> None:
    """A node that answered (or called): known, up; and the nodes it knows, to be pinged
    (Garage's peering is a full mesh: nodes pass on the peers they know)."""
    state["peers"][node] = {"addr": addr, "hostname": message.get("hostname")}
    SEEN[node] = time.monotonic()
    for other, known in (message.get("peers") or {}).items():
        if other != store.node and other not in state["peers"]:
            state["peers"][other] = {"addr": known["addr"], "hostname": known["hostname"]}


def hello(store: Store, state: dict) -> dict:
    return {"op": "hello", "id": store.node, "addr": store.addr, "port": store.port,
            "hostname": store.hostname, "layout": state["layout"],
            "peers": state["peers"]}  # fmt: skip


def connect(store: Store, state: dict, spec: str) -> dict[str, object]:
    """``POST /v1/connect``: one ``id@host:port`` (Garage's answer per node: success, error)."""
    found = re.fullmatch(r"([0-9a-fA-F]{64})@(.+):(\d+)", spec)
    if not found:
        error = f"Unable to parse or resolve node specification: {spec}"
        return {"success": False, "error": error}
    node, host, port = found[1].lower(), found[2].strip("[]"), int(found[3])
    try:
        reply = rpc_call(store.secret, node, host, port, hello(store, state))
        if reply is None:
            raise OSError("Handshake error: the remote node refused the connection")
    except OSError as exc:
        return {"success": False, "error": "Error establishing RPC connection to remote node: "
                f"{node}@{host}:{port}.\nThis can happen if the remote node is not reachable on "
                "the network, but also if the two nodes are not configured with the same "
                f"rpc_secret.\n{exc}"}  # fmt: skip
    if node != store.node:
        remember(store, state, node, reply.get("addr") or f"{host}:{port}", reply)
        merge_layout(state, reply.get("layout"))
    return {"success": True, "error": None}


def rpc_server(config: dict, store: Store) -> None:
    host, port = bind_address(config["rpc_bind_addr"])
    server = socket.create_server((host, port))
    expected = rpc_proof(config["rpc_secret"], store.node)

    def serve(conn: socket.socket, peer: tuple[str, int]) -> None:
        with conn:
            lines = conn.makefile()
            if not hmac.compare_digest(lines.readline().strip(), expected):
                return  # wrong node id or secret: the handshake fails, nothing is answered
            request = json.loads(lines.readline() or "{}")
            with LOCK:
                state = store.load()
                if request.get("op") in ("hello", "ping") and request.get("id") != store.node:
                    addr = request.get("addr") or f"{peer[0]}:{request['port']}"
                    remember(store, state, request["id"], addr, request)
                    merge_layout(state, request.get("layout"))
                    store.save(state)
                reply = hello(store, state) if request.get("op") != "status" else state["layout"]
            conn.sendall((json.dumps(reply) + "\n").encode())

    while True:
        conn, peer = server.accept()
        threading.Thread(target=serve, args=(conn, peer), daemon=True).start()


def pinger(store: Store) -> None:
    """Every few seconds, each known peer: still up? Its layout newer? (and it learns ours)."""
    while True:
        time.sleep(PING_EVERY)
        with LOCK:
            state = store.load()
        for node, known in list(state["peers"].items()):
            host, port = address(known["addr"])
            try:
                reply = rpc_call(
                    store.secret, node, host, port, {**hello(store, state), "op": "ping"}
                )
            except (OSError, ValueError):
                continue
            if reply is None:
                continue
            with LOCK:
                state = store.load()
                addr = state["peers"].get(node, known)["addr"]
                remember(store, state, node, reply.get("addr") or addr, reply)
                merge_layout(state, reply.get("layout"))
                store.save(state)


def cli_status(config: dict) -> int:
    node = node_id(config)
    _, port = address(config["rpc_bind_addr"])
    try:
        layout = rpc_call(config["rpc_secret"], node, "127.0.0.1", port, {"op": "status"})
    except OSError as exc:
        raise Fatal(f"Unable to connect to destination RPC host: {exc}") from None
    if layout is None:
        raise Fatal("Unable to connect to destination RPC host: handshake refused (rpc_secret?)")
    role = next((r for r in layout["roles"] if r["id"] == node), None)
    print("==== HEALTHY NODES ====")
    print("ID                Hostname  Address         Tags  Zone  Capacity  DataAvail")
    where = f"{role['zone']}   {role['capacity']}" if role else "NO ROLE ASSIGNED"
    print(f"{node[:16]}  garage    127.0.0.1:{port}  {where}")
    return 0


def serve(config: dict) -> int:
    # Garage exits on SIGTERM (docker stop); as PID 1 without a handler the stand-in would
    # ignore it and be killed only after the stop timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    store = Store(config)
    Path(config["data_dir"]).mkdir(parents=True, exist_ok=True)
    threading.Thread(target=rpc_server, args=(config, store), daemon=True).start()
    threading.Thread(target=pinger, args=(store,), daemon=True).start()
    s3_bind = config["s3_api"].get("api_bind_addr")
    if s3_bind:

        def snapshot() -> dict:
            with LOCK:
                return store.load()

        s3 = ThreadingHTTPServer(
            bind_address(s3_bind), s3_handler(snapshot, store.region, config["data_dir"])
        )
        threading.Thread(target=s3.serve_forever, daemon=True).start()
        print(f"INFO garage_api::generic_server: S3 API server listening on {s3_bind}", flush=True)
    bind = config["admin"].get("api_bind_addr")
    print(f"INFO garage: Node ID of this node: {store.node[:16]}", flush=True)
    if not bind:
        print("INFO garage: admin API is disabled (no [admin] api_bind_addr)", flush=True)
        threading.Event().wait()
    handler = admin_handler(store, config["admin"]["admin_token"])
    print(f"INFO garage_api::generic_server: Admin API server listening on {bind}", flush=True)
    ThreadingHTTPServer(bind_address(bind), handler).serve_forever()
    return 0


def cli_admin(config: dict, words: list[str], argv: list[str]) -> int:
    """The CLI commands the platform's own installer and operator run in the garage
    container (its install.sh:2600-2650, operator/lib/start-infra.sh:230-280), on the
    state the server keeps: layout assign/apply, bucket create/list/allow, key create."""
    store = Store(config)
    state = store.load()

    def flag(*names: str) -> str | None:
        for i, arg in enumerate(argv):
            if arg in names and i + 1 < len(argv):
                return argv[i + 1]
        return None

    def key_id(name: str) -> str:
        found = [k for k, v in state["keys"].items() if v["name"] == name or k == name]
        if len(found) != 1:
            raise Fatal(f"No key matching {name}")
        return found[0]

    def bucket_id(alias: str) -> str:
        for bid, bucket in state["buckets"].items():
            if alias in bucket["globalAliases"]:
                return bid
        raise Fatal(f"Bucket not found: {alias}")

    try:
        if words[:2] == ["layout", "assign"]:
            node = next(n for n in (store.node,) if n.startswith(words[2]))
            capacity = 10 * 1024**3 if (flag("-c", "--capacity") or "") else None
            post(store, state, "/v1/layout", [{"id": node, "zone": flag("-z", "--zone") or "dc1",
                                               "capacity": capacity, "tags": []}])  # fmt: skip
        elif words[:2] == ["layout", "apply"]:
            post(store, state, "/v1/layout/apply", {"version": int(flag("--version") or 0)})
            print("==== NEW CLUSTER LAYOUT AFTER APPLYING CHANGES ====")
        elif words[:2] == ["bucket", "create"]:
            post(store, state, "/v1/bucket", {"globalAlias": words[2]})
            print(f"Bucket {words[2]} was created.")
        elif words[:2] == ["bucket", "list"]:
            for bucket in state["buckets"].values():
                print(" ".join(bucket["globalAliases"]))
        elif words[:2] == ["bucket", "allow"]:
            permissions = {p: f"--{p}" in argv for p in ("read", "write", "owner")}
            body = {"bucketId": bucket_id(words[2]), "accessKeyId": key_id(flag("--key") or ""),
                    "permissions": permissions}  # fmt: skip
            post(store, state, "/v1/bucket/allow", body)
            print(f"New permissions for key on bucket {words[2]} applied.")
        elif words[:2] == ["key", "create"]:
            info = post(store, state, "/v1/key", {"name": words[2]})
            print(f"Key name: {words[2]}\nKey ID: {info['accessKeyId']}\n"
                  f"Secret key: {info['secretAccessKey']}")  # fmt: skip
        else:
            raise Fatal(f"stand-in: unsupported command {' '.join(words)}")
    except (ApiError, IndexError, StopIteration) as exc:
        raise Fatal(f"{' '.join(words)}: {getattr(exc, 'message', exc)}") from None
    store.save(state)
    return 0


# The options that take a value, in the commands the stand-in knows.
VALUED = {"-c", "--config", "-z", "--zone", "--capacity", "--version", "--key", "-t", "--tag"}


def main(argv: list[str]) -> int:
    # Garage's global options come before the command (`garage -c FILE layout assign -c 1G`).
    first = next((i for i, a in enumerate(argv) if not a.startswith("-") and
                  (i == 0 or argv[i - 1] not in ("-c", "--config"))), len(argv))  # fmt: skip
    words, skip = [], False
    for arg in argv[first:]:
        if not skip and not arg.startswith("-"):
            words.append(arg)
        skip = not skip and arg in VALUED
    try:
        config = read_config(argv[:first])
        if words[:1] == ["server"]:
            return serve(config)
        if words[:1] == ["status"]:
            return cli_status(config)
        if words[:2] == ["node", "id"]:
            print(node_id(config))
            return 0
        if words[:1] in (["layout"], ["bucket"], ["key"]):
            return cli_admin(config, words, argv[first:])
        raise Fatal(f"stand-in: unsupported command {' '.join(words) or '(none)'}")
    except Fatal as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
