"""install.sh on the real engine: fresh, re-run, interactive, bad input, dry run, TLS.

Every install here is of the platform's newest release with its own api and web (built from
its source by scripts/platform-images.sh) and the schema from its api image, as a user's
install is: not ``--demo``, whose packaged schema (kgop_tui/sql: the tables kgop's
configuration touches) the platform's api does not run on (docs/platform-images.md)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from tests.support.engines import free_port, wait_for
from tests.support.platform_api import health, login
from tests.support.stack import (
    ROOT,
    InstallSite,
    Tmux,
    env_file,
    install_ports,
    kgop_version,
    releases,
)

SECRET_KEYS = (
    "POSTGRES_PASSWORD",
    "ENCRYPTION_KEY",
    "OAUTH_SIGNING_KEY",
    "INTERNAL_KEY_SERVICE_SECRET",
    "GARAGE_RPC_SECRET",
    "GARAGE_ADMIN_TOKEN",
    "KG_SESSION_SECRET",
    "KG_BACKUP_KEY",
)
AI_KEY = "sk-" + "Z" * 40


@pytest.fixture(autouse=True)
def platform_images(machine: InstallSite) -> Iterator[None]:
    """The images install.sh takes: the platform's own api and web of its newest release,
    kgop's operator (KG_<ROLE>_IMAGE, as an air-gapped site names local images)."""
    chosen = {
        "KG_API_IMAGE": f"kg-api:{releases()[0]}",
        "KG_WEB_IMAGE": f"kg-web:{releases()[0]}",
        "KG_OPERATOR_IMAGE": f"kg-operator:{kgop_version()}",
    }
    machine.env.update(chosen)
    yield
    for key in chosen:
        machine.env.pop(key, None)


HEADERS: dict[int, dict[str, str]] = {}
"""The response headers of the last https_peer call, by port."""


def https_peer(port: int, cafile: Path) -> tuple[int, str]:
    """GET / over HTTPS trusting only ``cafile``; (status, sha256 of the served cert).

    The response's headers are kept in HEADERS[port]."""
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        served = tls.getpeercert(binary_form=True)
    request = urllib.request.Request(f"https://localhost:{port}/")
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    original = socket.getaddrinfo
    try:
        socket.getaddrinfo = lambda *a, **k: original("127.0.0.1", *a[1:], **k)  # type: ignore[assignment]
        with opener.open(request, timeout=10) as response:
            status = response.status
            HEADERS[port] = {k.lower(): v for k, v in response.headers.items()}
    finally:
        socket.getaddrinfo = original  # type: ignore[assignment]
    return status, hashlib.sha256(served or b"").hexdigest()


def cert_sha256(path: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(path.read_text())).hexdigest()


