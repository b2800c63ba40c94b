"""install.sh --dry-run on a fresh directory: where users will reach web (EXTERNAL_URL, from
which web's OAuth redirect URI is made), for each way of publishing it. Needs only bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MACVLAN = ["--macvlan-parent", "eth0", "--macvlan-subnet", "192.168.50.0/24",
           "--macvlan-gateway", "192.168.50.1", "--macvlan-ip", "192.168.50.20"]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "env", "url"),
    [
        ([], {}, "http://localhost:3000"),
        (["--hostname", "kg.example.org"], {"KG_WEB_PORT": "3100"}, "http://kg.example.org:3100"),
        (["--hostname", "kg.example.org", "--ssl", "self-signed"], {}, "https://kg.example.org"),
        (["--ssl", "self-signed"], {"KG_HTTPS_PORT": "8443"}, "https://localhost:8443"),
        (MACVLAN, {}, "http://192.168.50.20"),
        (["--hostname", "kg.lan", *MACVLAN], {}, "http://kg.lan"),
        (["--hostname", "fd00::5", "--ssl", "self-signed"], {}, "https://[fd00::5]"),
    ],
)
def test_the_plan_says_where_users_reach_web(
    tmp_path: Path, args: list[str], env: dict[str, str], url: str
) -> None:
    done = subprocess.run(
        [str(ROOT / "install.sh"), "--yes", "--dry-run", "--dir", str(tmp_path / "kg"), *args],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **env},
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"users reach web at {url}\n" in done.stdout
    assert not (tmp_path / "kg").exists()
