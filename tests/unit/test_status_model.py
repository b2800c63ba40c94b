"""Translating docker inspect documents into ServiceStatus, and the status table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kgop_tui.models import ContainerState, Health, MigrationState, ProjectStatus
from kgop_tui.render import human_duration, render_project_status
from kgop_tui.services.docker.docker_engine import parse_docker_time, status_from_inspect

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def inspect_doc(**state: Any) -> dict[str, Any]:
    base_state = {
        "Status": "running",
        "ExitCode": 0,
        "StartedAt": "2026-11-26T11:00:00.123456789Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
    }
    base_state.update(state)
    return {
        "Id": "f" * 64,
        "Name": "/kg-api-1",
        "RestartCount": 2,
        "State": base_state,
        "Config": {
            "Image": "kg/api:0.6.0",
            "Labels": {
                "com.docker.compose.service": "api",
                "org.opencontainers.image.version": "0.6.0",
            },
        },
        "NetworkSettings": {
            "Ports": {
                "8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8000"}],
                "9000/tcp": None,
            }
        },
    }


def test_running_healthy_service() -> None:
    doc = inspect_doc(Health={"Status": "healthy", "Log": [{"ExitCode": 0, "Output": "ok\n"}]})
    status = status_from_inspect(doc, NOW)
    assert status.service == "api"
    assert status.container_name == "kg-api-1"
    assert status.container_id == "f" * 12
    assert status.state is ContainerState.RUNNING
    assert status.health is Health.HEALTHY
    assert status.uptime_seconds == 3599
    assert status.restart_count == 2
    assert status.version == "0.6.0"
    assert status.exit_code is None
    assert [(p.host_ip, p.host_port, p.container_port) for p in status.ports] == [
        ("127.0.0.1", 8000, 8000)
    ]
    assert status.ok


def test_unhealthy_service_keeps_the_probe_output() -> None:
    probes = [
        {"ExitCode": 0, "Output": "fine"},
        {"ExitCode": 1, "Output": "curl: (7) Failed to connect to localhost port 8000\n"},
    ]
    status = status_from_inspect(inspect_doc(Health={"Status": "unhealthy", "Log": probes}), NOW)
    assert status.health is Health.UNHEALTHY
    assert status.health_exit_code == 1
    assert status.health_output == "curl: (7) Failed to connect to localhost port 8000"
    assert not status.ok


# The platform api's /health when Garage is missing (api/app/main.py answers 200 then), as
# its healthcheck (curl -f) leaves it in Docker's health log.
DEGRADED = (
    '{"status":"degraded","components":{"api":{"status":"healthy"},'
    '"database":{"status":"healthy"},"garage":{"status":"unhealthy","bucket":"kg-storage"}}}'
)


def test_a_degraded_api_is_up_and_says_what_is_down() -> None:
    probe = [{"ExitCode": 0, "Output": DEGRADED}]
    status = status_from_inspect(inspect_doc(Health={"Status": "healthy", "Log": probe}), NOW)
    assert status.ok
    assert status.degraded == ("garage unhealthy",)
    fine = DEGRADED.replace('"degraded"', '"healthy"').replace('"unhealthy"', '"healthy"')
    for output in (fine, "ok", "curl: (22) error 503", '{"status": "degraded"', "{}"):
        probe = [{"ExitCode": 0, "Output": output}]
        doc = inspect_doc(Health={"Status": "healthy", "Log": probe})
        assert status_from_inspect(doc, NOW).degraded == (), output
    assert "api: degraded — it reports garage unhealthy" in render_project_status(
        ProjectStatus(project="kg", services=[status])
    )
    # Unhealthy is unhealthy, whatever its last answer said.
    probe = [{"ExitCode": 1, "Output": DEGRADED}]
    sick = status_from_inspect(inspect_doc(Health={"Status": "unhealthy", "Log": probe}), NOW)
    assert sick.degraded == ()


def test_exited_service_has_exit_code_and_no_uptime() -> None:
    doc = inspect_doc(Status="exited", ExitCode=137, FinishedAt="2026-11-26T11:30:00Z")
    status = status_from_inspect(doc, NOW)
    assert status.state is ContainerState.EXITED
    assert status.exit_code == 137
    assert status.uptime_seconds is None
    assert status.finished_at == datetime(2026, 11, 26, 11, 30, tzinfo=UTC)


def test_docker_times() -> None:
    assert parse_docker_time("0001-01-01T00:00:00Z") is None
    assert parse_docker_time("2026-11-26T11:00:00.123456789Z") == datetime(
        2026, 11, 26, 11, 0, 0, 123456, tzinfo=UTC
    )


def test_human_duration() -> None:
    assert human_duration(None) == "-"
    assert human_duration(42) == "42s"
    assert human_duration(3599) == "59m59s"
    assert human_duration(93784) == "1d2h"


def test_status_table_explains_problems() -> None:
    healthy = status_from_inspect(inspect_doc(), NOW)
    sick_doc = inspect_doc(Health={"Status": "unhealthy", "Log": [{"ExitCode": 2, "Output": "no"}]})
    sick_doc["Config"]["Labels"]["com.docker.compose.service"] = "web"
    sick = status_from_inspect(sick_doc, NOW)
    dead_doc = inspect_doc(Status="exited", ExitCode=3)
    dead_doc["Config"]["Labels"]["com.docker.compose.service"] = "worker"
    dead = status_from_inspect(dead_doc, NOW)
    text = render_project_status(ProjectStatus(project="kg", services=[healthy, sick, dead]))
    lines = text.splitlines()
    assert lines[0].split() == ["SERVICE", "STATE", "HEALTH", "UPTIME", "RESTARTS", "IMAGE",
                                "VERSION"]  # fmt: skip
    assert lines[1].split()[:4] == ["api", "running", "-", "59m59s"]
    assert "exited (3)" in lines[3]
    assert "web: unhealthy — last probe exited 2: no" in text
    assert "worker: exited with code 3" in text


def test_empty_project_says_how_to_start() -> None:
    text = render_project_status(ProjectStatus(project="kg", services=[]))
    assert "No containers found for compose project 'kg'" in text


def test_stats_figures_are_those_docker_stats_shows() -> None:
    from kgop_tui.resources import stats_from_sample

    sample = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 2_500_000_000},
            "system_cpu_usage": 20_000_000_000,
            "online_cpus": 2,
        },
        "precpu_stats": {
            "cpu_usage": {"total_usage": 1_500_000_000},
            "system_cpu_usage": 18_000_000_000,
        },
        "memory_stats": {
            "usage": 50 * 2**20,
            "limit": 2 * 2**30,
            "stats": {"inactive_file": 10 * 2**20},
        },
        "networks": {
            "eth0": {"rx_bytes": 1000, "tx_bytes": 300},
            "eth1": {"rx_bytes": 24, "tx_bytes": 0},
        },
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"op": "read", "value": 4096},
                {"op": "write", "value": 8192},
                {"op": "Read", "value": 4},
            ]
        },
    }
    stats = stats_from_sample(sample)
    assert stats["cpu_percent"] == 100.0  # 1 s of CPU in 2 s of 2 CPUs' time, docker's scale
    assert stats["memory_bytes"] == 40 * 2**20  # the page cache is not counted
    assert stats["memory_limit_bytes"] == 2 * 2**30
    assert (stats["net_rx_bytes"], stats["net_tx_bytes"]) == (1024, 300)
    assert (stats["block_read_bytes"], stats["block_write_bytes"]) == (4100, 8192)
    assert stats_from_sample({})["cpu_percent"] == 0.0  # a container that just started


def _readme() -> str:
    from pathlib import Path

    return (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_status_json_is_the_documented_document() -> None:
    """The README's `status --json` example reads back and writes out the same, key order too."""
    import json
    import re

    from kgop_tui.project import ProjectStatus, ServiceStatus

    block = re.search(r"### `kgop status --json`.*?```json\n(.*?)```", _readme(), re.S)
    assert block is not None
    documented = json.loads(block.group(1))
    status = ProjectStatus(
        project=documented["project"],
        services=[ServiceStatus.from_json(s) for s in documented["services"]],
    )
    written = status.to_json(with_stats=False)
    assert json.dumps(written) == json.dumps(documented)
    assert list(status.to_json()["services"][0])[-1] == "stats"  # --stats adds, at the end


def test_migrate_status_json_has_the_documented_fields_in_order() -> None:
    import re
    from datetime import UTC, datetime

    from kgop_tui.migration_types import MigrationEntry, MigrationStatus

    text = " ".join(_readme().split())
    doc = re.search(r"`kgop migrate status --json` prints `(\{.*?\]\})`", text)
    assert doc is not None
    names = re.findall(r'"(\w+)"', doc.group(1))
    entry = MigrationEntry(
        version=3, name="x", state=MigrationState.APPLIED,
        applied_at=datetime(2026, 12, 1, 9, 12, 44, tzinfo=UTC),
    )  # fmt: skip
    status = MigrationStatus(database="d", migrations_dir="m", current_version=3, entries=[entry])
    written = status.to_json()
    assert [*written, *written["entries"][0]] == names
    assert written["entries"][0]["applied_at"] == "2026-12-01T09:12:44Z"
