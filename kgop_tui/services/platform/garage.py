"""The Garage object store: its configuration file, status and bootstrap (admin API v1).

``init`` is idempotent: it connects the Garage nodes it is given (a cluster on a Swarm
stack), assigns a role to each node that is up and has none, creates the bucket and the
api's key only when missing, and never replaces a key the api may already use; the key's
secret is stored encrypted through the configuration service.

The client follows Garage v1.0.1's own semantics: ``GET /v1/key?search=`` answers 400
unless exactly one key matches, so the api's key is found by listing keys and matching the
exact name; a missing bucket is 404 ``NoSuchBucket``; every error body is JSON with
``code`` and ``message``, which kgop passes on.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgop_tui.errors import ConfigInvalid, DependencyUnavailable, OperationFailed, RefusedForSafety
from kgop_tui.settings import GARAGE_BUCKET

if TYPE_CHECKING:
    from kgop_tui.settings import Settings

BUCKET = GARAGE_BUCKET  # the default; an install's is Settings.garage_bucket (GARAGE_BUCKET)
KEY_NAME = "kg-api"
# The name the platform's own installer and operator give the api's key (its install.sh:2629-2640,
# operator/lib/start-infra.sh:243): an adopted install's key is found, never replaced.
PLATFORM_KEY_NAME = "kg-api-key"
DEFAULT_REGION = "garage"

# No secret in here: GARAGE_RPC_SECRET and GARAGE_ADMIN_TOKEN reach the container from .env.
CONFIG_TEMPLATE = """\
# Garage object store of the Knowledge Graph platform (dxflrs/garage v1.x).
# Written by kgop when missing and never overwritten: edit it freely. Mounted read-only at
# /etc/garage.toml. Secrets are not here: GARAGE_RPC_SECRET and GARAGE_ADMIN_TOKEN come
# from KG_HOME/.env. If you change s3_region, set KG_GARAGE_REGION in .env to match (the
# api reads it). Reference: https://garagehq.deuxfleurs.fr/documentation/reference-manual/configuration/
metadata_dir = "/var/lib/garage/meta"
data_dir = "/var/lib/garage/data"
db_engine = "lmdb"
replication_factor = 1

rpc_bind_addr = "0.0.0.0:3901"

[s3_api]
s3_region = "{region}"
api_bind_addr = "0.0.0.0:3900"

