"""The backup's signature: what it covers, and one key for an install however many backups
start at once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kgop_tui.errors import ConfigInvalid, RefusedForSafety
from kgop_tui.models import BackupInfo
from kgop_tui.services.backups.backup_mac import (
    checked,
    decode_key,
    ensure_key,
    new_key,
    parse_manifest,
    require_verified,
    signed_manifest,
    verdict,
)
from kgop_tui.settings import read_env_file

DUMP_SHA = "ab" * 32
KEY = decode_key(new_key())


def info() -> BackupInfo:
    return BackupInfo(
        path="/kg/backups/20260101T000000Z-0.6.0",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        reason="manual",
        kg_version="0.6.0",
        kgop_version="0.9.0",
        images={"KG_API_IMAGE": "kg-api:0.6.0", "KG_VERSION": "0.6.0"},
        database="knowledge_graph",
        schema_version=9,
        dump_bytes=1234,
        dump_sha256=DUMP_SHA,
        key_fingerprint="0123456789abcdef",
        tables={"kg_api.jobs": 500},
        seconds=0.35,
    )


def signed() -> dict[str, object]:
    return parse_manifest(signed_manifest(info(), KEY).decode())


def test_a_signed_manifest_verifies_whatever_its_layout() -> None:
    doc = signed()
    assert verdict(doc, DUMP_SHA, KEY) == "verified"
    # Key order and whitespace are not signed: only the content.
    reordered = parse_manifest(json.dumps(dict(reversed(list(doc.items())))))
    assert verdict(reordered, DUMP_SHA, KEY) == "verified"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("images", {"KG_API_IMAGE": "evil/kg-api:0.6.0", "KG_VERSION": "0.6.0"}),
        ("tables", {"kg_api.jobs": 501}),
        ("schema_version", 10),
        ("secrets_sha256", "cd" * 32),
        ("dump_sha256", "cd" * 32),
        ("path", "/elsewhere"),
        ("graphs", {}),
        ("added_by_someone", 1),
    ],
)
def test_every_field_of_the_manifest_is_signed(field: str, value: object) -> None:
    doc = signed()
    doc[field] = value
    assert verdict(doc, DUMP_SHA, KEY) == "invalid"


def test_the_dump_itself_is_signed() -> None:
    assert verdict(signed(), "cd" * 32, KEY) == "invalid"


def test_another_key_unsigned_and_a_garbled_mac_are_told_apart() -> None:
    doc = signed()
    assert verdict(doc, DUMP_SHA, decode_key(new_key())) == "other-key"
    assert verdict(doc, DUMP_SHA, None) == "other-key"
    assert verdict({k: v for k, v in doc.items() if k != "mac"}, DUMP_SHA, KEY) == "unsigned"
    assert verdict({**doc, "mac": "nonsense"}, DUMP_SHA, KEY) == "invalid"
    mac = dict(doc["mac"])  # type: ignore[call-overload]
    assert verdict({**doc, "mac": {**mac, "algorithm": "none"}}, DUMP_SHA, KEY) == "invalid"


def test_a_garbled_signature_is_reported_as_invalid_not_as_damage(tmp_path: Path) -> None:
    for garbled in ("nonsense", {"algorithm": "hmac-sha256"}, 42):
        found = checked({**signed(), "mac": garbled}, tmp_path, DUMP_SHA, KEY)
        assert found.signature == "invalid"
        with pytest.raises(RefusedForSafety, match="changed after it was written"):
            require_verified(found, accept_unsigned=True, has_key=True)


def test_a_manifest_with_a_repeated_key_is_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        parse_manifest('{"tables": {}, "tables": {"x": 1}}')


def test_only_a_changed_backup_is_refused_even_with_the_flag(tmp_path: Path) -> None:
    doc = signed()
    doc["reason"] = "changed"
    changed = checked(doc, tmp_path, DUMP_SHA, KEY)
    with pytest.raises(RefusedForSafety, match="changed after it was written"):
        require_verified(changed, accept_unsigned=True, has_key=True)
    other = checked(signed(), tmp_path, DUMP_SHA, decode_key(new_key()))
    with pytest.raises(RefusedForSafety, match="another install") as refused:
        require_verified(other, accept_unsigned=False, has_key=True)
    assert "--accept-unsigned" in (refused.value.hint or "")
    require_verified(other, accept_unsigned=True, has_key=True)


def test_a_key_that_is_not_32_bytes_is_refused() -> None:
    with pytest.raises(ConfigInvalid, match="KG_BACKUP_KEY"):
        decode_key("c2hvcnQ=")


RACER = """
import sys, time
from pathlib import Path
from kgop_tui.services.backups.backup_mac import ensure_key, key_id
go = Path(sys.argv[1]) / "go"
(Path(sys.argv[1]) / f"ready-{sys.argv[2]}").touch()
while not go.exists():
    time.sleep(0.001)
print(key_id(ensure_key(Path(sys.argv[1]) / ".env")))
"""


def test_backups_that_start_together_make_one_key(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("KG_VERSION=0.6.0\n")
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path), str(n)], stdout=subprocess.PIPE, text=True
        )
        for n in range(4)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)  # every process imported kgop and waits for the signal
    (tmp_path / "go").touch()
    ids = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(ids) == 1
    text = env.read_text()
    assert text.startswith("KG_VERSION=0.6.0\n")
    assert text.count("KG_BACKUP_KEY=") == 1
    assert env.stat().st_mode & 0o777 == 0o600
    assert ensure_key(env) == decode_key(read_env_file(env)["KG_BACKUP_KEY"].value)
