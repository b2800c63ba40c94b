"""doctor's .env check names the secrets compose requires and an older .env lacks."""

from __future__ import annotations

import shutil
from pathlib import Path

from kgop_tui.checks import CheckState
from kgop_tui.services.diagnosis.doctor import Doctor
from kgop_tui.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_an_env_from_before_the_apis_secrets_is_named_with_the_way_out(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "compose", tmp_path / "compose")
    older = (
        f"KG_HOME={tmp_path}\nPOSTGRES_PASSWORD=p\nENCRYPTION_KEY=k\n"
        "GARAGE_RPC_SECRET=r\nGARAGE_ADMIN_TOKEN=t\n"
    )
    (tmp_path / ".env").write_text(older)
    (tmp_path / ".env").chmod(0o600)
    doctor = Doctor(load_settings(kg_home=tmp_path, environ={}))
    doctor.check_env()
    check = {c.id: c for c in doctor.checks}["env.required"]
    assert check.state is CheckState.FAIL
    assert check.detail == "missing: INTERNAL_KEY_SERVICE_SECRET, OAUTH_SIGNING_KEY"
    assert check.hint is not None
    assert "re-run install.sh" in check.hint
    (tmp_path / ".env").write_text(older + "OAUTH_SIGNING_KEY=o\nINTERNAL_KEY_SERVICE_SECRET=i\n")
    doctor = Doctor(load_settings(kg_home=tmp_path, environ={}))
    doctor.check_env()
    assert {c.id: c for c in doctor.checks}["env.required"].state is CheckState.OK
