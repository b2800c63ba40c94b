#!/usr/bin/python3
"""FOR TESTS ONLY: a stand-in for the `garage` binary of dxflrs/garage:v1.0.1.

It is installed as /garage and run the way the real image runs (exec form, no shell):
`/garage server` serves the admin API v1 subset kgop uses; `/garage status` is the
healthcheck. Behaviour follows Garage v1.0.1's sources (see docs/stand-ins.md): the
configuration file is required, secrets may come from GARAGE_* variables, errors are
JSON {code, message, path, region} with Garage's status codes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import tomllib
from http.server import ThreadingHTTPServer
from pathlib import Path

# The S3 API and its signature checks live beside this program (images/garage-standin/).
sys.path[:0] = ["/usr/local/lib/garage-standin", str(Path(__file__).resolve().parent)]
from admin_api import ApiError, admin_handler, post  # noqa: E402
from cluster import LOCK, address, bind_address, pinger, rpc_call, rpc_server  # noqa: E402
from s3 import s3_handler  # noqa: E402


class Fatal(Exception):
    """Garage refuses to start (or a CLI command fails): message, then exit 1."""


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
