"""An upgrade whose new images are only in a registry: pulled before anything stops.

The registry is Debian's docker-registry (the CNCF distribution server) on a loopback port,
which the engine reaches as an insecure localhost registry.
"""

from __future__ import annotations

from datetime import datetime

from tests.e2e.upgrades import Probe, operator_image, upgrade_status
from tests.support.stack import UpgradeSite, get_json, releases


def test_images_are_pulled_before_anything_stops(site: UpgradeSite, registry: str) -> None:
    newest, previous, _ = releases()
    repo = f"{registry}/kg"
    for role in ("api", "web", "operator"):
        site.image(f"kg-{role}:{previous}", f"{repo}/kg-{role}:{previous}")
        pushed = site.image(f"kg-{role}:{newest}", f"{repo}/kg-{role}:{newest}")
        done = site.docker("push", pushed)
        assert done.returncode == 0, done.stderr
        assert site.docker("rmi", pushed).returncode == 0  # only the registry has it now
    stack = site.install(
        **{role: f"{repo}/kg-{role}:{previous}" for role in ("api", "web", "operator")}
    )

    dry = stack.shim("upgrade", "--to", newest, "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    # The preflight reads the target's schema out of its api image (and its manifest out of
    # the operator's): those two are pulled then; web only when the upgrade runs.
    assert f"{repo}/kg-api:{previous} → {repo}/kg-api:{newest} (here)" in dry.stdout
    assert f"{repo}/kg-web:{previous} → {repo}/kg-web:{newest} (to pull)" in dry.stdout

    with Probe(stack.ports["API"]) as probe:
        done = stack.shim("upgrade", "--to", newest, "--yes", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(probe.outages()) == 1
    status = upgrade_status(stack)
    steps = {s["key"]: s for s in status["steps"]}
    assert steps["pull"]["detail"] == "1 pulled, 2 already here"  # operator, api: at preflight
    pulled = datetime.fromisoformat(steps["pull"]["finished_at"])
    assert pulled <= datetime.fromisoformat(steps["stop"]["started_at"])
    for role in ("api", "web", "operator"):
        assert site.docker("image", "inspect", f"{repo}/kg-{role}:{newest}").returncode == 0
    api = f"http://127.0.0.1:{stack.ports['API']}"
    assert get_json(api + "/version")[1]["version"] == newest
    assert operator_image(stack) == f"{repo}/kg-operator:{newest}"
