"""What an unexpected failure may show, and a log follow that dies saying so (no engine)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kgop_tui.errors import DockerUnavailable, describe_unexpected
from kgop_tui.services.docker.logs import LogFollower


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (RuntimeError("connect postgresql://kg:hunter22@db:5432/kg failed"),
         "RuntimeError: connect postgresql://kg:[redacted]@db:5432/kg failed"),
        (ValueError("POSTGRES_PASSWORD=hunter22 rejected"),
         "ValueError: POSTGRES_PASSWORD=[redacted] rejected"),
        (ValueError("api_key: 'x-123456' and sk-abcdefghijklmnopqrstuv"),
         "ValueError: api_key: [redacted] and [redacted]"),
        (KeyError("mount.nginx"), "KeyError: 'mount.nginx'"),
        (TimeoutError(), "TimeoutError"),
    ],
)  # fmt: skip
def test_an_unexpected_error_shows_its_type_and_message_without_secrets(
    error: Exception, shown: str
) -> None:
    assert describe_unexpected(error) == shown


def test_an_endless_message_is_cut() -> None:
    assert len(describe_unexpected(RuntimeError("x" * 100_000))) <= 2001


def test_a_follow_whose_every_stream_died_raises_instead_of_going_quiet(tmp_path: Path) -> None:
    missing = f"unix://{tmp_path}/no-engine.sock"
    docker: Any = SimpleNamespace(
        settings=SimpleNamespace(docker_host=missing),
        unavailable=lambda detail: DockerUnavailable(f"Cannot reach the Docker engine ({detail})"),
    )
    follower = LogFollower(docker, [("api", "c0ffee")], tail=0)
    follower.start()
    try:
        # The reader fails at once: first its own event, then get says why it all stopped.
        batch = follower.get(timeout=10)
        assert batch is not None
        assert [(e.service, e.kind) for e in batch.events] == [("api", "failed")]
        assert batch.events[0].detail.startswith("Cannot reach the Docker engine")
        with pytest.raises(DockerUnavailable, match="Cannot reach the Docker engine"):
            follower.get(timeout=10)
    finally:
        follower.close()
    assert follower.get(timeout=0) is None  # closed on purpose: nothing to report
