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
"""The images an upgrade moves (postgres stays as installed)."""
PLATFORM_ROLES = ("api", "web", "postgres")
"""The platform's own images, tagged with the platform version; the operator is kgop's."""
PLATFORM_REGISTRY = "ghcr.io/aaronsb/knowledge-graph-system"
"""Where the platform publishes kg-api, kg-web, kg-postgres (KG_REGISTRY overrides it)."""
OPERATOR_REPOSITORY = "ghcr.io/knowledge-graph/kg-operator"
"""kgop's own operator image (never under KG_REGISTRY)."""
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
    layout: str = Field(
        default="", alias="schema", description="how the release lays its schema out"
    )
    postgres: str = Field(default="", description="the engine the release's postgres runs")
    images: dict[str, str] = Field(
        description="image tag per role: the platform's api, web (and postgres) at its "
        "version; operator, the kgop release that operates this version"
    )
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
            if role not in (*ROLES, *PLATFORM_ROLES):
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

    def operator_tag(self, version: str) -> str:
        """The tag of kgop's operator image that operates platform ``version``."""
        return self.require(version).images["operator"]

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
        "The Knowledge Graph platform's releases (aaronsb/knowledge-graph-system) that kgop",
        "operates. Generated from `kgop_tui/releases.toml` by `kgop releases --markdown`; a test",
        "keeps the two equal. `KG_VERSION` in `.env` pins the version; `kgop upgrade --to",
        "VERSION` moves to another one. A **required** version cannot be skipped: upgrade to it",
        "first.",
        "",
        "| Version | Date | api, web, postgres | operator (kgop) | Migrations | Schema | Postgres "
        "| Required | Notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reversed(manifest.releases):
        first, last = r.migrations
        platform = sorted({r.images[role] for role in PLATFORM_ROLES if role in r.images})
        lines.append(
            f"| {r.version} | {r.date} | {', '.join(platform)} | {r.images['operator']} | "
            f"{first:03d}–{last:03d} | {r.layout} | {r.postgres} | "
            f"{'yes' if r.required else 'no'} | {r.notes} |"
        )
    lines += [
        "",
        "**Images.** api, web and postgres are the platform's own,",
        f"`{PLATFORM_REGISTRY}/kg-{{api,web,postgres}}:VERSION`; `KG_REGISTRY` replaces that",
        "prefix (a mirror, an air-gapped registry). The operator is kgop's own image,",
        f"`{OPERATOR_REPOSITORY}:TAG` with kgop's version as its tag (the *operator* column): it",
        "takes the place of the platform's `kg-operator`, which kgop never runs, and",
        "`KG_REGISTRY` never applies to it (`KG_OPERATOR_IMAGE` does). An upgrade reads the",
        "target release's manifest out of the operator image that operates it, moves api, web",
        "and the operator, and leaves postgres as installed (every release here runs one",
        "Postgres major).",
        "",
        "**Schema.** Each release's schema ships in its api image at `/app/schema`",
        "(`00_baseline.sql`, `migrations/`, `migrations-warm/`, as the platform's",
        "`api/Dockerfile` copies `schema/`): install.sh and `kgop upgrade` read it from there.",
        "*Migrations* is the range of versions the release's database records in",
        "`public.schema_migrations` (the platform has no 002).",
        "",
        "**Postgres.** The platform's postgres image runs PostgreSQL 18 with Apache AGE 1.7.0.",
        "kgop's stand-in (`images/postgres`, used by the demo and the tests) runs PostgreSQL 15",
        "with AGE 1.6.0: AGE 1.7.0 exists for PG 17 and 18 only, and Debian packages no PG 18.",
        "The 0.17.1 baseline, dumped from PG 18, loads there once its `transaction_timeout`",
        "settings are left out (kgop says so when it applies it).",
        "",
        "Upgrade paths: from any version to a later one, stopping at each required version",
        "in between. Downgrades are not supported; restore the backup the upgrade took",
        "(`kgop restore KG_HOME/backups/...`). 0.14.0 → 0.16.0 applies 074–078; 0.16.0 or",
        "0.17.0 → 0.17.1 applies 079 and 080 from the checkpoint's `archived/` folder and",
        "records nothing twice.",
        "",
        "## How a release of kgop is made",
        "",
        "1. Set `VERSION` (kgop's own version); the releases it operates name it as their",
        "   `operator` in `kgop_tui/releases.toml` (the newest release must); regenerate this",
        "   file (`kgop releases --markdown > docs/RELEASES.md`); `kgop releases --check` and the",
        "   test command must pass.",
        "2. `scripts/release.sh VERSION --registry REGISTRY --push [--platform LIST]` refuses",
        "   (exit 2) unless `VERSION`, the manifest and this file agree, then builds kgop's",
        "   `kg-operator` with that tag and OCI labels (version, revision = the git commit,",
        "   created, source) and pushes it; multi-arch (`linux/amd64,linux/arm64`) with docker",
        "   buildx, single-arch without it. With `--push` it refuses (exit 2) unless",
        "   `--base-image` (or `KG_BASE_IMAGE`) names the base image by digest",
        "   (`debian:bookworm-slim@sha256:...`): a tag can name another image tomorrow.",
        "3. The pushed image's digest, as the registry serves it, is written into every",
        '   release the operator operates (`digests = { operator = "sha256:..." }`); the',
        "   platform's api and web digests, when recorded, are those its registry serves.",
        "   Commit the updated manifest.",
        "4. On a `v*` tag, `.github/workflows/release.yml` runs the test command in a job with",
        "   read-only permissions, then, in a job that alone may write packages,",
        "   `scripts/release.sh` with `--push` to the registry, logged in with the project's",
        "   token. Its actions are pinned by commit.",
        "",
        "An upgrade to a release with digests pulls `repo:tag@sha256:...`, checks that the",
        "image it got carries that digest (else it stops before anything stops) and pins",
        "`.env` to `repo:tag@sha256:...`. A digest you pin in `.env` yourself is kept until an",
        "upgrade moves to another version.",
        "",
    ]
    return "\n".join(lines)


