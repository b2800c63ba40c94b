"""The release workflow: actions pinned by commit, and only the publishing job may write
packages, after the tests have passed in a job that cannot."""

from __future__ import annotations

import re
from pathlib import Path

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "release.yml"


def jobs() -> dict[str, str]:
    """Each job's block of the workflow, by name (the file's own two-space layout)."""
    text = WORKFLOW.read_text().split("\njobs:\n", 1)[1]
    parts = re.split(r"^  ([a-z][a-z0-9_-]*):\n", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_action_is_pinned_by_commit_with_its_tag_named() -> None:
    uses = re.findall(r"uses: (\S+)(.*)", WORKFLOW.read_text())
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), (action, comment)


def test_only_the_publish_job_writes_packages_and_it_waits_for_the_tests() -> None:
    found = jobs()
    assert set(found) == {"test", "publish"}
    top = WORKFLOW.read_text().split("\njobs:\n", 1)[0]
    assert "packages: write" not in top
    assert "packages: write" not in found["test"]
    assert "scripts/test.sh" in found["test"]
    assert "packages: write" in found["publish"]
    assert re.search(r"^    needs: test$", found["publish"], flags=re.MULTILINE)
    assert "scripts/release.sh" in found["publish"]
    assert "scripts/test.sh" not in found["publish"]
