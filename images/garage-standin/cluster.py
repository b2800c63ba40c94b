"""FOR TESTS ONLY: the Garage stand-in's nodes (images/garage-standin/garage.py): addresses,
the RPC handshake on rpc_bind_addr, nodes meeting and pinging each other, the layout spread.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from garage import Store

VERSION = "v1.0.1"
LOCK = threading.Lock()
PING_EVERY = 2.0  # seconds between pings of the known peers (which also spread the layout)
UP_FOR = 10.0  # a peer answered within this many seconds: isUp
SEEN: dict[str, float] = {}  # peer id → when it last answered (monotonic)


def address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def bind_address(value: str) -> tuple[str, int]:
    """Where to listen: Garage listens on ``[::]`` dual-stack (the platform's own
    config/garage.toml binds its three ports there); the stand-in's servers are IPv4, so
    ``[::]`` is every IPv4 address."""
    host, port = address(value)
    return ("0.0.0.0" if host == "::" else host), port


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
