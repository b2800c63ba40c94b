"""The README's first command, `./install.sh --demo --yes && ~/kg/operator.sh`, on the real
engine: the demo's api and web (the reference images, built from images/ when missing, here
by the test command) on kgop's packaged schema, healthy; the operator answers through the
shim (without a terminal it falls back to plain subcommands)."""

from __future__ import annotations

import json
import subprocess

from tests.support.engines import DockerEngine
from tests.support.stack import InstallSite, env_file, install_ports


def test_the_readme_command_brings_the_demo_up_and_the_operator_answers(
    machine: InstallSite, docker_engine: DockerEngine
) -> None:
    home = machine.base / "demo"
    # The demo builds its api and web from images/reference on this base (no registry here).
    machine.env["KG_BASE_IMAGE"] = docker_engine.base_image
    machine.env.update(install_ports("kgd"))
    done = machine.install("--demo", "--yes", home=home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "kgop's packaged (demo) schema" in done.stdout
    assert (home / ".env").stat().st_mode & 0o777 == 0o600

    status = subprocess.run(
        [str(home / "operator.sh"), "status", "--json"],
        env=machine.env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    services = {s["service"]: s for s in json.loads(status.stdout)["services"]}
    for name in ("postgres", "garage", "operator", "api", "web"):
        assert services[name]["state"] == "running", (name, services[name])
        assert services[name]["health"] == "healthy", (name, services[name])
    # Its own tags: kg-api:VERSION may be the platform's real image, built here by the test
    # command, which does not run on the demo's schema.
    assert env_file(home)["KG_API_IMAGE"].endswith("-demo")
    assert env_file(home)["KG_WEB_IMAGE"].endswith("-demo")
