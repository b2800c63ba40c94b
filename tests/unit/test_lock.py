"""requirements/*.lock agree with pyproject.toml: every dependency pinned, hashed, allowed.

A dependency added to or narrowed in pyproject.toml without `scripts/lock.sh` fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)", re.MULTILINE)


LOCKS = ["runtime.lock", "dev.lock", "build.lock", "platform-api.lock"]


def pins(lock: str) -> dict[str, str]:
    text = (ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(name): version for name, version in _PIN.findall(text)}


def wanted(lock: str) -> list[str]:
    project = PYPROJECT["project"]
    if lock == "runtime.lock":
        return list(project["dependencies"])
    if lock == "dev.lock":
        extras = project["optional-dependencies"]
        return [*project["dependencies"], *extras["test"], *extras["lint"]]
    if lock == "platform-api.lock":
        text = (ROOT / "requirements" / "platform-api.in").read_text()
        return [line for line in text.splitlines() if line and not line.startswith("#")]
    return list(PYPROJECT["build-system"]["requires"])


@pytest.mark.parametrize("lock", LOCKS)
def test_every_dependency_is_pinned_within_its_range(lock: str) -> None:
    pinned = pins(lock)
    for line in wanted(lock):
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not in requirements/{lock}: run scripts/lock.sh"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{name}=={pinned[name]} in {lock} is outside {requirement.specifier}: "
            "run scripts/lock.sh"
        )


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_carries_hashes(lock: str) -> None:
    text = (ROOT / "requirements" / lock).read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9._-]+==)", text)[1:]
    assert blocks
    for block in blocks:
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_runtime_lock_is_inside_the_dev_lock() -> None:
    runtime, dev = pins("runtime.lock"), pins("dev.lock")
    assert {name: dev.get(name) for name in runtime} == runtime
