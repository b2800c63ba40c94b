"""Every configuration verb, run through the CLI, read back by the platform api's own code.

On the platform's 0.17.0 and 0.17.1 databases (made the platform's way, on Postgres with
AGE) and on kgop's packaged schema, `kgop configure ...` sets the admin, the extraction
provider, the embedding profile and device, the OpenAI key, Garage's credentials, the
registration flag and kg-web's redirect URI; then the api's modules from the release archive
(tests/support/api_readback.py) must find exactly that — and still after `rotate-key`,
knowing only the new ENCRYPTION_KEY, as the api does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from kgop_tui.settings import load_settings
from tests.support.helpers import kgop_env, run_kgop
from tests.support.platform import platform_way, release_tree
from tests.support.platform_db import load_platform_baseline

ADMIN_PASSWORD = "correct horse battery staple"
OPS_PASSWORD = "another long passphrase"
OPENAI_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2
GARAGE = "GK" + "0a1b2c3d" * 3 + ":" + "f00dfeed" * 8
REDIRECT = "https://kg.example.org/callback"
READBACK = Path(__file__).resolve().parents[1] / "support" / "api_readback.py"


def make_database(schema: str, dsn: str, home: Path) -> None:
    if schema == "0.17.1":  # its baseline holds every migration (001-080)
        load_platform_baseline(dsn, schema)
    elif schema == "0.17.0":  # its baseline, then its migration files, as its runner does
        platform_way(dsn, schema, warm=False)
    else:  # kgop's packaged schema, as `kgop migrate up` applies it
        done = run_kgop("migrate", "up", env=kgop_env(home, KGOP_DATABASE_URL=dsn))
        assert done.returncode == 0, done.stderr


def kgop(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = run_kgop(*args, env=env, stdin=stdin)
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done.stdout


def read_back(home: Path, dsn: str, tree: Path, key: str) -> dict[str, Any]:
    """What the api's modules read, knowing only ``key`` as ENCRYPTION_KEY."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GARAGE_", "KGOP_"))}
    env.update(
        PYTHONPATH=str(tree),
        KGOP_READBACK_DSN=dsn,
        ENCRYPTION_KEY=key,
        INTERNAL_KEY_SERVICE_SECRET="contract-test-service-token",
        OAUTH_SIGNING_KEY="contract-test-signing-key",
        POSTGRES_PASSWORD="unused",
    )
    logins = {"admin": ADMIN_PASSWORD, "ops": OPS_PASSWORD}
    done = subprocess.run(
        [sys.executable, "-P", str(READBACK)],  # -P: not its folder (tests/support/platform.py)
        input=json.dumps({"logins": logins}),
        capture_output=True,
        text=True,
        env=env,
        cwd=home / "readback",  # no .env here for python-dotenv to find
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def expected() -> dict[str, Any]:
    return {
        "logins": {
            "admin": {"ok": True, "role": "platform_admin", "groups": ["admins", "public"]},
            "ops": {"ok": True, "role": "admin", "groups": ["admins", "public"]},
        },
        "extraction": {
            "provider": "anthropic",
            "model_name": "claude-sonnet-4-20250514",
            "max_tokens": 8192,
        },
        "embedding": {
            "id": 2,
            "name": "OpenAI Small",
            "text_model_name": "text-embedding-3-small",
            "device": "cuda",
        },
        "openai": OPENAI_KEY,
        "garage": GARAGE.split(":"),
        "registration_enabled": False,
        "kg_web_redirect_uris": [REDIRECT],
    }


@pytest.mark.parametrize("schema", ["0.17.0", "0.17.1", "packaged"])
def test_the_platform_api_reads_what_every_verb_wrote(
    schema: str, tmp_path: Path, postgres: str
) -> None:
    tree = release_tree("0.17.1" if schema == "packaged" else schema)
    (tmp_path / "readback").mkdir()
    key = Fernet.generate_key().decode()
    (tmp_path / ".env").write_text(f"COMPOSE_PROJECT_NAME=kgcontract\nENCRYPTION_KEY={key}\n")
    (tmp_path / ".env").chmod(0o600)
    make_database(schema, postgres, tmp_path)
    env = kgop_env(tmp_path, KGOP_DATABASE_URL=postgres)

    kgop(env, "configure", "admin", "--password-stdin", stdin=ADMIN_PASSWORD)
    kgop(env, "configure", "admin", "--username", "ops", "--password-stdin", stdin=OPS_PASSWORD)
    kgop(env, "configure", "ai-provider", "anthropic", "--max-tokens", "8192")
    kgop(env, "configure", "embedding", "OpenAI Small", "--device", "cuda")
    kgop(env, "configure", "api-key", "openai", "--no-validate", "--key-stdin", stdin=OPENAI_KEY)
    kgop(env, "configure", "api-key", "garage", "--key-stdin", stdin=GARAGE)
    kgop(env, "configure", "platform-config", "registration_enabled", "false")
    kgop(env, "configure", "oauth", "kg-web", "--redirect-uri", REDIRECT)

    assert read_back(tmp_path, postgres, tree, key) == expected()
    status = json.loads(kgop(env, "configure", "status", "--json"))
    assert [a["username"] for a in status["admins"]] == ["admin", "ops"]
    assert status["platform_config"]["registration_enabled"] == "false"
    assert sorted(k["provider"] for k in status["api_keys"]) == ["garage", "openai"]

    kgop(env, "configure", "rotate-key")
    new = load_settings(kg_home=tmp_path, environ={}).encryption_key
    assert new is not None
    assert new.get_secret_value() != key
    assert read_back(tmp_path, postgres, tree, new.get_secret_value()) == expected()