def test_fresh_install_then_rerun_keeps_every_secret(machine: InstallSite, tmp_path: Path) -> None:
    home = machine.base / "fresh"
    keyfile = tmp_path / "openai.key"
    keyfile.write_text(AI_KEY + "\n")
    machine.env.update(install_ports())
    args = [
        "--yes",
        "--hostname",
        "localhost",
        "--ssl",
        "self-signed",
        "--admin-user",
        "ops",
        "--ai-provider",
        "openai",
        "--ai-key-file",
        str(keyfile),
        "--embedding",
        "2",  # the platform's "OpenAI Small" profile, by id
    ]
    started = time.monotonic()
    first = machine.install(*args, home=home)
    fresh_seconds = time.monotonic() - started
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    # Its output is not a terminal (as with `install.sh --yes > provision.log`): the generated
    # password is not in it but in a file only its owner reads, which the summary names.
    saved = home / "admin-password"
    assert f"admin:      ops / the password is in {saved}" in first.stdout, first.stdout[-1500:]
    assert saved.stat().st_mode & 0o777 == 0o600
    password = saved.read_text().strip()
    assert len(password) == 20
    assert password not in first.stdout + first.stderr
    stored = machine.psql(home, "SELECT password_hash FROM kg_auth.users WHERE username = 'ops'")
    assert bcrypt.checkpw(password.encode(), stored.encode())
    row = machine.psql(
        home,
        "SELECT provider, encode(encrypted_key, 'escape') FROM kg_api.system_api_keys "
        "WHERE provider = 'openai'",
    )
    assert row.startswith("openai|")
    assert AI_KEY not in row
    active = machine.psql(home, "SELECT name FROM kg_api.embedding_profile WHERE active")
    assert active == "OpenAI Small"
    # The admin logs in through the platform's own api, with the redirect install.sh registered.
    api = f"http://127.0.0.1:{machine.env['KG_API_PORT']}"
    wait_for(lambda: health(api).get("status") == "healthy", 120, "the api healthy")
    callback = env_file(home)["EXTERNAL_URL"] + "/callback"
    status, body = login(api, "ops", password, callback)
    assert status == 200, body
    assert "The Knowledge Graph platform" in first.stdout
    log = next((home / "logs").glob("install-*.log")).read_text()
    assert password not in log
    assert (home / ".env").stat().st_mode & 0o777 == 0o600
    garage_toml = (home / "garage" / "garage.toml").read_text()  # Garage refuses to start without
    assert "replication_factor = 1" in garage_toml
    assert env_file(home)["GARAGE_RPC_SECRET"] not in garage_toml
    secrets = {k: env_file(home)[k] for k in SECRET_KEYS}
    env_bytes = (home / ".env").read_bytes()
    assert_the_platforms_contract(machine, home)

    nginx = subprocess.run(
        ["docker", "compose", "exec", "-T", "nginx", "nginx", "-t"],
        cwd=home,
        env=machine.env,
        capture_output=True,
        text=True,
    )
    assert nginx.returncode == 0, nginx.stderr
    status, served = https_peer(int(machine.env["KG_HTTPS_PORT"]), home / "certs" / "kg.crt")
    assert status == 200
    headers = HEADERS[int(machine.env["KG_HTTPS_PORT"])]
    assert "strict-transport-security" not in headers  # never HSTS on a self-signed certificate
    assert headers.get("server") == "nginx"  # no version
    assert served == cert_sha256(home / "certs" / "kg.crt")

    # recert: a fresh certificate is kept; forced, it is renewed and nginx serves the new one.
    shim = [str(home / "operator.sh"), "recert"]
    kept = subprocess.run(
        [*shim, "--json"], cwd=home, env=machine.env, capture_output=True, text=True
    )
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["action"] == "kept"
    renewed = subprocess.run(
        [*shim, "--force", "--json"], cwd=home, env=machine.env, capture_output=True, text=True
    )
    assert renewed.returncode == 0, renewed.stderr
    report = json.loads(renewed.stdout)
    assert report["action"] == "renewed"
    assert report["nginx"] == "nginx reloaded"
    assert report["days_left"] > 800
    new_cert = cert_sha256(home / "certs" / "kg.crt")
    assert new_cert != served

    def serves_the_new_one() -> bool:
        try:
            return (
                https_peer(int(machine.env["KG_HTTPS_PORT"]), home / "certs" / "kg.crt")[1]
                == new_cert
            )
        except ssl.SSLCertVerificationError:  # still the previous certificate
            return False

    # nginx's workers pick up a reload in their own time.
    wait_for(serves_the_new_one, 30, "nginx to serve the renewed certificate", interval=0.2)
    assert (home / "certs" / "kg.key").stat().st_mode & 0o777 == 0o600

    started = time.monotonic()
    again = machine.install(*args, home=home)
    rerun_seconds = time.monotonic() - started
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert "re-run mode" in again.stdout
    assert {k: env_file(home)[k] for k in SECRET_KEYS} == secrets
    assert (home / ".env").read_bytes() == env_bytes
    assert "password is unchanged" in again.stdout
    print(f"install: fresh {fresh_seconds:.1f} s, re-run {rerun_seconds:.1f} s")
    assert home.stat().st_mode & 0o777 == 0o750
    log_file = next((home / "logs").glob("install-*.log"))
    assert log_file.stat().st_mode & 0o777 == 0o600

    # Lines made by hand survive a re-run byte for byte, in order: added keys, an export
    # line, comments, a retired key, a URL.
    hand_made = (
        "\n# my notes: keep these\nMY_SETTING='a value # with a hash'\n"
        "export EXPORTED_ONE=yes\n"
        f"ENCRYPTION_KEYS_PREVIOUS={base64.urlsafe_b64encode(os.urandom(32)).decode()}\n"
        "OFFSITE_BACKUP_URL=s3://backups.example/kg?region=eu-west-1\n"
        "   # an indented comment\n"
    )
    edited = env_bytes + hand_made.encode()
    (home / ".env").write_bytes(edited)
    kept = machine.install(*args, home=home)
    assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr[-2000:]
    assert (home / ".env").read_bytes() == edited
    assert (home / ".env").stat().st_mode & 0o777 == 0o600

    # Another version is an upgrade, not a re-run: refused, nothing changed.
    other = os.environ.get("KGOP_TEST_PREVIOUS", "0.0.1")
    files_before = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    refused = machine.install(*args, "--version", other, home=home)
    assert refused.returncode == 4, refused.stdout[-2000:] + refused.stderr
    assert "operator.sh upgrade" in refused.stderr
    assert refused.stderr.count("\n") == 1
    assert (home / ".env").read_bytes() == edited
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == files_before

    # An install made before kgop gave the api its two secrets: a re-run adds them, touches
    # nothing else, and the api runs with them.
    older = b"".join(
        line
        for line in edited.splitlines(keepends=True)
        if not line.startswith((b"OAUTH_SIGNING_KEY=", b"INTERNAL_KEY_SERVICE_SECRET="))
    )
    (home / ".env").write_bytes(older)
    added = machine.install(*args, home=home)
    assert added.returncode == 0, added.stdout[-3000:] + added.stderr[-2000:]
    now = (home / ".env").read_bytes()
    assert now.startswith(older)
    assert sorted(k for k in env_file(home) if k not in env_file_of(older)) == [
        "INTERNAL_KEY_SERVICE_SECRET",
        "OAUTH_SIGNING_KEY",
    ]
    assert {k: env_file(home)[k] for k in secrets if k not in NEW_SECRETS} == {
        k: v for k, v in secrets.items() if k not in NEW_SECRETS
    }
    assert (home / ".env").stat().st_mode & 0o777 == 0o600
    assert_the_platforms_contract(machine, home)
    assert (
        json.loads(
            subprocess.run(
                [str(home / "operator.sh"), "configure", "status", "--json"],
                cwd=home,
                env=machine.env,
                capture_output=True,
                text=True,
            ).stdout
        )["encryption"]["match"]
        is True
    )