def _last_file_version(folder: Path) -> int | None:
    """The newest version a schema records: its files' (``archived/`` included), or what
    the baseline beside them records when it is newer (kgop's packaged subset ships none)."""
    from kgop_tui.services.database.baseline import BASELINE_FILE, recorded_checkpoint

    numbers = [
        int(p.name.split("_", 1)[0])
        for p in [*folder.glob("*.sql"), *folder.glob("archived/*.sql")]
        if p.name.split("_", 1)[0].isdigit()
    ]
    baseline = folder.parent / BASELINE_FILE
    recorded = recorded_checkpoint(baseline) if baseline.is_file() else None
    return max([*numbers, *([recorded] if recorded is not None else [])], default=None)


def check_manifest(manifest: Manifest, schemas: dict[str, Path] | None = None) -> list[str]:
    """What is inconsistent in the manifest; with ``schemas`` (version → that release's
    migrations folder), against the files each release ships."""
    problems = []
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
        platform = sorted({r.images[role] for role in PLATFORM_ROLES if role in r.images})
        if platform != [r.version]:
            problems.append(f"{r.version}: the platform's image tags {platform} differ from it")
        if not _SEMVER.fullmatch(r.images["operator"]):
            problems.append(f"{r.version}: operator tag {r.images['operator']!r} is no version")
        elif previous is not None and parse_version(r.images["operator"]) < parse_version(
            previous.images["operator"]
        ):
            problems.append(f"{r.version}: operated by an older kgop than {previous.version}")
        previous = r
    for version, folder in (schemas or {}).items():
        release = manifest.get(version)
        found = _last_file_version(folder)
        if release is not None and found != release.migrations[1]:
            problems.append(
                f"{version} records migrations up to {release.migrations[1]}; its files "
                f"in {folder} go to {found}"
            )
    return problems
