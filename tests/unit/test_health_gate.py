"""The health gate (start, upgrade, restore, Swarm) on what the platform's api answers.

Its ``/health`` answers 200 "degraded" when a part it needs is down, and its healthcheck
(``curl -f``) leaves that answer in Docker's health log while Docker calls it healthy. The
gate lets a platform without Garage through (it says so) but never one without its database.
"""

from __future__ import annotations

import pytest

from kgop_tui.errors import OperationFailed
from kgop_tui.models import ProjectStatus
from kgop_tui.services.docker.docker_engine import status_from_inspect
from kgop_tui.services.docker.health import wait_healthy
from tests.unit.test_status_model import NOW, inspect_doc


def answer(database: str, garage: str) -> str:
    overall = "healthy" if database == garage == "healthy" else "degraded"
    return (
        f'{{"status":"{overall}","components":{{"api":{{"status":"healthy"}},'
        f'"database":{{"status":"{database}"}},"garage":{{"status":"{garage}"}}}}}}'
    )


class Engine:
    """The one call the gate makes: the project's containers as the engine reports them."""

    def __init__(self, output: str) -> None:
        self.output = output

    def project_status(self) -> ProjectStatus:
        probe = [{"ExitCode": 0, "Output": self.output}]
        doc = inspect_doc(Health={"Status": "healthy", "Log": probe})
        return ProjectStatus(project="kg", services=[status_from_inspect(doc, NOW)])


def test_an_api_without_garage_is_up_and_the_gate_says_what_is_down() -> None:
    said = wait_healthy(Engine(answer("healthy", "unhealthy")), ["api"], 1)  # type: ignore[arg-type]
    assert said == "api up, degraded: garage unhealthy"
    assert wait_healthy(Engine(answer("healthy", "healthy")), ["api"], 1) == "api healthy"  # type: ignore[arg-type]


def test_an_api_whose_database_is_down_never_passes_the_gate() -> None:
    with pytest.raises(OperationFailed) as refused:
        wait_healthy(Engine(answer("unhealthy", "healthy")), ["api"], 1)  # type: ignore[arg-type]
    assert str(refused.value).startswith("api is not healthy after 1s")
    assert "its /health says the database is unhealthy" in str(refused.value)