NEW_SECRETS = ("OAUTH_SIGNING_KEY", "INTERNAL_KEY_SERVICE_SECRET")
# What the platform's api reads from its environment (its docker/docker-compose.yml:137-150).
API_VARIABLES = (
    "ENCRYPTION_KEY", "OAUTH_SIGNING_KEY", "INTERNAL_KEY_SERVICE_SECRET", "POSTGRES_HOST",
    "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "GARAGE_S3_ENDPOINT",
    "GARAGE_REGION", "GARAGE_BUCKET",
)  # fmt: skip


def env_file_of(text: bytes) -> dict[str, str]:
    """As env_file reads a .env, from its bytes."""
    lines = text.decode().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def container_env(machine: InstallSite, home: Path, service: str) -> dict[str, str]:
    project = env_file(home)["COMPOSE_PROJECT_NAME"]
    done = subprocess.run(
        ["docker", "inspect", "--format", "{{json .Config.Env}}", f"{project}-{service}-1"],
        env=machine.env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(item.split("=", 1) for item in json.loads(done.stdout))


def assert_the_platforms_contract(machine: InstallSite, home: Path) -> None:
    """.env holds the platform's secrets in its formats; api and web run with its variables;
    web answers on its port 80 inside the stack's network."""
    env = env_file(home)
    assert re.fullmatch(r"[0-9a-f]{64}", env["OAUTH_SIGNING_KEY"])  # 32 random bytes, hex
    for key in ("ENCRYPTION_KEY", "INTERNAL_KEY_SERVICE_SECRET"):  # urlsafe base64 of 32 bytes
        assert len(base64.urlsafe_b64decode(env[key])) == 32
    assert (env["POSTGRES_USER"], env["GARAGE_BUCKET"]) == ("admin", "kg-storage")
    api = container_env(machine, home, "api")
    assert {k: api.get(k) for k in API_VARIABLES} == {
        **{k: env[k] for k in SECRET_KEYS[:4]},
        "POSTGRES_HOST": "postgres", "POSTGRES_PORT": "5432", "POSTGRES_DB": "knowledge_graph",
        "POSTGRES_USER": "admin", "GARAGE_S3_ENDPOINT": "http://garage:3900",
        "GARAGE_REGION": "garage", "GARAGE_BUCKET": "kg-storage",
    }  # fmt: skip
    web = container_env(machine, home, "web")
    assert env["EXTERNAL_URL"] == f"https://localhost:{machine.env['KG_HTTPS_PORT']}"
    assert {k: v for k, v in web.items() if k.startswith("VITE_")} == {
        "VITE_API_URL": "/api",  # through the TLS front, which proxies /api/ to api
        "VITE_OAUTH_CLIENT_ID": "kg-web",
        "VITE_OAUTH_REDIRECT_URI": env["EXTERNAL_URL"] + "/callback",
        "VITE_APP_NAME": "Knowledge Graph",
    }
    probe = subprocess.run(
        ["docker", "compose", "exec", "-T", "operator", "python3", "-c",
         "import urllib.request as u; print(u.urlopen('http://web:80/config.js').read().decode())"],
        cwd=home, env=machine.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    assert env["EXTERNAL_URL"] + "/callback" in probe.stdout


def test_manual_certificate_is_checked_and_served(machine: InstallSite, tmp_path: Path) -> None:
    version = (ROOT / "VERSION").read_text().strip()
    certs = tmp_path / "issued"
    certs.mkdir()
    subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{certs}:{certs}",
            f"kg-operator:{version}",
            "kgop",
            "certs",
            "self-signed",
            "--hostname",
            "localhost",
            "--cert",
            f"{certs}/c.pem",
            "--key",
            f"{certs}/k.pem",
        ],
        env=machine.env,
        check=True,
        capture_output=True,
    )
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            f"{other}:{other}",
            f"kg-operator:{version}",
            "kgop",
            "certs",
            "self-signed",
            "--hostname",
            "x",
            "--cert",
            f"{other}/c.pem",
            "--key",
            f"{other}/k.pem",
        ],
        env=machine.env,
        check=True,
        capture_output=True,
    )
    home = machine.base / "manual"
    machine.env.update(install_ports())
    mismatch = machine.install(
        "--yes",
        "--ssl",
        "manual",
        "--ssl-cert",
        str(certs / "c.pem"),
        "--ssl-key",
        str(other / "k.pem"),
        home=home,
    )
    assert mismatch.returncode == 2
    assert "is not the key of" in mismatch.stderr
    assert not home.exists()
    done = machine.install(
        "--yes",
        "--ssl",
        "manual",
        "--ssl-cert",
        str(certs / "c.pem"),
        "--ssl-key",
        str(certs / "k.pem"),
        home=home,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    status, served = https_peer(int(machine.env["KG_HTTPS_PORT"]), certs / "c.pem")
    hsts = HEADERS[int(machine.env["KG_HTTPS_PORT"])].get("strict-transport-security")
    assert hsts == "max-age=63072000"
    assert status == 200
    assert served == cert_sha256(certs / "c.pem")


def test_interactive_install_through_a_terminal(machine: InstallSite) -> None:
    home = machine.base / "asked"
    machine.homes.append(home)
    machine.env.update(install_ports())
    tmux = Tmux.__new__(Tmux)
    tmux.socket = f"kgop-install-{uuid.uuid4().hex[:6]}"
    env = " ".join(f"{k}={v}" for k, v in machine.env.items())
    tmux._tmux(
        "new-session",
        "-d",
        "-s",
        "main",
        "-x",
        "150",
        "-y",
        "40",
        f"env -i {env} TERM=xterm bash --norc",
    )
    try:
        tmux.send(f"{ROOT}/install.sh; echo INSTALL-EXIT=$?", "Enter")
        for prompt, answer in (
            ("Install directory", str(home)),
            ("Hostname", ""),
            ("TLS:", "none"),
            ("Admin username", "chief"),
            ("AI provider", "ollama"),
            ("Model", "llama3.1"),
            ("File holding the API key", ""),
        ):
            tmux.wait(lambda s, p=prompt: p in s, f"the prompt {prompt!r}")
            tmux.send(answer, "Enter") if answer else tmux.send("Enter")
            time.sleep(0.1)  # let the next prompt replace this one before matching again
        screen = tmux.wait(lambda s: bool(re.search(r"INSTALL-EXIT=\d", s)), "the install", 600)
        assert "INSTALL-EXIT=0" in screen, screen
        # On a terminal the generated password is shown there, once, and written nowhere.
        shown = re.search(r"admin:\s+chief / (\S+)\s+\(shown once", screen)
        assert shown, screen
    finally:
        tmux.close()
    assert not (home / "admin-password").exists()
    stored = machine.psql(home, "SELECT password_hash FROM kg_auth.users WHERE username = 'chief'")
    assert bcrypt.checkpw(shown.group(1).encode(), stored.encode())
    # The platform's seeded users, and the one made here (role admin, group admins).
    users = machine.psql(home, "SELECT username, primary_role FROM kg_auth.users ORDER BY id")
    assert users.splitlines() == ["system|admin", "admin|platform_admin", "chief|admin"]
    active = "SELECT provider || '/' || model_name FROM kg_api.ai_extraction_config WHERE active"
    assert machine.psql(home, active) == "ollama/llama3.1"


BAD_INPUTS: list[tuple[list[str], str]] = [
    (["--frobnicate"], "--frobnicate"),
    (["--dir"], "--dir needs a value"),
    (["--version", "1.2"], "--version 1.2"),
    (["--version", "latest"], "--version latest"),
    (["--hostname", "bad_host!"], "--hostname bad_host!"),
    (["--hostname", "-leading.example"], "--hostname"),
    (["--ssl", "maybe"], "--ssl maybe"),
    (["--ssl", "manual"], "--ssl manual needs --ssl-cert"),
    (["--ssl", "manual", "--ssl-cert", "/nonexistent.pem", "--ssl-key", "/none.key"], "--ssl-cert"),
    (["--ssl-cert", "/etc/hostname"], "--ssl-cert"),
    (["--dir", "/tmp/kg$(id)"], "--dir: the path may not hold"),
    (["--dir", "/tmp/kg;touch x"], "--dir: the path may not hold"),
    (["--ssl-email", 'ops"@example.org'], "--ssl-email"),
    (["--ssl", "letsencrypt", "--hostname", "kg.example.org"], "--ssl-email"),
    (
        ["--ssl", "letsencrypt", "--ssl-email", "nope", "--hostname", "kg.example.org"],
        "--ssl-email",
    ),
    (["--ssl", "letsencrypt", "--ssl-email", "ops@example.org"], "--hostname"),
    (["--admin-user", "root user"], "--admin-user"),
    (["--admin-password-file", "/nonexistent"], "--admin-password-file"),
    (["--ai-provider", "skynet"], "--ai-provider skynet"),
    (["--ai-model", "gpt-4o"], "--ai-model"),
    (["--ai-key-file", "/etc/hostname"], "--ai-key-file"),
    (["--embedding", "nomic;$(id)"], "--embedding"),
    (["--macvlan-parent", "eth0"], "--macvlan-parent"),
    (
        [
            "--macvlan-parent",
            "eth0",
            "--macvlan-subnet",
            "10.0.0.0/33",
            "--macvlan-gateway",
            "10.0.0.1",
            "--macvlan-ip",
            "10.0.0.9",
        ],
        "--macvlan-subnet",
    ),
    (
        [
            "--macvlan-parent",
            "eth0",
            "--macvlan-subnet",
            "10.0.0.0/24",
            "--macvlan-gateway",
            "10.0.0.300",
            "--macvlan-ip",
            "10.0.0.9",
        ],
        "--macvlan-gateway",
    ),
    (["--source", "/nonexistent-source"], "--source"),
]


@pytest.mark.parametrize(("args", "named"), BAD_INPUTS, ids=lambda a: " ".join(a)[:40])
def test_bad_input_is_exit_2_and_touches_nothing(
    machine: InstallSite, args: list[str], named: str
) -> None:
    home = machine.base / f"bad-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [str(ROOT / "install.sh"), "--yes", "--dir", str(home), *args],
        env=machine.env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("install.sh: ")
    assert done.stderr.count("\n") == 1
    assert named in done.stderr
    assert not home.exists()


def test_existing_install_is_untouched_by_bad_input(machine: InstallSite) -> None:
    home = machine.base / "kept"
    home.mkdir()
    (home / ".env").write_text("POSTGRES_PASSWORD=keep-me\n")
    before = (home / ".env").read_bytes()
    done = machine.install("--yes", "--ssl", "bogus", home=home)
    assert done.returncode == 2
    assert (home / ".env").read_bytes() == before
    assert sorted(p.name for p in home.iterdir()) == [".env"]


def test_dry_run_writes_nothing(machine: InstallSite) -> None:
    home = machine.base / "dry"
    done = machine.install("--yes", "--dry-run", "--ssl", "self-signed", home=home)
    assert done.returncode == 0, done.stderr
    assert "nothing will be changed" in done.stdout
    assert not home.exists()


def test_help(machine: InstallSite) -> None:
    done = machine.install("--help")
    assert done.returncode == 0
    assert "--admin-password-file" in done.stdout


@pytest.fixture
def pebble(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Pebble (the ACME test server) and its mock DNS, answering 127.0.0.1 for any name."""
    if not shutil.which("pebble") or not shutil.which("pebble-challtestsrv"):
        from tests.support.engines import require_or_skip

        require_or_skip("pebble is not installed (scripts/test.sh installs it)")
    from kgop_tui.services.tls.certs import self_signed

    tls_cert, tls_key = tmp_path / "pebble.pem", tmp_path / "pebble.key"
    self_signed("localhost", tls_cert, tls_key)
    acme, mgmt, dns, dns_mgmt, http = (free_port() for _ in range(5))
    (tmp_path / "pebble.json").write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{acme}",
                    "managementListenAddress": f"127.0.0.1:{mgmt}",
                    "certificate": str(tls_cert),
                    "privateKey": str(tls_key),
                    "httpPort": http,
                    "tlsPort": free_port(),
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    dns_server = subprocess.Popen(
        [
            "pebble-challtestsrv",
            "-dns01",
            f"127.0.0.1:{dns}",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            f"127.0.0.1:{dns_mgmt}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    server = subprocess.Popen(
        [
            "pebble",
            "-config",
            str(tmp_path / "pebble.json"),
            "-dnsserver",
            f"127.0.0.1:{dns}",
            "-strict=false",
        ],
        env={**os.environ, "PEBBLE_VA_NOSLEEP": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", acme), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "pebble did not start"
                time.sleep(0.1)
        yield {
            "KG_ACME_DIRECTORY": f"https://127.0.0.1:{acme}/dir",
            "KG_ACME_CA_BUNDLE": str(tls_cert),
            "KG_HTTP_PORT": str(http),
        }
    finally:
        for process in (server, dns_server):
            process.terminate()
            process.wait(timeout=10)


def test_lets_encrypt_against_pebble(machine: InstallSite, pebble: dict[str, str]) -> None:
    home = machine.base / "acme"
    machine.env.update(install_ports())
    machine.env.update(pebble)
    args = ["--yes", "--hostname", "kg.test", "--ssl", "letsencrypt"]
    args += ["--ssl-email", "ops@example.org"]
    done = machine.install(*args, home=home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "certificate issued for kg.test" in done.stdout
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    port = int(machine.env["KG_HTTPS_PORT"])
    from cryptography import x509

    def served() -> bytes:
        """The certificate nginx serves now (DER)."""
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="kg.test") as tls,
        ):
            return tls.getpeercert(binary_form=True) or b""

    def served_issuer() -> str:
        leaf = x509.load_der_x509_certificate(served())
        assert leaf.subject.rfc4514_string() == "CN=kg.test"
        return leaf.issuer.rfc4514_string()

    # nginx reloads gracefully: old workers may answer a moment longer.
    wait_for(
        lambda: served_issuer().startswith("CN=Pebble Intermediate CA"),
        30,
        "nginx to serve the ACME certificate",
        interval=0.2,
    )
    again = machine.install(*args, home=home)
    assert again.returncode == 0, again.stderr
    assert "keeping the ACME certificate" in again.stdout
    assert "KG_SSL_EMAIL=ops@example.org" in (home / ".env").read_text()
    # The ACME account key stays out of certs/, which nginx mounts.
    assert (home / "acme" / "account.key").stat().st_mode & 0o777 == 0o600
    assert not any("account" in p.name for p in (home / "certs").iterdir())

    # Renewal: `kgop recert` in the operator image (on the host's network, as install.sh
    # runs its ACME client, to reach this Pebble on loopback) gets a new certificate for
    # the e-mail in .env and reloads nginx, which then serves it.
    before = cert_sha256(home / "certs" / "kg.crt")
    version = (ROOT / "VERSION").read_text().strip()
    engine_socket = machine.env["DOCKER_HOST"].removeprefix("unix://")
    bundle = pebble["KG_ACME_CA_BUNDLE"]
    renewed = subprocess.run(
        ["docker", "run", "--rm", "--network", "host",
         "-v", f"{home}:{home}", "-v", f"{engine_socket}:/var/run/docker.sock",
         "-v", f"{bundle}:{bundle}:ro", f"kg-operator:{version}",
         "kgop", "--home", str(home), "recert", "--force", "--json",
         "--directory", pebble["KG_ACME_DIRECTORY"], "--ca-bundle", bundle],
        env=machine.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert renewed.returncode == 0, renewed.stderr
    report = json.loads(renewed.stdout)
    assert report["mode"] == "letsencrypt"
    assert report["action"] == "renewed"
    assert report["nginx"] == "nginx reloaded"
    after = cert_sha256(home / "certs" / "kg.crt")
    assert after != before

    wait_for(
        lambda: hashlib.sha256(served()).hexdigest() == after,
        30,
        "nginx to serve the renewed certificate",
        interval=0.2,
    )
