"""The release manifest: what it ships, the version matrix, and the upgrade path rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgop_tui import __version__
from kgop_tui.errors import ConfigInvalid, ExitCode, RefusedForSafety, UsageError
from kgop_tui.releases import load_manifest, parse_version, render_markdown
from kgop_tui.services.upgrade import retag

ROOT = Path(__file__).resolve().parents[2]


def test_docs_releases_is_the_manifest_rendered() -> None:
    expected = render_markdown(load_manifest())
    assert (ROOT / "docs" / "RELEASES.md").read_text() == expected, (
        "docs/RELEASES.md is stale: run `kgop releases --markdown > docs/RELEASES.md`"
    )


def test_the_manifest_lists_the_platforms_releases_operated_by_this_kgop() -> None:
    manifest = load_manifest()
    assert [r.version for r in manifest.releases] == ["0.14.0", "0.16.0", "0.17.0", "0.17.1"]
    assert [r.migrations for r in manifest.releases] == [(1, 73), (1, 78), (1, 78), (1, 80)]
    assert __version__ == (ROOT / "VERSION").read_text().strip()
    # kgop's own operator operates the newest release; api, web and postgres are the
    # platform's, at its version.
    assert manifest.operator_tag(manifest.latest.version) == __version__
    for release in manifest.releases:
        assert {release.images[r] for r in ("api", "web", "postgres")} == {release.version}
        assert "AGE" in release.postgres
        assert release.layout
    assert "archived/" in manifest.latest.layout


def test_compose_defaults_are_the_platforms_images_and_kgops_own_operator(tmp_path: Path) -> None:
    from kgop_tui.services.upgrade.images import default_images

    compose = ROOT / "compose" / "compose.yml"
    found = default_images(compose, "0.17.1")
    platform = "ghcr.io/aaronsb/knowledge-graph-system"
    assert found["api"] == f"{platform}/kg-api:0.17.1"
    assert found["web"] == f"{platform}/kg-web:0.17.1"
    assert found["postgres"] == f"{platform}/kg-postgres:0.17.1"
    assert found["operator"] == f"ghcr.io/knowledge-graph/kg-operator:{__version__}"
    # KG_REGISTRY moves the platform's images, never kgop's operator.
    mirrored = default_images(compose, "0.17.1", "registry.lan:5000/kg")
    assert mirrored["api"] == "registry.lan:5000/kg/kg-api:0.17.1"
    assert mirrored["operator"] == f"ghcr.io/knowledge-graph/kg-operator:{__version__}"


STOPPED = """
[[release]]
version = "1.0.0"
migrations = [1, 2]
images = { api = "1.0.0", web = "1.0.0", operator = "0.7.0" }
[[release]]
version = "1.1.0"
migrations = [1, 3]
required = true
images = { api = "1.1.0", web = "1.1.0", operator = "0.7.0" }
[[release]]
version = "1.2.0"
migrations = [1, 4]
images = { api = "1.2.0", web = "1.2.0", operator = "0.8.0" }
"""


def test_a_required_version_cannot_be_skipped(tmp_path: Path) -> None:
    (tmp_path / "manifest.toml").write_text(STOPPED)
    manifest = load_manifest(tmp_path / "manifest.toml")
    stop = manifest.require("1.1.0")
    with pytest.raises(RefusedForSafety) as refused:
        manifest.check_path("1.0.0", "1.2.0")
    assert refused.value.exit_code == ExitCode.REFUSED
    assert stop.version in refused.value.message
    assert f"--to {stop.version}" in (refused.value.hint or "")
    # Going to the stop, and from it, is fine.
    assert manifest.check_path("1.0.0", stop.version) is stop
    assert manifest.check_path(stop.version, "1.2.0").version == "1.2.0"
    assert manifest.operator_tag("1.2.0") == "0.8.0"


def test_downgrades_and_unknown_versions_are_refused() -> None:
    manifest = load_manifest()
    newest, older = manifest.releases[-1], manifest.releases[-2]
    with pytest.raises(RefusedForSafety, match="downgrades"):
        manifest.check_path(newest.version, older.version)
    with pytest.raises(UsageError, match="9.9.9 is not a release"):
        manifest.check_path(older.version, "9.9.9")
    with pytest.raises(UsageError, match="not a version"):
        parse_version("latest")


def test_versions_compare_as_numbers_and_prereleases_first() -> None:
    assert parse_version("0.10.0") > parse_version("0.9.9")
    assert parse_version("1.0.0-rc.1") < parse_version("1.0.0")


@pytest.mark.parametrize(
    ("ref", "tag", "expected"),
    [
        ("kg-api:0.5.0", "0.6.0", "kg-api:0.6.0"),
        ("ghcr.io/knowledge-graph/kg-api:0.5.0", "0.6.0", "ghcr.io/knowledge-graph/kg-api:0.6.0"),
        ("registry.local:5000/kg/kg-web", "0.6.0", "registry.local:5000/kg/kg-web:0.6.0"),
    ],
)
def test_retag_keeps_the_sites_repository(ref: str, tag: str, expected: str) -> None:
    assert retag(ref, tag) == expected


OLD, NEW = "sha256:" + "a" * 64, "sha256:" + "b" * 64


@pytest.mark.parametrize(
    ("ref", "tag", "digest", "expected"),
    [
        # A pin names the image of its tag: another tag drops it (it would name the old image).
        (f"kg-api:0.5.0@{OLD}", "0.6.0", None, "kg-api:0.6.0"),
        # ... and takes the release's digest when the manifest records one.
        (
            f"registry:5000/kg/kg-api:0.5.0@{OLD}",
            "0.6.0",
            NEW,
            f"registry:5000/kg/kg-api:0.6.0@{NEW}",
        ),
        ("ghcr.io/kg/kg-web:0.5.0", "0.6.0", NEW, f"ghcr.io/kg/kg-web:0.6.0@{NEW}"),
        # The site's own pin of the version it stays on survives.
        (
            f"registry:5000/kg/kg-api:0.6.0@{OLD}",
            "0.6.0",
            None,
            f"registry:5000/kg/kg-api:0.6.0@{OLD}",
        ),
        # The manifest's digest wins over a pin of the same tag that differs from it.
        (f"kg-api:0.6.0@{OLD}", "0.6.0", NEW, f"kg-api:0.6.0@{NEW}"),
    ],
)
def test_retag_carries_digest_pins(ref: str, tag: str, digest: str | None, expected: str) -> None:
    assert retag(ref, tag, digest) == expected


def test_a_manifest_digest_must_be_sha256(tmp_path: Path) -> None:
    manifest = tmp_path / "releases.toml"
    entry = (
        '[[release]]\nversion = "0.6.0"\nmigrations = [1, 9]\n'
        'images = { api = "0.6.0", web = "0.6.0", operator = "0.6.0" }\n'
    )
    manifest.write_text(entry + f'digests = {{ api = "{NEW}" }}\n')
    assert load_manifest(manifest).latest.digests == {"api": NEW}
    for bad in ('{ api = "sha256:abc" }', f'{{ api = "{NEW.upper()}" }}', f'{{ db = "{NEW}" }}'):
        manifest.write_text(entry + f"digests = {bad}\n")
        with pytest.raises(ConfigInvalid, match="manifest"):
            load_manifest(manifest)


def test_a_malformed_manifest_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "releases.toml"
    bad.write_text(
        '[[release]]\nversion = "0.6.0"\nmigrations = [1, 9]\n'
        'images = { api = "0.6.0", web = "0.6.0", operator = "0.6.0" }\n'
        '[[release]]\nversion = "0.5.0"\nmigrations = [1, 8]\n'
        'images = { api = "0.5.0", web = "0.5.0", operator = "0.5.0" }\n'
    )
    with pytest.raises(ConfigInvalid, match="oldest first"):
        load_manifest(bad)
    bad.write_text('[[release]]\nversion = "0.6.0"\nmigrations = [1, 9]\nimages = { api = "x" }\n')
    with pytest.raises(ConfigInvalid, match="no image tag for web, operator"):
        load_manifest(bad)


def test_an_upgrade_stages_the_archived_history_with_the_release(tmp_path: Path) -> None:
    from kgop_tui.releases import load_manifest
    from kgop_tui.services.upgrade import UpgradeFiles
    from kgop_tui.services.upgrade.preflight import stage_migrations

    release = load_manifest().latest  # its migrations end at release.migrations[1]
    last = release.migrations[1]
    source = tmp_path / "share"
    (source / "archived").mkdir(parents=True)
    (source / "archived" / "001_baseline.sql").write_text("SELECT 1;")
    (source / f"{last:03d}_last.sql").write_text("SELECT 1;")
    (source / f"{last + 1:03d}_next_release.sql").write_text("SELECT 1;")
    (source / "README.md").write_text("not a migration")
    files = UpgradeFiles(tmp_path / "upgrade")
    files.release(release.version).mkdir(parents=True)
    staged = stage_migrations(files, source, release)
    found = sorted(str(p.relative_to(staged)) for p in staged.rglob("*.sql"))
    assert found == [f"{last:03d}_last.sql", "archived/001_baseline.sql"]


def test_the_shipped_manifest_checks_clean_against_the_platforms_schemas() -> None:
    from kgop_tui.releases import check_manifest
    from tests.support.platform import VERSIONS, schema

    folders = {version: schema(version) / "migrations" for version in VERSIONS}
    assert check_manifest(load_manifest(), folders) == []


def test_check_names_gaps_mixed_tags_old_operators_and_short_schemas(tmp_path: Path) -> None:
    from kgop_tui.releases import check_manifest

    (tmp_path / "manifest.toml").write_text(
        '[[release]]\nversion = "1.0.0"\ndate = "2026-01-01"\nmigrations = [1, 2]\n'
        'images = { api = "1.0.0", web = "1.0.0", operator = "0.8.0" }\n'
        '[[release]]\nversion = "1.1.0"\ndate = "2026-02-01"\nmigrations = [1, 2]\n'
        'required = true\nimages = { api = "1.1.0", web = "1.0.9", operator = "0.7.0" }\n'
        '[[release]]\nversion = "1.2.0"\ndate = "2026-03-01"\nmigrations = [4, 5]\n'
        'images = { api = "1.2.0", web = "1.2.0", operator = "latest" }\n'
    )
    folder = tmp_path / "migrations"
    (folder / "archived").mkdir(parents=True)
    for n in (1, 3):
        (folder / "archived" / f"{n:03d}_m{n}.sql").write_text("SELECT 1;")
    (folder / "004_m4.sql").write_text("SELECT 1;")
    problems = check_manifest(load_manifest(tmp_path / "manifest.toml"), {"1.2.0": folder})
    assert "1.1.0 is a required stop but ships no new migration" in problems
    assert "1.1.0: the platform's image tags ['1.0.9', '1.1.0'] differ from it" in problems
    assert "1.1.0: operated by an older kgop than 1.0.0" in problems
    assert "1.2.0: migrations start at 4, after a gap from 1.1.0's 2" in problems
    assert "1.2.0: operator tag 'latest' is no version" in problems
    assert f"1.2.0 records migrations up to 5; its files in {folder} go to 4" in problems
