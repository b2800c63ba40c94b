"""An upgrade whose new images are only in a registry: pulled before anything stops, by the
digests the release recorded.

The registry is Debian's docker-registry (the CNCF distribution server) on a loopback port,
which the engine reaches as an insecure localhost registry.
"""

from __future__ import annotations

import re
from datetime import datetime

from tests.e2e.upgrades import (
    Probe,
    admin_password,
    operator_image,
    serves,
    upgrade_status,
)
from tests.support.stack import UpgradeSite, env_file, kgop_version, releases


def push(site: UpgradeSite, ref: str) -> str:
    """Push ``ref``; the digest the registry answered."""
    done = site.docker("push", ref)
    assert done.returncode == 0, done.stderr
    found = re.search(r"digest: (sha256:[0-9a-f]{64})", done.stdout)
    assert found, done.stdout
    return found.group(1)


def publish(site: UpgradeSite, registry: str, digests: dict[str, str] | None = None) -> str:
    """The newest release's api and web (the platform's own images) in the registry only,
    as the platform publishes them; kgop's operator (which operates both releases) here,
    under the registry's name, its manifest recording the digests of api and web as pushed
    (or ``digests``); the previous release's api and web here. The repository prefix."""
    newest, previous, _ = releases()
    kgop = kgop_version()
    repo = f"{registry}/kg"
    recorded = {}
    for role in ("api", "web"):
        site.image(f"kg-{role}:{previous}", f"{repo}/kg-{role}:{previous}")
        recorded[role] = push(site, site.image(f"kg-{role}:{newest}", f"{repo}/kg-{role}:{newest}"))
    recorded.update(digests or {})
    shown = site.docker(
        "run", "--rm", "--entrypoint", "cat", f"kg-operator:{kgop}",
        "/opt/kgop/share/releases.toml",
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    images = (
        f'images = {{ api = "{newest}", web = "{newest}", postgres = "{newest}", '
        f'operator = "{kgop}" }}\n'
    )
    assert images in shown.stdout
    line = f'digests = {{ api = "{recorded["api"]}", web = "{recorded["web"]}" }}\n'
    site.operator_shipping(
        f"kg-operator:{kgop}",
        f"{repo}/kg-operator:{kgop}",
        shown.stdout.replace(images, images + line),
    )
    for role in ("api", "web"):  # only the registry has them now
        assert site.docker("rmi", f"{repo}/kg-{role}:{newest}").returncode == 0
    return repo


def installed_images(repo: str) -> dict[str, str]:
    _, previous, _ = releases()
    return {
        "api": f"{repo}/kg-api:{previous}",
        "web": f"{repo}/kg-web:{previous}",
        "operator": f"{repo}/kg-operator:{kgop_version()}",
    }


def test_images_are_pulled_by_digest_before_anything_stops(
    site: UpgradeSite, registry: str
) -> None:
    newest, previous, _ = releases()
    repo = publish(site, registry)
    # Another build pushed under web's tag after the release: the upgrade still gets the
    # release's web, by digest.
    other = site.image(f"kg-web:{newest}", f"{repo}/kg-web:{newest}", "LABEL rebuilt=yes")
    pushed_after = push(site, other)
    assert site.docker("rmi", other).returncode == 0
    stack = site.install(**installed_images(repo))
    password = admin_password(stack)

    dry = stack.shim("upgrade", "--to", newest, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    found = re.search(rf"{re.escape(repo)}/kg-api:{previous} → (\S+) \(here\)", dry.stdout)
    assert found, dry.stdout
    api_ref = found.group(1)
    assert api_ref.startswith(f"{repo}/kg-api:{newest}@sha256:")
    api_digest = api_ref.rpartition("@")[2]
    web = re.search(rf"{re.escape(repo)}/kg-web:{previous} → (\S+) \(to pull\)", dry.stdout)
    assert web, dry.stdout
    web_digest = web.group(1).rpartition("@")[2]
    assert web_digest.startswith("sha256:")
    assert web_digest != pushed_after  # the release's build, not the one pushed after it

    with Probe(stack.ports["API"]) as probe:
        done = stack.shim("upgrade", "--to", newest, "--yes", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(probe.outages()) == 1
    status = upgrade_status(stack)
    steps = {s["key"]: s for s in status["steps"]}
    # The operator is here; api came at preflight (its schema is read from it); web now.
    assert steps["pull"]["detail"] == "1 pulled, 2 already here"
    pulled = datetime.fromisoformat(steps["pull"]["finished_at"])
    assert pulled <= datetime.fromisoformat(steps["stop"]["started_at"])
    pinned = env_file(stack.home)
    assert pinned["KG_API_IMAGE"] == f"{repo}/kg-api:{newest}@{api_digest}"
    assert pinned["KG_WEB_IMAGE"] == f"{repo}/kg-web:{newest}@{web_digest}"
    running = stack.compose("ps", "-q", "web").stdout.strip()
    image = site.docker("inspect", "-f", "{{.Image}}", running).stdout.strip()
    wanted = site.docker("image", "inspect", "-f", "{{.Id}}", f"{repo}/kg-web@{web_digest}")
    assert image == wanted.stdout.strip()
    serves(stack, newest, password)  # the platform's own api and web, pulled; login kept
    assert operator_image(stack) == f"{repo}/kg-operator:{kgop_version()}"


def test_a_digest_the_registry_does_not_serve_stops_the_upgrade_before_anything_stops(
    site: UpgradeSite, registry: str
) -> None:
    newest, previous, _ = releases()
    elsewhere = "sha256:" + "0" * 64  # a build the registry never had
    repo = publish(site, registry, {"web": elsewhere})
    stack = site.install(**installed_images(repo))
    before = (stack.home / ".env").read_text()

    with Probe(stack.ports["API"]) as probe:
        done = stack.shim("upgrade", "--to", newest, "--yes", timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{repo}/kg-web:{newest}@{elsewhere} is not here and cannot be pulled" in (
        done.stdout + done.stderr
    )
    assert probe.outages() == []
    assert (stack.home / ".env").read_text() == before
    assert site.docker("image", "inspect", f"{repo}/kg-web:{newest}").returncode != 0
