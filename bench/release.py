"""Benchmark releases: image sizes per role, and an install from a registry.

    DOCKER_HOST=unix:///run/kgop-test/docker.sock python -m bench.release

Needs what scripts/test.sh provides (engine, base image, build/wheels, build/docker-compose,
the infra images, docker-registry). Starts Debian's docker-registry on loopback, runs
`scripts/release.sh VERSION --push` into it (offline build arguments, as the tests), removes
the pushed tags, then times `install.sh --yes` with KG_REGISTRY pointing there (no --demo,
the three platform images pulled).
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from tests.e2e.test_release import ROLES, offline_build_args
from tests.support.engines import DockerEngine
from tests.support.stack import ROOT, minimal_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    engine = DockerEngine(
        host=host, base_image=os.environ.get("KGOP_BASE_IMAGE", "kgop-base:bookworm")
    )
    version = (ROOT / "VERSION").read_text().strip()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        port = free_port()
        (base / "registry.yml").write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {base / 'registry'}\nhttp:\n  addr: 127.0.0.1:{port}\n"
        )
        server = subprocess.Popen(
            ["docker-registry", "serve", str(base / "registry.yml")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        home = base / "kg"
        env = {
            "PATH": minimal_path(base / "bin") + ":/usr/bin:/bin",
            "DOCKER_HOST": host, "HOME": str(base), "LANG": "C.UTF-8",
            "KG_POSTGRES_IMAGE": "kg-postgres:15", "KG_GARAGE_IMAGE": "kg-garage-standin:test",
            "COMPOSE_PROJECT_NAME": f"kgbench{port}",
            **{f"KG_{n}_PORT": str(free_port())
               for n in ("POSTGRES", "API", "WEB", "GARAGE_S3", "GARAGE_ADMIN")},
        }  # fmt: skip
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            repo = f"127.0.0.1:{port}/kg"
            started = time.perf_counter()
            done = subprocess.run(
                [str(ROOT / "scripts" / "release.sh"), version, "--registry", repo, "--push",
                 *offline_build_args(engine)],
                capture_output=True, text=True, env=engine.env(), timeout=1800,
            )  # fmt: skip
            release_s = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            sizes = dict(line.split("\t") for line in done.stdout.splitlines())
            refs = [f"{repo}/kg-{role}:{version}" for role in ROLES]
            subprocess.run(["docker", "rmi", *refs], capture_output=True, env=engine.env())
            started = time.perf_counter()
            installed = subprocess.run(
                [str(ROOT / "install.sh"), "--yes", "--dir", str(home)],
                capture_output=True, text=True, env={**env, "KG_REGISTRY": repo}, timeout=1800,
            )  # fmt: skip
            install_s = time.perf_counter() - started
            if installed.returncode != 0:
                raise SystemExit(installed.stdout[-2000:] + installed.stderr[-1000:])
        finally:
            if (home / ".env").exists():
                subprocess.run(["docker", "compose", "down", "-v", "-t", "2"], cwd=home, env=env,
                               capture_output=True)  # fmt: skip
            server.terminate()
            server.wait(30)
    print(f"release {version} (build + push, layers cached from the test build): {release_s:.1f} s")
    for ref, size in sizes.items():
        print(f"  {ref.rsplit('/', 1)[1]:<22} {int(size) / 2**20:7.1f} MiB")
    print(f"install.sh --yes from the registry (3 images pulled, infra local): {install_s:.1f} s")


if __name__ == "__main__":
    main()
