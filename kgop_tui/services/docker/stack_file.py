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
- the default network becomes an attachable overlay, so a probe or the operator can join;
- a file of KG_HOME that compose bind-mounts (``garage.toml``, nginx's ``kg.conf``) becomes
  a Swarm config — a secret when the file is not readable by others (a key) — so the task
  finds it on whichever node it runs. Swarm's configs cannot change, so each is named after
  its content (``kg_garage-garage.toml-1a2b3c4d5e``): an edited file is a new config, and
  the next deploy rolls the service onto it;
- a folder of KG_HOME stays a bind mount (the certificates nginx reloads, the ACME
  challenges kgop writes, the operator's own KG_HOME): Swarm does not create a missing
  source, so render creates it, as compose does, and the service is placed on this node
  (``node.id``), the one that holds KG_HOME;
- Postgres and Garage keep their data in volumes of the node they run on, so they are
  pinned: Postgres to the node labelled ``kg.postgres=true``, else this one; Garage to the
  nodes labelled ``kg.garage=true`` — one replica on each, every one a node of the Garage
  cluster ``kgop start`` lays out — else one replica on this node.

The result is printed, never written: it holds ``.env``'s secrets, as compose's own
``config`` output does. ``docker stack deploy -c - NAME`` reads it from a pipe.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from kgop_tui.errors import ConfigInvalid
from kgop_tui.services.docker.compose import ComposeService
from kgop_tui.services.docker.mounts import in_home
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


def place_on(service: dict[str, Any], constraint: str) -> None:
    placement = service.setdefault("deploy", {}).setdefault("placement", {})
    constraints = placement.setdefault("constraints", [])
    if constraint not in constraints:
        constraints.append(constraint)


def move_home_mounts(
    name: str, service: dict[str, Any], home: Path, project: str, node: str, into: dict[str, Any]
) -> None:
    """KG_HOME's files bind-mounted into ``service`` become configs or secrets (added to
    ``into["configs"]``/``into["secrets"]``); its folders stay mounts on this ``node``."""
    kept = []
    for mount in service.get("volumes") or []:
        source = Path(str(mount.get("source") or "/"))
        if mount.get("type") != "bind" or not in_home(source, home):
            kept.append(mount)
            continue
        if source.is_file():
            kind = "configs" if source.stat().st_mode & 0o004 else "secrets"
            key = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{name}-{Path(mount['target']).name}")
            digest = hashlib.sha256(source.read_bytes()).hexdigest()[:10]
            into.setdefault(kind, {})[key] = {
                "name": f"{project}_{key}-{digest}",
                "file": str(source),
            }
            service.setdefault(kind, []).append({"source": key, "target": mount["target"]})
            continue
        source.mkdir(parents=True, exist_ok=True)
        kept.append(mount)
        place_on(service, node)
    if kept:
        service["volumes"] = kept
    else:
        service.pop("volumes", None)


MANAGER = "node.role == manager"


class Nodes(NamedTuple):
    """What placement needs to know of the Swarm."""

    here: str = MANAGER
    """The constraint for this node, the one that holds KG_HOME (any manager when unknown)."""
    labelled: dict[str, int] = {}
    """How many nodes carry each ``kg.*`` label set to true."""


NO_SWARM = Nodes()


def pin(service: dict[str, Any], label: str, nodes: Nodes) -> int:
    """Place a service that keeps data on its node: on the nodes labelled ``label``, else on
    this one. Returns how many nodes it may run on."""
    count = nodes.labelled.get(label, 0)
    place_on(service, f"node.labels.{label} == true" if count else nodes.here)
    return count or 1


def swarm_document(
    config: dict[str, Any], home: Path | None = None, nodes: Nodes = NO_SWARM
) -> dict[str, Any]:
    """The whole stack document from ``compose config --format json``; with ``home``, its
    files become configs and secrets and its folders pin their services to this node."""
    services = {name: swarm_service(s) for name, s in (config.get("services") or {}).items()}
    moved: dict[str, Any] = {}
    if home is not None:
        project = str(config.get("name") or "kg")
        for name, service in services.items():
            move_home_mounts(name, service, home, project, nodes.here, moved)
    if "postgres" in services:
        pin(services["postgres"], "kg.postgres", nodes)
    if "garage" in services:  # one Garage node per labelled node, each with its own volumes
        garage = services["garage"]
        garage.setdefault("deploy", {})["replicas"] = pin(garage, "kg.garage", nodes)
        garage["deploy"].setdefault("placement", {})["max_replicas_per_node"] = 1
    networks = {}
    for name, network in (config.get("networks") or {}).items():
        network = {k: v for k, v in (network or {}).items() if k != "ipam" or v}
        if not network.get("external"):
            network.setdefault("driver", "overlay")
            if network["driver"] == "overlay":
                network["attachable"] = True
                # IPsec between nodes: the Garage admin token, Postgres and S3 traffic cross
                # the wire between hosts only encrypted.
                network.setdefault("driver_opts", {})["encrypted"] = ""
        networks[name] = network
    document: dict[str, Any] = {"services": services}
    if networks:
        document["networks"] = networks
    for key in ("volumes", "secrets", "configs"):
        if config.get(key) or moved.get(key):
            document[key] = {**(config.get(key) or {}), **moved.get(key, {})}
    return document


def swarm_nodes(settings: Settings) -> Nodes:
    """This engine's node in its Swarm and the nodes' ``kg.*`` labels; without a Swarm (or
    an answer), any manager and no labels."""
    from kgop_tui.services.docker.engine_api import EngineAPI

    api = EngineAPI(settings.docker_host)
    try:
        node = (api.get("/info").get("Swarm") or {}).get("NodeID")
        found = api.get("/nodes") if node else []
    except Exception:  # noqa: BLE001 - unreachable or refused: the fallback
        return Nodes()
    labelled: dict[str, int] = {}
    for doc in found:
        for label, value in ((doc.get("Spec") or {}).get("Labels") or {}).items():
            if label.startswith("kg.") and value == "true":
                labelled[label] = labelled.get(label, 0) + 1
    return Nodes(f"node.id == {node}" if node else MANAGER, labelled)


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
    return swarm_document(json.loads(text), settings.kg_home, swarm_nodes(settings))
