"""Where the stack's services that keep data run: on labelled nodes, else where KG_HOME is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kgop_tui.services.docker.stack_file import Nodes, swarm_document

HERE = "node.id == n0d3"


def config(home: Path) -> dict[str, Any]:
    return {
        "name": "kg",
        "services": {
            "postgres": {"image": "postgres", "deploy": {"replicas": 1}},
            "garage": {
                "image": "garage",
                "deploy": {"replicas": 1},
                "volumes": [{"type": "volume", "source": "garage-meta", "target": "/meta"}],
            },
            "api": {"image": "api", "deploy": {"replicas": 2}},
        },
    }


def placement(doc: dict[str, Any], service: str) -> dict[str, Any]:
    return dict(doc["services"][service]["deploy"].get("placement") or {})


def test_without_labels_postgres_and_one_garage_stay_on_this_node(tmp_path: Path) -> None:
    doc = swarm_document(config(tmp_path), tmp_path, Nodes(HERE, {}))
    assert placement(doc, "postgres")["constraints"] == [HERE]
    assert placement(doc, "garage") == {"constraints": [HERE], "max_replicas_per_node": 1}
    assert doc["services"]["garage"]["deploy"]["replicas"] == 1
    assert "placement" not in doc["services"]["api"]["deploy"]  # api goes anywhere


def test_labelled_nodes_carry_postgres_and_a_garage_node_each(tmp_path: Path) -> None:
    nodes = Nodes(HERE, {"kg.postgres": 1, "kg.garage": 3})
    doc = swarm_document(config(tmp_path), tmp_path, nodes)
    assert placement(doc, "postgres")["constraints"] == ["node.labels.kg.postgres == true"]
    garage = placement(doc, "garage")
    assert garage["constraints"] == ["node.labels.kg.garage == true"]
    assert garage["max_replicas_per_node"] == 1  # two on one node would share its volumes
    assert doc["services"]["garage"]["deploy"]["replicas"] == 3
