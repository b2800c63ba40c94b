"""Platform configuration on a real Postgres, through the real `kgop configure` verbs."""

from __future__ import annotations

import asyncio
import http.server
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from cryptography.fernet import Fernet

from kgop_tui.models import Provider
from kgop_tui.services.database.connection import DatabaseTarget
from kgop_tui.services.platform.config import ConfigService
from kgop_tui.settings import load_settings
from tests.support.engines import PgServer
from tests.support.helpers import execute, fetch, kgop_env, run_kgop

ADMIN_PASSWORD = "correct horse battery staple"
OPENAI_KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2
ANTHROPIC_KEY = "sk-ant-api03-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3" * 2
SECRETS = [ADMIN_PASSWORD, OPENAI_KEY, ANTHROPIC_KEY]
OUTPUTS: list[str] = []  # everything the configure runs of this module printed


class Install:
    """A KG_HOME with a .env, on a fresh database with the platform schema."""

    def __init__(self, home: Path, dsn: str) -> None:
        self.home, self.dsn = home, dsn
        self.key = Fernet.generate_key().decode()
        (home / ".env").write_text(f"COMPOSE_PROJECT_NAME=kgtest\nENCRYPTION_KEY={self.key}\n")
        (home / ".env").chmod(0o600)
        self.env = kgop_env(home, KGOP_DATABASE_URL=dsn)

    def kgop(
        self, *args: str, stdin: str | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        done = run_kgop(*args, env={**self.env, **extra}, stdin=stdin)
        OUTPUTS.extend([done.stdout, done.stderr])
        return done

    def service(self) -> ConfigService:
        settings = load_settings(kg_home=self.home, environ={"KGOP_DATABASE_URL": self.dsn})
        return ConfigService(DatabaseTarget(self.dsn, "test"), settings)


@pytest.fixture
def install(tmp_path: Path, postgres: str, pg_server: PgServer) -> Install:
    execute(postgres, f"ALTER DATABASE {postgres.rsplit('/', 1)[1]} SET log_statement = 'all'")
    inst = Install(tmp_path, postgres)
    migrated = inst.kgop("migrate", "up")
    assert migrated.returncode == 0, migrated.stderr
    return inst


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


# ---- admin -------------------------------------------------------------------------------


SEEDED_USERS = 2  # the platform's 'system' (no login) and 'admin' (a platform_admin)


def admin_hash(dsn: str, username: str, role: str = "admin") -> str:
    rows = fetch(dsn, "SELECT password_hash, primary_role FROM kg_auth.users WHERE username = $1",
                 username)  # fmt: skip
    assert rows, f"no user {username}"
    assert rows[0]["primary_role"] == role
    return str(rows[0]["password_hash"])


def groups_of(dsn: str, username: str) -> list[str]:
    rows = fetch(dsn, "SELECT g.group_name FROM kg_auth.users u JOIN kg_auth.user_groups m "
                 "ON m.user_id = u.id JOIN kg_auth.groups g ON g.id = m.group_id "
                 "WHERE u.username = $1 ORDER BY 1", username)  # fmt: skip
    return [r["group_name"] for r in rows]


def test_admin_is_created_then_updated(install: Install) -> None:
    out = ok(install.kgop("configure", "admin", "--username", "ops", "--password-stdin",
                          stdin=ADMIN_PASSWORD + "\n"))  # fmt: skip
    assert "Created admin user 'ops' (role admin, group admins)" in out
    first = admin_hash(install.dsn, "ops")
    assert bcrypt.checkpw(ADMIN_PASSWORD.encode(), first.encode())
    assert ADMIN_PASSWORD not in first
    assert groups_of(install.dsn, "ops") == ["admins"]
    second_password = "another long passphrase"
    out = ok(install.kgop("configure", "admin", "--username", "ops", "--password-stdin",
                          stdin=second_password))  # fmt: skip
    assert "Set the password of 'ops' (role admin, unchanged)" in out
    second = admin_hash(install.dsn, "ops")
    assert bcrypt.checkpw(second_password.encode(), second.encode())
    assert not bcrypt.checkpw(ADMIN_PASSWORD.encode(), second.encode())
    assert len(fetch(install.dsn, "SELECT 1 FROM kg_auth.users")) == SEEDED_USERS + 1
    # The api's login matches usernames exactly: 'OPS' is another user to it, and to kgop.
    out = ok(install.kgop("configure", "admin", "--username", "OPS", "--password-stdin",
                          stdin=second_password))  # fmt: skip
    assert "Created admin user 'OPS'" in out
    assert bcrypt.checkpw(second_password.encode(), admin_hash(install.dsn, "ops").encode())


def test_the_seeded_admin_keeps_its_platform_admin_role(install: Install) -> None:
    import json

    before = json.loads(ok(install.kgop("configure", "status", "--json")))
    assert before["admins"] == []  # still the platform's factory password
    assert before["factory_password"] == ["admin"]
    out = ok(install.kgop("configure", "admin", "--password-stdin", stdin=ADMIN_PASSWORD))
    assert "Set the password of 'admin' (role platform_admin, unchanged)" in out
    stored = admin_hash(install.dsn, "admin", role="platform_admin")
    assert bcrypt.checkpw(ADMIN_PASSWORD.encode(), stored.encode())
    assert groups_of(install.dsn, "admin") == ["admins"]
    after = json.loads(ok(install.kgop("configure", "status", "--json")))
    assert after["factory_password"] == []
    assert after["admins"] == [
        {"username": "admin", "role": "platform_admin", "disabled": False, "groups": ["admins"]}
    ]


@pytest.mark.parametrize(
    ("username", "password", "fragment"),
    [
        ("admin", "short", "too short"),
        ("administrator1", "Administrator1", "is the username"),
        ("admin", "é" * 40, "longer than 72 bytes"),
        ("bad user!", "long enough password", "not a valid username"),
    ],
)
def test_admin_password_policy(
    install: Install, username: str, password: str, fragment: str
) -> None:
    done = install.kgop("configure", "admin", "--username", username, "--password-stdin",
                        stdin=password)  # fmt: skip
    assert done.returncode == 2
    assert fragment in done.stderr
    assert fetch(install.dsn, "SELECT count(*) AS n FROM kg_auth.users")[0]["n"] == SEEDED_USERS


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"),
    [
        (["configure", "admin"], None, "admin password is missing"),
        (["configure", "admin", "--password-stdin"], "", "No password on stdin"),
        (["configure", "api-key", "openai"], None, "API key is missing"),
        (["configure", "api-key", "openai", "--key-stdin"], "", "No key on stdin"),
        (["configure", "ai-provider"], None, "provider is missing"),
    ],
)
def test_missing_input_without_a_terminal_is_exit_2_at_once(
    install: Install, args: list[str], stdin: str | None, fragment: str
) -> None:
    started = time.monotonic()
    done = install.kgop(*args, stdin=stdin)
    elapsed = time.monotonic() - started
    assert done.returncode == 2
    assert fragment in done.stderr
    assert elapsed < 5  # a hang would hit the subprocess timeout instead
    assert "Traceback" not in done.stderr


