"""The last upgrade plan, kept in KG_HOME/upgrade/plan.json for read-only sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgop_tui.errors import ConfigInvalid
from kgop_tui.models import ImageChange, UpgradePlan
from kgop_tui.services.upgrade import UpgradeFiles, read_plan, save_plan

PLAN = UpgradePlan(
    from_version="0.5.0",
    to_version="0.6.0",
    images=[
        ImageChange(service="api", current="kg-api:0.5.0", target="kg-api:0.6.0", present=False)
    ],  # fmt: skip
    pending_migrations=[],
    schema_version=8,
    target_schema=9,
    backup_estimate_bytes=1 << 20,
    free_bytes=1 << 30,
)


def test_the_last_plan_is_kept_and_read_back(tmp_path: Path) -> None:
    files = UpgradeFiles(tmp_path / "upgrade")
    assert read_plan(files) is None  # nothing planned yet
    save_plan(files, PLAN)
    stored = read_plan(files)
    assert stored is not None
    assert stored.plan == PLAN
    assert stored.plan.lines()[1] == "api       kg-api:0.5.0 → kg-api:0.6.0 (to pull)"
    assert (tmp_path / "upgrade").stat().st_mode & 0o077 == 0  # the folder stays private


def test_a_damaged_plan_file_is_named(tmp_path: Path) -> None:
    files = UpgradeFiles(tmp_path / "upgrade")
    files.prepare()
    files.plan.write_text("{not json")
    with pytest.raises(ConfigInvalid, match="plan.json is damaged"):
        read_plan(files)
