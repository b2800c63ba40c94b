"""The platform's Swarm stack file, from the same compose files plus ``compose/stack.yml``.

``docker stack deploy`` reads the older compose file format: it refuses ``depends_on``
with conditions and ignores or refuses what only compose has (``container_name``,
``restart``, a port's host address). So kgop lets compose itself merge the install's compose
files with the ``stack.yml`` overlay (its ``deploy:`` sections) and interpolate ``.env``
(``docker compose config --format json``), then keeps what Swarm understands:

- ``depends_on``, ``container_name``, ``restart`` and the project ``name`` are dropped
  (Swarm orders nothing; ``deploy.restart_policy`` restarts);
- a port compose publishes on one host address (``127.0.0.1:8000``) is not published:
  Swarm cannot bind an address and would open it on every node's ingress; reach those
  services on the overlay network (the operator, a probe). Ports published on every address
  (nginx's 80 and 443) stay;
- the default network becomes an attachable overlay, so a probe or the operator can join.

The result is printed, never written: it holds ``.env``'s secrets, as compose's own
``config`` output does. ``docker stack deploy -c - NAME`` reads it from a pipe.
"""

from __future__ import annotations

import json
from typing import Any

from kgop_tui.errors import ConfigInvalid
from kgop_tui.services.compose import ComposeService
from kgop_tui.settings import Settings

OVERLAY = "compose/stack.yml"
COMPOSE_ONLY = ("depends_on", "container_name", "restart", "pull_policy")


def pruned(value: Any) -> Any:
    """Without the nulls and empty mappings compose's JSON has for unset fields (the stack
    format refuses ``"command": null``); empty strings and lists stay."""
    if isinstance(value, dict):
        kept = {k: pruned(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in kept.items() if v != {}}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def swarm_service(service: dict[str, Any]) -> dict[str, Any]:
    """One service of ``compose config``'s JSON, as ``docker stack deploy`` takes it."""
    service = pruned(service)
    out = {key: value for key, value in service.items() if key not in COMPOSE_ONLY}
    ports = []
    for port in service.get("ports") or []:
        if port.get("host_ip") not in (None, "", "0.0.0.0", "::"):
            continue  # loopback-only in compose: Swarm would open it on every node
        entry = {k: v for k, v in port.items() if k != "host_ip"}
        if "published" in entry:
            entry["published"] = int(entry["published"])
        ports.append(entry)
    if ports:
        out["ports"] = ports
    else:
        out.pop("ports", None)
    return out


def swarm_document(config: dict[str, Any]) -> dict[str, Any]:
    """The whole stack document from ``compose config --format json``."""
    services = {name: swarm_service(s) for name, s in (config.get("services") or {}).items()}
    networks = {}
    for name, network in (config.get("networks") or {}).items():
        network = {k: v for k, v in (network or {}).items() if k != "ipam" or v}
        if not network.get("external"):
            network.setdefault("driver", "overlay")
            if network["driver"] == "overlay":
                network["attachable"] = True
        networks[name] = network
    document: dict[str, Any] = {"services": services}
    if networks:
        document["networks"] = networks
    for key in ("volumes", "secrets", "configs"):
        if config.get(key):
            document[key] = config[key]
    return document


def render(settings: Settings) -> dict[str, Any]:
    """The stack document for this install (its COMPOSE_FILE list + compose/stack.yml)."""
    overlay = settings.kg_home / OVERLAY
    if not overlay.is_file():
        raise ConfigInvalid(
            f"{overlay} is missing: it holds the stack's deploy sections",
            hint="copy compose/stack.yml from this release (install.sh puts it there)",
        )
    text = ComposeService(settings, extra_files=[overlay]).run(
        "config", "--format", "json", timeout=60
    )
    return swarm_document(json.loads(text))