# ---- AI provider and embedding -----------------------------------------------------------


def extraction_rows(dsn: str) -> list[tuple[str, str, int | None, bool]]:
    rows = fetch(dsn, "SELECT provider, model_name, max_tokens, active "
                 "FROM kg_api.ai_extraction_config ORDER BY id")  # fmt: skip
    return [(r["provider"], r["model_name"], r["max_tokens"], r["active"]) for r in rows]


def test_ai_provider_keeps_exactly_one_active(install: Install) -> None:
    # The platform's seed: openai / gpt-4o, 16384 tokens, active.
    assert extraction_rows(install.dsn) == [("openai", "gpt-4o", 16384, True)]
    done = install.kgop("configure", "ai-provider", "anthropic", "--model", "claude-opus-4",
                        "--max-tokens", "8000")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Warning: model 'claude-opus-4' is not in the platform's anthropic model catalog" in (
        done.stderr
    )
    assert extraction_rows(install.dsn) == [("anthropic", "claude-opus-4", 8000, True)]
    quiet = install.kgop("configure", "ai-provider", "openai", "--model", "gpt-4o-mini")
    assert quiet.returncode == 0
    assert "Warning" not in quiet.stderr  # in the catalog, enabled
    assert "max tokens 8000" in quiet.stdout  # kept, as the platform's operator keeps it
    ok(install.kgop("configure", "ai-provider", "llamacpp", "--model", "qwen2.5-7b"))
    assert extraction_rows(install.dsn) == [("llamacpp", "qwen2.5-7b", 8000, True)]
    no_model = install.kgop("configure", "ai-provider", "llamacpp")
    assert no_model.returncode == 2
    assert "has no default model" in no_model.stderr
    bad = install.kgop("configure", "ai-provider", "openai", "--max-tokens", "0")
    assert bad.returncode == 2
    assert "--max-tokens is invalid" in bad.stderr
    unknown = install.kgop("configure", "ai-provider", "skynet")
    assert unknown.returncode == 2


