"""Releases for real: scripts/release.sh builds and pushes kgop's operator image to a
registry, the platform's own api and web are in that registry as the platform publishes them,
and install.sh installs from it with no local images and no --demo: the platform's schema
from its api image, the admin logging in through its api."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from kgop_tui.releases import load_manifest
from tests.support.engines import DockerEngine, free_port, wait_for
from tests.support.platform_api import health, login
from tests.support.stack import ROOT, InstallSite, env_file

ROLES = ("operator", "api", "web")
SCHEMA = "/app/schema"


def release(engine: DockerEngine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "release.sh"), *args],
        capture_output=True, text=True, env=engine.env(), timeout=1200,
    )  # fmt: skip


def labels(registry: str, repository: str, tag: str) -> dict[str, str]:
    """An image's labels, read back through the registry's HTTP API."""
    base = f"http://{registry}/v2/{repository}"
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    request = urllib.request.Request(f"{base}/manifests/{tag}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        manifest = json.load(response)
    with urllib.request.urlopen(f"{base}/blobs/{manifest['config']['digest']}", timeout=10) as r:
        return dict(json.load(r)["config"]["Labels"])


def served_digest(registry: str, repository: str, tag: str) -> str:
    """The digest the registry serves for ``repository:tag``."""
    accept = ", ".join(
        f"application/vnd.{kind}"
        for kind in (
            "oci.image.index.v1+json", "docker.distribution.manifest.list.v2+json",
            "oci.image.manifest.v1+json", "docker.distribution.manifest.v2+json",
        )
    )  # fmt: skip
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}", headers={"Accept": accept}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["Docker-Content-Digest"])


def pinned_base(engine: DockerEngine, registry: str) -> str:
    """The test base image, pushed to ``registry``: ``NAME@sha256:...``."""
    name = f"{registry}/kg/base"
    for args in (["tag", engine.base_image, f"{name}:test"], ["push", f"{name}:test"]):
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, env=engine.env(), timeout=300
        )
        assert done.returncode == 0, done.stderr
    return f"{name}@{served_digest(registry, 'kg/base', 'test')}"


def offline_build_args(engine: DockerEngine, base: str | None = None) -> list[str]:
    """What scripts/test.sh builds with here: no registry for base images, no PyPI."""
    binary = ROOT / "build" / "docker-compose"
    if not binary.exists():
        pytest.fail("build/docker-compose is missing (scripts/test.sh provides it)")
    import hashlib

    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True)
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    args = [
        f"BASE_IMAGE={base or engine.base_image}", "WHEELHOUSE=build/wheels",
        "COMPOSE_BINARY=build/docker-compose",
        f"COMPOSE_SHA256_{arch.stdout.strip().upper()}={digest}",
    ]  # fmt: skip
    return [part for arg in args for part in ("--build-arg", arg)] + ["--network", "host"]


def test_a_version_that_disagrees_with_the_manifest_is_refused_before_any_build(
    docker_engine: DockerEngine,
) -> None:
    done = release(docker_engine, "9.9.9", "--registry", "127.0.0.1:9/kg")
    assert done.returncode == 2
    assert "VERSION says" in done.stderr
    assert done.stderr.count("\n") == 1
    assert nothing_built(docker_engine)


PINNED = "python:3.11-slim-bookworm@sha256:" + "a" * 64


def nothing_built(engine: DockerEngine) -> bool:
    """No image of the refused release is on the engine."""
    images = subprocess.run(
        ["docker", "images", "-q", "127.0.0.1:9/kg/kg-operator"],
        capture_output=True, text=True, env=engine.env(),
    )  # fmt: skip
    return images.stdout.strip() == ""


@pytest.mark.parametrize(
    ("bases", "says"),
    [
        ((), "publishing needs the operator image's base pinned by digest"),
        (("debian:bookworm-slim",), "base debian:bookworm-slim is not pinned by digest"),
        (("debian@sha256:abc",), "base debian@sha256:abc is not pinned by digest"),
        ((PINNED, "operator=debian:bookworm-slim"), "operator image's base debian:bookworm-slim"),
        ((PINNED, "web=debian:bookworm-slim"), "ROLE must be operator"),
    ],
)
def test_publishing_on_a_base_image_not_pinned_by_digest_is_refused_before_any_build(
    docker_engine: DockerEngine, bases: tuple[str, ...], says: str
) -> None:
    version = (ROOT / "VERSION").read_text().strip()
    pinned = [part for base in bases for part in ("--base-image", base)]
    manifest = (ROOT / "kgop_tui" / "releases.toml").read_text()
    done = release(docker_engine, version, "--registry", "127.0.0.1:9/kg", "--push", *pinned)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr
    assert done.stderr.count("\n") == 1
    assert nothing_built(docker_engine)
    assert (ROOT / "kgop_tui" / "releases.toml").read_text() == manifest


def publish_platform(engine: DockerEngine, repo: str, platform: str) -> None:
    """The platform's own api and web of ``platform`` (built from its source by
    scripts/platform-images.sh) in the registry only, as the platform publishes them."""
    for role in ("api", "web"):
        ref = f"{repo}/kg-{role}:{platform}"
        for args in (["tag", f"kg-{role}:{platform}", ref], ["push", ref], ["rmi", ref]):
            done = subprocess.run(
                ["docker", *args], capture_output=True, text=True, env=engine.env(), timeout=300
            )
            assert done.returncode == 0, done.stderr


def test_release_then_install_from_the_registry(
    docker_engine: DockerEngine, registry: str, machine: InstallSite
) -> None:
    version = (ROOT / "VERSION").read_text().strip()
    repo = f"{registry}/kg"
    manifest = ROOT / "kgop_tui" / "releases.toml"
    shipped = manifest.read_text()
    platform = load_manifest(manifest).latest.version
    base = pinned_base(docker_engine, registry)
    try:
        done = release(
            docker_engine, version, "--registry", repo, "--push",
            *offline_build_args(docker_engine, base),
        )  # fmt: skip
        after = load_manifest(manifest)
    finally:
        manifest.write_text(shipped)  # the release's digests are for its maintainers to commit
    assert done.returncode == 0, done.stderr[-3000:]
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    ref, size, digest = done.stdout.strip().split("\t")
    assert ref == f"{repo}/kg-operator:{version}"
    served = served_digest(registry, "kg/kg-operator", version)
    assert digest == served
    # Every release this kgop operates records its operator's digest; only the operator.
    operated = [r for r in after.releases if r.images["operator"] == version]
    assert operated
    assert all(r.digests == {"operator": served} for r in operated)
    found = labels(registry, "kg/kg-operator", version)
    assert found["org.opencontainers.image.version"] == version
    assert found["org.opencontainers.image.revision"] == (revision or "unknown")
    assert found["org.opencontainers.image.created"].endswith("Z")
    assert found["org.opencontainers.image.source"].startswith("https://")
    print(f"operator image: {int(size) / 2**20:.0f} MiB")
    # Only the registry has it now; the platform's api and web are there too.
    subprocess.run(["docker", "rmi", ref], capture_output=True, env=docker_engine.env())
    publish_platform(docker_engine, repo, platform)

    home = machine.base / "from-registry"
    ports = {
        f"KG_{n}_PORT": str(free_port())
        for n in ("POSTGRES", "API", "WEB", "GARAGE_S3", "GARAGE_ADMIN")
    }
    # KG_REGISTRY is the platform's images' prefix; kgop's operator is named on its own.
    machine.env.update(
        ports, KG_REGISTRY=repo, KG_OPERATOR_IMAGE=ref, COMPOSE_PROJECT_NAME=f"kgreg{os.getpid()}"
    )
    try:
        installed = machine.install("--yes", home=home)
    finally:
        machine.env.pop("KG_REGISTRY")
        machine.env.pop("KG_OPERATOR_IMAGE")
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-2000:]
    said = f"schema: the platform's {platform}, from {repo}/kg-api:{platform} ({SCHEMA})"
    assert said in installed.stdout
    pinned = env_file(home)
    assert pinned["KG_REGISTRY"] == repo
    assert pinned["KG_VERSION"] == platform
    assert pinned["KG_OPERATOR_IMAGE"] == ref
    for role in ("api", "web"):
        assert pinned[f"KG_{role.upper()}_IMAGE"] == f"{repo}/kg-{role}:{platform}"

    def shim(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(home / "operator.sh"), *args],
            cwd=home, env=machine.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    values = env_file(home)
    api = f"http://127.0.0.1:{values['KG_API_PORT']}"
    wait_for(lambda: health(api).get("status") == "healthy", 120, "the pulled api healthy")
    password = (home / "admin-password").read_text().strip()
    status, body = login(api, "admin", password, values["EXTERNAL_URL"] + "/callback")
    assert status == 200, body  # the platform's own login, from the registry's images

    checked = shim("releases", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"✔ api: {repo}/kg-api:{platform} labelled {platform}" in checked.stdout
    assert f"✔ operator: {ref} labelled {version}" in checked.stdout

    # A web image whose label is another version: named, exit 1.
    odd = f"{repo}/kg-web:odd"
    built = subprocess.run(
        ["docker", "build", "-q", "-t", odd, "-"],
        input=f"FROM {repo}/kg-web:{platform}\nLABEL org.opencontainers.image.version=0.5.0\n",
        capture_output=True, text=True, env=docker_engine.env(),
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    env_path = home / ".env"
    env_path.write_text(
        env_path.read_text().replace(
            f"KG_WEB_IMAGE={repo}/kg-web:{platform}", f"KG_WEB_IMAGE={odd}"
        )
    )
    subprocess.run(
        ["docker", "compose", "up", "-d", "--no-deps", "web"],
        cwd=home, env=machine.env, capture_output=True, timeout=120,
    )  # fmt: skip
    mismatch = shim("releases", "--check")
    assert mismatch.returncode == 1, mismatch.stdout + mismatch.stderr
    assert f"✖ web: {odd} is labelled 0.5.0; {platform} expects {platform}" in mismatch.stdout
    subprocess.run(["docker", "rmi", "-f", odd], capture_output=True, env=docker_engine.env())


def test_the_locks_install_offline_with_hashes(tmp_path: Path) -> None:
    wheels = ROOT / "build" / "wheels"
    if not wheels.is_dir():
        pytest.fail("build/wheels is missing (scripts/test.sh downloads it from the locks)")
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True, timeout=120)
    done = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(wheels),
         "--require-hashes", "-r", str(ROOT / "requirements" / "build.lock"),
         "-r", str(ROOT / "requirements" / "runtime.lock")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    kgop = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--no-deps",
         "--no-build-isolation", str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert kgop.returncode == 0, kgop.stderr[-2000:]
    version = subprocess.run(
        [str(venv / "bin" / "kgop"), "--version"], capture_output=True, text=True
    )
    assert version.stdout.startswith("kgop ")
