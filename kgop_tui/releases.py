"""The release manifest: versions, their image tags and migration ranges, required stops.

The manifest ships with kgop (``releases.toml`` next to this module, and in the operator
image at ``/opt/kgop/share/releases.toml``). An upgrade reads the manifest of the version it
goes to, since only the newer release knows about itself and the stops before it.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from kgop_tui.errors import ConfigInvalid, RefusedForSafety, UsageError

MANIFEST = Path(__file__).with_name("releases.toml")
ROLES = ("api", "web", "operator")
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def parse_version(text: str) -> tuple[int, int, int, str]:
    """``0.6.0`` → (0, 6, 0, "~"); a pre-release sorts before its release."""
    match = _SEMVER.fullmatch(text.strip())
    if not match:
        raise UsageError(f"{text!r} is not a version like 0.6.0", hint="see `kgop releases`")
    major, minor, patch, pre = match.groups()
    return int(major), int(minor), int(patch), pre or "~"


class Release(BaseModel):
    """One platform release."""

    version: str
    date: str = ""
    migrations: tuple[int, int] = Field(description="first and last migration version shipped")
    required: bool = Field(default=False, description="an upgrade may not skip this version")
    notes: str = ""
    images: dict[str, str] = Field(description="image tag per role: api, web, operator")
    digests: dict[str, str] = Field(
        default_factory=dict,
        description="the registry's manifest digest per role (sha256:...), recorded by "
        "scripts/release.sh when it pushes; an upgrade pulls and checks these",
    )
    rolling: bool = Field(
        default=False,
        description="the previous release's api and web run on this release's schema: on a "
        "Swarm stack they are updated replica by replica, with no downtime",
    )

    @field_validator("version")
    @classmethod
    def _semver(cls, value: str) -> str:
        parse_version(value)
        return value

    @field_validator("images")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [role for role in ROLES if not value.get(role)]
        if missing:
            raise ValueError(f"no image tag for {', '.join(missing)}")
        return value

    @field_validator("digests")
    @classmethod
    def _digests(cls, value: dict[str, str]) -> dict[str, str]:
        for role, digest in value.items():
            if role not in ROLES:
                raise ValueError(f"a digest for {role!r}, which is not a role")
            if not DIGEST.fullmatch(digest):
                raise ValueError(f"the {role} digest {digest!r} is not sha256: and 64 hex digits")
        return value

    @property
    def key(self) -> tuple[int, int, int, str]:
        return parse_version(self.version)

    @property
    def schema_version(self) -> int:
        return self.migrations[1]


class Manifest(BaseModel):
    """Every release, oldest first."""

    releases: list[Release] = Field(alias="release")

    @model_validator(mode="after")
    def _ordered(self) -> Manifest:
        keys = [r.key for r in self.releases]
        if keys != sorted(keys) or len(set(keys)) != len(keys):
            raise ValueError("releases must be listed once each, oldest first")
        schemas = [r.schema_version for r in self.releases]
        if schemas != sorted(schemas):
            raise ValueError("a later release cannot ship an older schema")
        return self

    @property
    def latest(self) -> Release:
        return self.releases[-1]

    def get(self, version: str) -> Release | None:
        key = parse_version(version)
        return next((r for r in self.releases if r.key == key), None)

    def require(self, version: str) -> Release:
        release = self.get(version)
        if release is None:
            known = ", ".join(r.version for r in self.releases)
            raise UsageError(f"Version {version} is not a release", hint=f"known: {known}")
        return release

    def skipped_required(self, current: str, target: str) -> list[Release]:
        """Required releases strictly between ``current`` and ``target``."""
        low, high = parse_version(current), parse_version(target)
        return [r for r in self.releases if r.required and low < r.key < high]

    def check_path(self, current: str, target: str) -> Release:
        """The target release, after refusing downgrades and skipped required versions."""
        release = self.require(target)
        if parse_version(target) < parse_version(current):
            raise RefusedForSafety(
                f"{target} is older than the installed {current}: downgrades are not supported",
                hint="restore a backup taken before the upgrade (`kgop restore`)",
            )
        stops = self.skipped_required(current, target)
        if stops:
            raise RefusedForSafety(
                f"Upgrading {current} → {target} would skip {stops[0].version}, which cannot "
                "be skipped",
                hint=f"upgrade to {stops[0].version} first: `kgop upgrade --to {stops[0].version}`",
            )
        return release


def load_manifest(path: Path | None = None) -> Manifest:
    """Read and validate a manifest (default: the one shipped with this kgop)."""
    source = path or MANIFEST
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
        return Manifest.model_validate(data)
    except FileNotFoundError:
        raise ConfigInvalid(
            f"No release manifest at {source}", hint="the operator image ships one"
        ) from None
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()
        raise ConfigInvalid(
            f"The release manifest {source} is invalid: {' '.join(first[:3])[:200]}",
            hint="it must list [[release]] tables, oldest first",
        ) from None


def render_markdown(manifest: Manifest) -> str:
    """docs/RELEASES.md: the version matrix."""
    lines = [
        "# Releases",
        "",
        "Generated from `kgop_tui/releases.toml` by `kgop releases --markdown`; a test keeps",
        "the two equal. `KG_VERSION` in `.env` pins the version; `kgop upgrade --to VERSION`",
        "moves to another one. A **required** version cannot be skipped: upgrade to it first.",
        "",
        "| Version | Date | api | web | operator | Migrations | Required | Notes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in reversed(manifest.releases):
        first, last = r.migrations
        lines.append(
            f"| {r.version} | {r.date} | {r.images['api']} | {r.images['web']} | "
            f"{r.images['operator']} | {first:04d}–{last:04d} | "
            f"{'yes' if r.required else 'no'} | {r.notes} |"
        )
    lines += [
        "",
        "Upgrade paths: from any version to a later one, stopping at each required version",
        "in between. Downgrades are not supported; restore the backup the upgrade took",
        "(`kgop restore KG_HOME/backups/...`).",
        "",
        "## How a release is made",
        "",
        "1. Add the `[[release]]` to `kgop_tui/releases.toml`, set `VERSION`, regenerate this",
        "   file (`kgop releases --markdown > docs/RELEASES.md`); `kgop releases --check` and the",
        "   test command must pass.",
        "2. `scripts/release.sh VERSION --registry REGISTRY --push [--platform LIST]` refuses",
        "   (exit 2) unless `VERSION`, the manifest and this file agree, then builds kg-api,",
        "   kg-web and kg-operator with that one tag and OCI labels (version, revision = the git",
        "   commit, created, source) and pushes them; multi-arch (`linux/amd64,linux/arm64`)",
        "   with docker buildx, single-arch without it. With `--push` it refuses (exit 2)",
        "   unless `--base-image` (or `KG_BASE_IMAGE`) names the base image by digest",
        "   (`debian:bookworm-slim@sha256:...`): a tag can name another image tomorrow.",
        "3. Each pushed image's digest, as the registry serves it, is written into the",
        '   release\'s entry in `kgop_tui/releases.toml` (`digests = { api = "sha256:...", ...',
        "   }`): api and web before the operator image is built, so the operator image ships",
        "   them; the operator's own digest after its push. Commit the updated manifest, so",
        "   the next release carries all three.",
        "4. On a `v*` tag, `.github/workflows/release.yml` runs the test command in a job with",
        "   read-only permissions, then, in a job that alone may write packages,",
        "   `scripts/release.sh` with `--push` to the registry, logged in with the platform's",
        "   token. Its actions are pinned by commit.",
        "",
        "An upgrade to a release with digests pulls `repo:tag@sha256:...`, checks that the",
        "image it got carries that digest (else it stops before anything stops) and pins",
        "`.env` to `repo:tag@sha256:...`. A digest you pin in `.env` yourself is kept until an",
        "upgrade moves to another version.",
        "",
        "Installs pull from `KG_REGISTRY` (default `ghcr.io/knowledge-graph`): the one place",
        "the prefix of the platform's own images is set (compose's defaults, install.sh).",
        "",
    ]
    return "\n".join(lines)


def check_manifest(manifest: Manifest, migrations_dir: Path) -> list[str]:
    """What is inconsistent in the manifest, against the migration files it ships."""
    problems = []
    versions = sorted(
        int(p.name.split("_", 1)[0])
        for p in [*migrations_dir.glob("*.sql"), *migrations_dir.glob("archived/*.sql")]
        if p.name.split("_", 1)[0].isdigit()
    )
    previous: Release | None = None
    for r in manifest.releases:
        first, last = r.migrations
        if not 1 <= first <= last:
            problems.append(f"{r.version}: migrations [{first}, {last}] is not a range")
        if previous is not None and first > previous.migrations[1] + 1:
            problems.append(
                f"{r.version}: migrations start at {first}, after a gap from "
                f"{previous.version}'s {previous.migrations[1]}"
            )
        if r.required and previous is not None and last == previous.migrations[1]:
            problems.append(f"{r.version} is a required stop but ships no new migration")
        if set(r.images.values()) != {r.version}:
            problems.append(f"{r.version}: image tags {sorted(set(r.images.values()))} differ")
        previous = r
    newest = manifest.latest.migrations[1]
    if versions and versions[-1] != newest:
        problems.append(
            f"the newest release ships migrations up to {newest}; the files go to {versions[-1]}"
        )
    missing = sorted(set(range(1, newest + 1)) - set(versions))
    if missing:
        problems.append(f"no migration file for version(s) {', '.join(map(str, missing[:5]))}")
    return problems