def test_embedding_profiles_list_and_activate(install: Install) -> None:
    listing = ok(install.kgop("configure", "embedding")).splitlines()
    assert listing[0].split() == ["ID", "NAME", "PROVIDER", "MODEL", "DIMENSIONS", "DEVICE",
                                  "ACTIVE"]  # fmt: skip
    assert listing[1].split() == ["1", "Nomic", "v1.5", "local", "nomic-ai/nomic-embed-text-v1.5",
                                  "768", "cpu", "yes"]  # fmt: skip
    assert listing[2].split() == ["2", "OpenAI", "Small", "openai", "text-embedding-3-small",
                                  "1536", "-"]  # fmt: skip
    out = ok(install.kgop("configure", "embedding", "OpenAI Small", "--device", "cuda"))
    assert "[2] OpenAI Small" in out
    active = fetch(install.dsn, "SELECT id, device FROM kg_api.embedding_profile WHERE active")
    assert [(r["id"], r["device"]) for r in active] == [(2, "cuda")]
    ok(install.kgop("configure", "embedding", "1"))
    active = fetch(install.dsn, "SELECT id, device FROM kg_api.embedding_profile WHERE active")
    assert [(r["id"], r["device"]) for r in active] == [(1, "cpu")]
    unknown = install.kgop("configure", "embedding", "nope")
    assert unknown.returncode == 2
    assert "1 (Nomic v1.5), 2 (OpenAI Small)" in unknown.stderr


# ---- API keys ----------------------------------------------------------------------------


