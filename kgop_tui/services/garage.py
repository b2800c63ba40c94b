"""The Garage object store, through its admin HTTP API (v1): status and bootstrap.

``init`` is idempotent: it assigns the node a role only when it has none, creates the
bucket and the api's key only when missing, and never replaces a key the api may already
use; the key's secret is stored encrypted through the configuration service.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from kgop_tui.errors import DependencyUnavailable, OperationFailed

BUCKET = "knowledge-graph"
KEY_NAME = "kg-api"
ACCESS_SECRET = "garage.access_key_id"
SECRET_SECRET = "garage.secret_access_key"


@dataclass(frozen=True)
class GarageStatus:
    node: str
    layout_version: int
    has_role: bool
    bucket: bool
    key: bool


class GarageAdmin:
    """A small client of Garage's admin API."""

    def __init__(self, url: str, token: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None, ok404: bool = False) -> Any:
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
            if exc.code == 404 and ok404:
                return None
            if exc.code in (401, 403):
                raise OperationFailed(
                    "Garage refused the admin token",
                    hint="GARAGE_ADMIN_TOKEN in .env must match the garage service's",
                ) from None
            raise OperationFailed(
                f"Garage answered {exc.code} to {method} {path}", hint="see `kgop logs garage`"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DependencyUnavailable(
                f"Cannot reach Garage's admin API at {self.url} ({reason})",
                hint="start it with `./operator.sh start-infra`; check KG_GARAGE_ADMIN_URL",
            ) from None

    def status(self) -> GarageStatus:
        status = self._call("GET", "/v1/status")
        node = status["node"]
        role = next((n.get("role") for n in status.get("nodes", []) if n["id"] == node), None)
        bucket = self._call("GET", f"/v1/bucket?globalAlias={BUCKET}", ok404=True)
        key = self._call("GET", f"/v1/key?search={KEY_NAME}", ok404=True)
        return GarageStatus(
            node,
            int(status.get("layoutVersion", 0)),
            role is not None,
            bucket is not None,
            key is not None,
        )

    def init(self, capacity: int = 10 * 1024**3) -> tuple[list[str], dict[str, str] | None]:
        """Bootstrap; returns the steps done and new credentials (None if the key existed)."""
        done: list[str] = []
        current = self.status()
        if not current.has_role:
            self._call(
                "POST",
                "/v1/layout",
                [{"id": current.node, "zone": "dc1", "capacity": capacity, "tags": ["kg"]}],
            )
            self._call("POST", "/v1/layout/apply", {"version": current.layout_version + 1})
            done.append("layout assigned")
        bucket = self._call("GET", f"/v1/bucket?globalAlias={BUCKET}", ok404=True)
        if bucket is None:
            bucket = self._call("POST", "/v1/bucket", {"globalAlias": BUCKET})
            done.append(f"bucket {BUCKET} created")
        credentials = None
        key = self._call("GET", f"/v1/key?search={KEY_NAME}", ok404=True)
        if key is None:
            key = self._call("POST", "/v1/key", {"name": KEY_NAME})
            credentials = {ACCESS_SECRET: key["accessKeyId"], SECRET_SECRET: key["secretAccessKey"]}
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
