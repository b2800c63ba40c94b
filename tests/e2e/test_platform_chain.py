"""The whole chain on the platform's own api and web, not a stand-in.

``./install.sh --yes`` with the images built from the platform's source archive
(scripts/platform-images.sh: ``platform/kg-api`` and ``platform/kg-web`` of the manifest's
newest release) brings up the platform's api and web on kgop's stack: the schema from the
api image, Garage's key where the api reads it, the admin whose password install.sh
generated logging in through the api's own ``login-and-authorize`` with the kg-web redirect
URI install.sh registered, ``/health`` healthy (database and Garage), and the web's
``config.js`` naming the api and kg-web as the platform's web reads them.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

from tests.support.engines import require_or_skip, wait_for
from tests.support.platform_api import health, http, login, running_version
from tests.support.stack import InstallSite, env_file, install_ports, kgop_version, run_script

PLATFORM = os.environ.get("KGOP_TEST_PLATFORM", "0.17.1")
PREVIOUS = os.environ.get("KGOP_TEST_PLATFORM_PREVIOUS", "0.17.0")
API = f"platform/kg-api:{PLATFORM}"
WEB = f"platform/kg-web:{PLATFORM}"


def install_platform(machine: InstallSite, name: str, version: str) -> Path:
    """install.sh --yes with the platform's own api and web of ``version``."""
    for image in (f"platform/kg-api:{version}", f"platform/kg-web:{version}"):
        inspected = subprocess.run(
            ["docker", "image", "inspect", image], env=machine.env, capture_output=True
        )
        if inspected.returncode != 0:
            require_or_skip(f"{image} is not built (scripts/test.sh builds it)")
    home = machine.base / name
    chosen = {
        **install_ports(),
        "KG_API_IMAGE": f"platform/kg-api:{version}",
        "KG_WEB_IMAGE": f"platform/kg-web:{version}",
        "KG_OPERATOR_IMAGE": f"kg-operator:{kgop_version()}",
    }
    machine.env.update(chosen)
    try:
        done = machine.install("--yes", "--version", version, "--hostname", "localhost", home=home)
    finally:
        for key in ("KG_API_IMAGE", "KG_WEB_IMAGE", "KG_OPERATOR_IMAGE"):
            machine.env.pop(key, None)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return home


def shim(machine: InstallSite, home: Path, *args: str, stdin: str | None = None) -> str:
    done = run_script([str(home / "operator.sh"), *args], machine.env, stdin, 600, cwd=home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done.stdout


def test_install_brings_up_the_platforms_own_api_and_web(machine: InstallSite) -> None:
    home = install_platform(machine, "platform-chain", PLATFORM)
    values = env_file(home)
    assert (values["KG_API_IMAGE"], values["KG_WEB_IMAGE"]) == (API, WEB)
    # The platform's own schema, from its api image: the graph is there.
    graphs = machine.psql(home, "SELECT name FROM ag_catalog.ag_graph")
    assert "knowledge_graph" in graphs.split()

    api = f"http://127.0.0.1:{values['KG_API_PORT']}"
    # Healthy as the platform's api says it: its database (a cypher ping on the graph) and
    # Garage (a signed HeadBucket with the key `kgop garage init` stored in system_api_keys).
    wait_for(lambda: health(api).get("status") == "healthy", 120, "the api healthy")
    components = health(api)["components"]
    assert components["garage"]["bucket"] == values.get("GARAGE_BUCKET", "kg-storage")

    redirect = values["EXTERNAL_URL"] + "/callback"
    password = (home / "admin-password").read_text().strip()
    status, body = login(api, "admin", password, redirect)
    assert status == 200, body
    assert len(json.loads(body)["code"]) >= 32
    status, body = login(api, "admin", password + "x", redirect)
    assert (status, json.loads(body)["detail"]) == (401, "Invalid username or password")
    status, body = login(api, "admin", password, "https://attacker.example/callback")
    assert status == 400, body  # a redirect URI kg-web does not have

    # The platform's own web: its bundle, and config.js written from what compose gave it.
    web = f"http://127.0.0.1:{values['KG_WEB_PORT']}"
    status, page = http(web + "/")
    assert status == 200, page
    assert '<div id="root">' in page
    status, config = http(web + "/config.js")
    assert status == 200, config
    assert f'redirectUri: "{redirect}"' in config
    assert "clientId: 'kg-web'" in config
    assert f"apiUrl: 'http://localhost:{values['KG_API_PORT']}'" in config
    # Open self-registration is off, as the platform's own init leaves a production install.
    flag = machine.psql(home, "SELECT kg_api.get_platform_config('registration_enabled')")
    assert flag.strip().strip('"') == "false"


def test_an_upgrade_and_a_restore_keep_the_platforms_login(machine: InstallSite) -> None:
    """The previous release of the platform's own api and web, upgraded by kgop to the newest
    (backup, the target's schema from its api image, health gate): the admin still logs in
    and web serves the new release. Then a backup, a changed password, and a restore: the
    password of the backup logs in again, the changed one no longer does."""
    home = install_platform(machine, "platform-upgrade", PREVIOUS)
    values = env_file(home)
    api = f"http://127.0.0.1:{values['KG_API_PORT']}"
    redirect = values["EXTERNAL_URL"] + "/callback"
    password = (home / "admin-password").read_text().strip()
    wait_for(lambda: health(api).get("status") == "healthy", 120, f"the {PREVIOUS} api healthy")
    assert login(api, "admin", password, redirect)[0] == 200

    said = shim(machine, home, "upgrade", "--to", PLATFORM, "--yes")
    assert f"{PLATFORM}" in said
    values = env_file(home)
    assert values["KG_VERSION"] == PLATFORM
    assert values["KG_API_IMAGE"].endswith(f"kg-api:{PLATFORM}")
    wait_for(lambda: health(api).get("status") == "healthy", 120, f"the {PLATFORM} api healthy")
    status, body = login(api, "admin", password, redirect)
    assert status == 200, body
    assert running_version(machine.env, f"{values['COMPOSE_PROJECT_NAME']}-web-1") == PLATFORM

    folder = json.loads(shim(machine, home, "backup", "--json"))["path"]
    changed = secrets.token_urlsafe(16)
    shim(machine, home, "admin", "--password-stdin", stdin=changed + "\n")
    assert login(api, "admin", password, redirect)[0] == 401
    assert login(api, "admin", changed, redirect)[0] == 200
    shim(machine, home, "restore", folder, "--yes", "--json")
    wait_for(lambda: health(api).get("status") == "healthy", 120, "the api healthy, restored")
    status, body = login(api, "admin", password, redirect)
    assert status == 200, body
    assert login(api, "admin", changed, redirect)[0] == 401