def pg_dump_data(dsn: str) -> str:
    pg_dump = shutil.which("pg_dump") or str(Path(os.environ.get("KGOP_PG_BINDIR", "")) / "pg_dump")
    return subprocess.run([pg_dump, "--data-only", dsn], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def test_api_key_is_stored_encrypted_and_shown_masked(install: Install, tmp_path: Path) -> None:
    out = ok(install.kgop("configure", "api-key", "openai", "--key-stdin", stdin=OPENAI_KEY))
    assert "not checked online" in out  # these machines are offline: never "invalid"
    keyfile = tmp_path / "anthropic.key"
    keyfile.write_text(ANTHROPIC_KEY + "\n")
    ok(install.kgop("configure", "api-key", "anthropic", "--key-file", str(keyfile),
                    "--no-validate"))  # fmt: skip
    listing = ok(install.kgop("configure", "api-key", "--list"))
    assert "sk-…" + OPENAI_KEY[-4:] in listing
    assert "sk-ant-…" + ANTHROPIC_KEY[-4:] in listing
    status = ok(install.kgop("configure", "status"))
    assert "matches the stored secrets" in status
    dump = pg_dump_data(install.dsn)
    for secret in (OPENAI_KEY, ANTHROPIC_KEY, OPENAI_KEY[8:30]):
        assert secret not in dump
    stored = asyncio.run(install.service().read_api_key(Provider.OPENAI))
    assert stored == OPENAI_KEY
    rows = fetch(install.dsn, "SELECT validation_status FROM kg_api.system_api_keys "
                 "ORDER BY provider")  # fmt: skip
    assert [r["validation_status"] for r in rows] == ["untested", "untested"]
    ok(install.kgop("configure", "api-key", "openai", "--delete"))
    assert "openai" not in ok(install.kgop("configure", "api-key", "--list"))


@pytest.mark.parametrize(
    ("provider", "key"),
    [("openai", "not-a-key"), ("anthropic", OPENAI_KEY), ("openrouter", "sk-or-short")],
)
def test_api_key_format_is_checked(install: Install, provider: str, key: str) -> None:
    done = install.kgop("configure", "api-key", provider, "--key-stdin", stdin=key)
    assert done.returncode == 2
    names = {"openai": "an OpenAI", "anthropic": "an Anthropic", "openrouter": "an OpenRouter"}
    assert f"does not look like {names[provider]} key" in done.stderr
    assert key not in done.stderr


class _Provider(http.server.BaseHTTPRequestHandler):
    accepted = OPENAI_KEY

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        good = self.headers.get("Authorization") == f"Bearer {self.accepted}"
        self.send_response(200 if good else 401)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def fake_provider_api() -> Iterator[str]:
    """A loopback stand-in for the provider's key-check endpoint (the machine is offline)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1/models"
    server.shutdown()


def test_online_check_records_valid_and_refuses_rejected(
    install: Install, fake_provider_api: str
) -> None:
    check = {"KGOP_OPENAI_CHECK_URL": fake_provider_api}
    good = ok(install.kgop("configure", "api-key", "openai", "--key-stdin", stdin=OPENAI_KEY,
                           **check))  # fmt: skip
    assert "accepted by the provider" in good
    rejected = install.kgop("configure", "api-key", "openai", "--key-stdin",
                            stdin=OPENAI_KEY[:-1] + "Q", **check)  # fmt: skip
    assert rejected.returncode == 1
    assert "rejected this key; nothing was stored" in rejected.stderr
    rows = fetch(install.dsn, "SELECT provider, validation_status, last_validated_at IS NOT NULL "
                 "AS checked, validation_error FROM kg_api.system_api_keys")  # fmt: skip
    assert [tuple(r.values()) for r in rows] == [("openai", "valid", True, None)]
    assert "sk-…" + OPENAI_KEY[-4:] in ok(install.kgop("configure", "api-key", "--list"))


# ---- the key canary ----------------------------------------------------------------------


def test_wrong_encryption_key_is_refused_before_writing(install: Install) -> None:
    ok(install.kgop("configure", "api-key", "openai", "--key-stdin", stdin=OPENAI_KEY))
    before = fetch(install.dsn, "SELECT * FROM kg_api.system_api_keys")
    other = Fernet.generate_key().decode()
    (install.home / ".env").write_text(f"ENCRYPTION_KEY={other}\n")
    done = install.kgop("configure", "api-key", "anthropic", "--key-stdin", stdin=ANTHROPIC_KEY)
    assert done.returncode == 4
    assert "is not the key the stored secrets were encrypted with" in done.stderr
    assert "nothing was read or written" in done.stderr
    assert other not in done.stderr
    assert fetch(install.dsn, "SELECT * FROM kg_api.system_api_keys") == before
    status = ok(install.kgop("configure", "status"))
    assert "DOES NOT MATCH" in status
    from kgop_tui.services.platform.config import KeyMismatch

    with pytest.raises(KeyMismatch):
        asyncio.run(install.service().read_api_key(Provider.OPENAI))
    forget = install.kgop("configure", "forget-secrets")
    assert forget.returncode == 4
    ok(install.kgop("configure", "forget-secrets", "--yes"))
    ok(install.kgop("configure", "api-key", "anthropic", "--key-stdin", stdin=ANTHROPIC_KEY))


# ---- key rotation ------------------------------------------------------------------------


def store_two_keys(install: Install) -> None:
    ok(install.kgop("configure", "api-key", "openai", "--key-stdin", stdin=OPENAI_KEY))
    ok(install.kgop("configure", "api-key", "anthropic", "--key-stdin", stdin=ANTHROPIC_KEY))


def readable(install: Install) -> dict[Provider, str | None]:
    svc = install.service()
    return {p: asyncio.run(svc.read_api_key(p)) for p in (Provider.OPENAI, Provider.ANTHROPIC)}


def test_rotate_key_reencrypts_everything(install: Install) -> None:
    store_two_keys(install)
    old_tokens = fetch(install.dsn, "SELECT encrypted_key FROM kg_api.system_api_keys")
    out = ok(install.kgop("configure", "rotate-key"))
    assert "2 stored secret(s) re-encrypted" in out
    env = (install.home / ".env").read_text()
    values = load_settings(kg_home=install.home, environ={})
    assert values.encryption_key is not None
    assert values.encryption_key.get_secret_value() != install.key
    # The old key is retired into .env (older backups need it), never copied anywhere else.
    assert values.encryption_keys_previous is not None
    assert values.encryption_keys_previous.get_secret_value() == install.key
    assert stat.S_IMODE((install.home / ".env").stat().st_mode) == 0o600
    assert not (install.home / "backups").exists()
    assert readable(install) == {Provider.OPENAI: OPENAI_KEY, Provider.ANTHROPIC: ANTHROPIC_KEY}
    new_tokens = fetch(install.dsn, "SELECT encrypted_key FROM kg_api.system_api_keys")
    assert old_tokens != new_tokens
    assert "COMPOSE_PROJECT_NAME=kgtest" in env  # the rest of .env is kept


@pytest.mark.parametrize("step", ["before-env", "after-env", "after-db"])
def test_rotation_killed_at_any_step_stays_readable(install: Install, step: str) -> None:
    store_two_keys(install)
    killed = install.kgop("configure", "rotate-key", KGOP_CRASH_AT=step)
    assert killed.returncode == -9
    assert readable(install) == {Provider.OPENAI: OPENAI_KEY, Provider.ANTHROPIC: ANTHROPIC_KEY}
    status = ok(install.kgop("configure", "status"))
    assert status.count("matches the stored secrets") == 1
    assert ("rotation was interrupted" in status) is (step == "after-env")
    again = ok(install.kgop("configure", "rotate-key"))
    # Only a kill between .env and the database leaves a rotation to finish.
    assert ("interrupted" in again) is (step == "after-env")
    assert readable(install) == {Provider.OPENAI: OPENAI_KEY, Provider.ANTHROPIC: ANTHROPIC_KEY}
    assert "rotation was interrupted" not in ok(install.kgop("configure", "status"))


# ---- status and the secrets scan ---------------------------------------------------------


def test_status_json(install: Install) -> None:
    ok(install.kgop("configure", "admin", "--password-stdin", stdin=ADMIN_PASSWORD))
    ok(install.kgop("configure", "ai-provider", "ollama"))
    ok(install.kgop("configure", "api-key", "openai", "--key-stdin", stdin=OPENAI_KEY))
    import json

    doc = json.loads(ok(install.kgop("configure", "status", "--json")))
    assert [a["username"] for a in doc["admins"]] == ["admin"]
    assert doc["ai_provider"] == {
        "provider": "ollama",
        "model": "mistral:7b-instruct",
        "max_tokens": 16384,
    }
    assert doc["embedding"]["name"] == "Nomic v1.5"
    assert doc["api_keys"][0]["masked_key"] == "sk-…" + OPENAI_KEY[-4:]
    assert doc["platform_config"]["registration_enabled"] == "true"
    web = next(c for c in doc["oauth_clients"] if c["client_id"] == "kg-web")
    assert web["redirect_uris"] == [
        "http://localhost:3000/callback",
        "https://viz.kg.example.com/callback",
    ]
    assert doc["encryption"]["match"] is True


def test_no_secret_appears_in_any_output_or_log(install: Install, pg_server: PgServer) -> None:
    # Run every verb once more here, so this test means something on its own too.
    ok(install.kgop("configure", "admin", "--password-stdin", stdin=ADMIN_PASSWORD))
    ok(install.kgop("configure", "api-key", "openai", "--key-stdin", stdin=OPENAI_KEY))
    ok(install.kgop("configure", "api-key", "anthropic", "--key-stdin", stdin=ANTHROPIC_KEY))
    ok(install.kgop("configure", "status", "--json"))
    ok(install.kgop("configure", "api-key", "--list"))
    ok(install.kgop("configure", "rotate-key"))
    env_key = load_settings(kg_home=install.home, environ={}).encryption_key
    assert env_key is not None
    secrets = [*SECRETS, install.key, env_key.get_secret_value()]
    captured = "\n".join(OUTPUTS)
    logs = pg_server.log_path.read_text(errors="replace") if pg_server.log_path else ""
    assert "execute" in logs or not pg_server.log_path  # statements were logged
    for secret in secrets:
        assert secret not in captured
        assert secret not in logs


# ---- Garage's credentials, the platform's flags, OAuth clients ---------------------------

GARAGE_CREDENTIALS = "GK" + "0a1b2c3d" * 3 + ":" + "f00dfeed" * 8


def test_garage_credentials_are_one_encrypted_row_and_shape_checked(install: Install) -> None:
    out = ok(install.kgop("configure", "api-key", "garage", "--key-stdin",
                          stdin=GARAGE_CREDENTIALS))  # fmt: skip
    assert "Stored the Garage credentials GK0a1b…:…, encrypted" in out
    assert GARAGE_CREDENTIALS.split(":")[1][:8] not in out
    stored = asyncio.run(install.service().read_api_key("garage"))
    assert stored == GARAGE_CREDENTIALS
    for bad in ("GK123:abc", GARAGE_CREDENTIALS.replace(":", ""), "not-garage"):
        done = install.kgop("configure", "api-key", "garage", "--key-stdin", stdin=bad)
        assert done.returncode == 2
        assert "That is not Garage credentials" in done.stderr
        assert bad not in done.stderr
    assert asyncio.run(install.service().read_api_key("garage")) == GARAGE_CREDENTIALS
    assert GARAGE_CREDENTIALS not in pg_dump_data(install.dsn)


def test_platform_config_get_set_list(install: Install) -> None:
    assert ok(install.kgop("configure", "platform-config", "registration_enabled")) == "true\n"
    done = install.kgop("configure", "platform-config", "registration_enabled", "false")
    assert done.returncode == 0
    assert done.stdout == "registration_enabled = false\n"
    assert "Warning" not in done.stderr
    rows = fetch(install.dsn, "SELECT value, updated_by FROM kg_api.platform_config "
                 "WHERE key = 'registration_enabled'")  # fmt: skip
    assert [(r["value"], r["updated_by"]) for r in rows] == [("false", "operator")]
    typo = install.kgop("configure", "platform-config", "registraton_enabled", "false")
    assert typo.returncode == 0
    assert "'registraton_enabled' was not a platform setting" in typo.stderr
    listing = ok(install.kgop("configure", "platform-config", "--list"))
    assert "registration_enabled" in listing
    missing = install.kgop("configure", "platform-config", "no_such_flag")
    assert missing.returncode == 2
    assert "No platform setting 'no_such_flag'" in missing.stderr


def test_oauth_redirect_uris(install: Install) -> None:
    uris = ["https://kg.example.org/callback", "http://localhost:3000/callback"]
    out = ok(install.kgop("configure", "oauth", "kg-web", "--redirect-uri", *uris))
    assert "kg-web: redirect URIs https://kg.example.org/callback" in out
    rows = fetch(install.dsn, "SELECT redirect_uris FROM kg_auth.oauth_clients "
                 "WHERE client_id = 'kg-web'")  # fmt: skip
    assert rows[0]["redirect_uris"] == [
        "https://kg.example.org/callback",
        "http://localhost:3000/callback",
    ]
    listing = ok(install.kgop("configure", "oauth", "--list"))
    assert "kg-mcp" in listing
    bad = install.kgop("configure", "oauth", "kg-web", "--redirect-uri", "javascript:alert(1)")
    assert bad.returncode == 2
    assert "is not a redirect URI" in bad.stderr
    unknown = install.kgop("configure", "oauth", "kg-nope", "--redirect-uri", "https://x/cb")
    assert unknown.returncode == 2
    assert "clients: kg-cli, kg-mcp, kg-web" in unknown.stderr
    after = fetch(install.dsn, "SELECT redirect_uris FROM kg_auth.oauth_clients "
                  "WHERE client_id = 'kg-web'")  # fmt: skip
    assert after == rows  # nothing half-written by the refused ones
