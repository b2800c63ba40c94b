"""The bind-mount preflight of operator.sh start-infra, and doctor and bundle through the shim."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from tests.support.engines import DockerEngine
from tests.support.stack import (
    Stack,
    images_or_skip,
    kgop_version,
    releases,
    shim_env,
    write_install,
)


def test_start_infra_refuses_a_missing_mount_source_and_creates_nothing(
    docker_engine: DockerEngine, tmp_path: Path
) -> None:
    newest = releases()[0]
    images_or_skip(docker_engine, newest)
    home = tmp_path / "kg"
    project, ports = write_install(
        home, docker_engine, newest, kgop_version(), platform_schema=True
    )
    missing = home / "conf" / "api-extra.conf"
    (home / "compose" / "compose.extra.yml").write_text(
        "services:\n  api:\n    volumes:\n"
        "      - ${KG_HOME}/conf/api-extra.conf:/etc/kg/extra.conf:ro\n"
    )
    env_file = home / ".env"
    env_file.write_text(
        env_file.read_text().replace(
            "COMPOSE_FILE=compose/compose.yml",
            "COMPOSE_FILE=compose/compose.yml:compose/compose.extra.yml",
        )
    )
    stack = Stack(home=home, project=project, env=shim_env(tmp_path, docker_engine), ports=ports)
    try:
        refused = stack.shim("start-infra")
        assert refused.returncode == 4, refused.stdout + refused.stderr
        last = refused.stderr.strip().splitlines()[-1]
        assert str(missing) in last
        assert "Docker would create a directory" in last
        assert not missing.exists()
        running = stack.compose("ps", "--quiet", "postgres", "garage", "api")
        assert running.stdout.strip() == ""  # nothing was started

        doctor = stack.shim("doctor", "--json")
        assert doctor.returncode == 1, doctor.stderr
        checks = {c["id"]: c for c in json.loads(doctor.stdout)["checks"]}
        assert checks["mount.api:/etc/kg/extra.conf"]["state"] == "fail"
        # The shim started the operator (and postgres, which it waits for); api never ran.
        assert checks["service.api"]["state"] == "fail"
        assert checks["service.api"]["detail"] == "no container: not started"
        assert not missing.exists()

        bundled = stack.shim("bundle")
        assert bundled.returncode == 0, bundled.stderr
        bundle = next((home / "support").glob("kg-bundle-*.tar.gz"))
        assert bundle.stat().st_mode & 0o777 == 0o600
        password = next(
            line.split("=", 1)[1]
            for line in env_file.read_text().splitlines()
            if line.startswith("POSTGRES_PASSWORD=")
        )
        with tarfile.open(bundle) as tar:
            for member in tar.getmembers():
                data = tar.extractfile(member)
                if data is not None:
                    assert password.encode() not in data.read(), member.name
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "2")