[admin]
api_bind_addr = "0.0.0.0:3903"
"""


def config_path(kg_home: Path) -> Path:
    return kg_home / "garage" / "garage.toml"


def ensure_config(kg_home: Path, region: str = DEFAULT_REGION) -> bool:
    """Write KG_HOME/garage/garage.toml when it is missing; True when it was written.

    An empty directory in its place is what Docker leaves when it mounted the path before
    the file existed: it is replaced. Anything else already there is kept as it is.
    """
    path = config_path(kg_home)
    if path.is_dir():
        try:
            path.rmdir()
        except OSError:
            raise ConfigInvalid(
                f"{path} is a directory with files in it, not Garage's configuration file",
                hint="move it away and run `kgop garage config` to write the file",
            ) from None
    elif path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(CONFIG_TEMPLATE.format(region=region))
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return True


@dataclass(frozen=True)
class GarageStatus:
    node: str
    layout_version: int
    has_role: bool
    bucket: bool
    key: bool
    nodes: int = 1
    """Nodes this one knows (itself included): more than one in a cluster."""
    down: tuple[str, ...] = ()
    """Known nodes that are not up (node ids)."""


class GarageAdmin:
    """A small client of Garage's admin API v1."""

    def __init__(self, url: str, token: str, timeout: float = 5.0, bucket: str = BUCKET) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.bucket = bucket

    @classmethod
    def of_install(cls, settings: Settings) -> GarageAdmin:
        """The install's Garage (its admin URL and GARAGE_ADMIN_TOKEN from .env)."""
        if settings.garage_admin_token is None:
            raise ConfigInvalid("GARAGE_ADMIN_TOKEN is not set in .env", hint="install.sh sets it")
        return cls(
            settings.kg_garage_admin_url,
            settings.garage_admin_token.get_secret_value(),
            bucket=settings.garage_bucket,
        )

    def _call(self, method: str, path: str, body: Any = None, missing: str | None = None) -> Any:
        """One request; ``missing`` names the Garage error code that means "not there"."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            code, message = _error_body(exc)
            if missing is not None and code == missing:
                return None
            if exc.code in (401, 403):
                raise OperationFailed(
                    f"Garage refused the admin token ({code}: {message})",
                    hint="GARAGE_ADMIN_TOKEN in .env must match the garage service's; "
                    "restart garage after changing it",
                ) from None
            raise OperationFailed(
                f"Garage answered {exc.code} to {method} {path.split('?')[0]}: {code}: {message}",
                hint="see `kgop logs garage`",
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DependencyUnavailable(
                f"Cannot reach Garage's admin API at {self.url} ({reason})",
                hint="start it with `./operator.sh start-infra`; check KG_GARAGE_ADMIN_URL",
            ) from None

    def find_key(self) -> dict[str, Any] | None:
        """The api's key by its exact name, kgop's or the platform's (Garage's search also
        matches id prefixes)."""
        names = (KEY_NAME, PLATFORM_KEY_NAME)
        keys = [k for k in self._call("GET", "/v1/key") if k.get("name") in names]
        if len(keys) > 1:
            ids = ", ".join(k["id"] for k in keys)
            raise RefusedForSafety(
                f"Garage holds {len(keys)} keys named {KEY_NAME} or {PLATFORM_KEY_NAME} "
                f"({ids}); kgop will not guess which one the api uses",
                hint="delete the unused one with `garage key delete --yes ID` in the garage "
                "container, then run `kgop garage init`",
            )
        if not keys:
            return None
        key_id = urllib.parse.quote(keys[0]["id"])
        found: dict[str, Any] = self._call("GET", f"/v1/key?id={key_id}")
        return found

    def find_bucket(self) -> dict[str, Any] | None:
        alias = urllib.parse.quote(self.bucket)
        found: dict[str, Any] | None = self._call(
            "GET", f"/v1/bucket?globalAlias={alias}", missing="NoSuchBucket"
        )
        return found

    def connect(self, peers: Sequence[str]) -> None:
        """Have this node meet ``peers`` (``NODE_ID@HOST:3901``), as ``garage node connect``
        does; raises with Garage's reason for the first one it could not reach."""
        results = self._call("POST", "/v1/connect", list(peers))
        for peer, result in zip(peers, results, strict=True):
            if not result.get("success"):
                reason = str(result.get("error") or "no reason given").splitlines()[0]
                raise OperationFailed(
                    f"Garage could not connect to the node at {peer.partition('@')[2]}: {reason}",
                    hint="every Garage node needs the same GARAGE_RPC_SECRET and must reach "
                    "the others on port 3901",
                )

    def node_id(self) -> str:
        return str(self._call("GET", "/v1/status")["node"])

    def status(self) -> GarageStatus:
        status = self._call("GET", "/v1/status")
        node, nodes = status["node"], status.get("nodes", [])
        role = next((n.get("role") for n in nodes if n["id"] == node), None)
        bucket, key = self.find_bucket(), self.find_key()
        return GarageStatus(
            node,
            int(status.get("layoutVersion", 0)),
            role is not None,
            bucket is not None,
            key is not None,
            nodes=max(len(nodes), 1),
            down=tuple(n["id"] for n in nodes if not n.get("isUp") and n["id"] != node),
        )

    def init(
        self, capacity: int = 10 * 1024**3, peers: Sequence[str] = ()
    ) -> tuple[list[str], str | None]:
        """Bootstrap; returns the steps done and the new key's ``ACCESS:SECRET`` (None if the
        key existed): what the platform's api reads from ``system_api_keys`` (``garage``).
        ``peers``: the other nodes of a Garage cluster, connected first."""
        done: list[str] = []
        if peers:
            self.connect(peers)
            done.append(f"{len(peers) + 1} nodes connected")
        status = self._call("GET", "/v1/status")
        roleless = [
            n["id"]
            for n in status.get("nodes", [])
            if n.get("role") is None and (n.get("isUp") or n["id"] == status["node"])
        ]
        if roleless:
            # One zone: kgop's nodes are one site; capacity is what kgop reserves per node.
            changes = [
                {"id": n, "zone": "dc1", "capacity": capacity, "tags": ["kg"]} for n in roleless
            ]
            self._call("POST", "/v1/layout", changes)
            version = int(status.get("layoutVersion", 0))
            self._call("POST", "/v1/layout/apply", {"version": version + 1})
            done.append(
                "layout assigned"
                if len(roleless) == 1
                else f"layout: {len(roleless)} nodes assigned"
            )
        bucket = self.find_bucket()
        if bucket is None:
            bucket = self._call("POST", "/v1/bucket", {"globalAlias": self.bucket})
            done.append(f"bucket {self.bucket} created")
        credentials = None
        key = self.find_key()
        if key is None:
            key = self._call("POST", "/v1/key", {"name": KEY_NAME})
            credentials = f"{key['accessKeyId']}:{key['secretAccessKey']}"
            done.append(f"key {KEY_NAME} created")
        allowed = {k.get("accessKeyId") for k in bucket.get("keys", [])}
        if key["accessKeyId"] not in allowed:
            self._call(
                "POST",
                "/v1/bucket/allow",
                {
                    "bucketId": bucket["id"],
                    "accessKeyId": key["accessKeyId"],
                    "permissions": {"read": True, "write": True, "owner": True},
                },
            )
            done.append("key allowed on the bucket")
        return done, credentials


def _error_body(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """Garage's own error code and message, from its JSON error body."""
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("code") or exc.reason or "error")
    message = " ".join(str(body.get("message") or "").split()) or "no message"
    return code, message


def cluster_peers(admin_url: str, token: str, service: str) -> list[str]:
    """The other Garage nodes of a Swarm stack, as ``NODE_ID@ADDRESS:3901``: every task of
    ``service`` (``tasks.NAME`` on the overlay network answers each task's address), asked
    for its node id on its admin API. Empty when the name does not resolve (compose)."""
    try:
        found = socket.getaddrinfo(f"tasks.{service}", None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return []
    own = GarageAdmin(admin_url, token).node_id()
    port = urllib.parse.urlsplit(admin_url).port or 3903
    peers = []
    for address in sorted({str(info[4][0]) for info in found}):
        node = GarageAdmin(f"http://{address}:{port}", token).node_id()
        if node != own:
            peers.append(f"{node}@{address}:3901")
    return peers
