"""The schema of a platform release, read from its api image (``/app/schema``), on a real
engine; then applied to a database of the release before it."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kgop_tui.services.database.connection import DatabaseTarget
from kgop_tui.services.database.migrations import MigrationService
from kgop_tui.services.docker.docker_engine import DockerService
from kgop_tui.services.upgrade.images import ImageStore
from kgop_tui.services.upgrade.state import UpgradeFiles
from kgop_tui.settings import load_settings
from tests.support.engines import DockerEngine
from tests.support.helpers import kgop_env, run_async, run_kgop
from tests.support.platform import schema


def build(engine: DockerEngine, context: Path, dockerfile: str) -> str:
    tag = f"kgop-test-api-schema:{uuid.uuid4().hex[:10]}"
    (context / "Dockerfile").write_text(dockerfile)
    done = subprocess.run(
        ["docker", "build", "-q", "-t", tag, "--label", "kgop.test=1", str(context)],
        env=engine.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return tag


@pytest.fixture(scope="module")
def api_images(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """An api image of 0.16.0 laid out as the platform's api/Dockerfile lays it out (the
    schema at /app/schema), and one without a schema."""
    context = tmp_path_factory.mktemp("api-016")
    shutil.copytree(schema("0.16.0"), context / "schema")
    with_schema = build(
        docker_engine, context, f"FROM {docker_engine.base_image}\nCOPY schema /app/schema\n"
    )
    bare = build(
        docker_engine, tmp_path_factory.mktemp("bare"), f"FROM {docker_engine.base_image}\n"
    )
    yield {"0.16.0": with_schema, "bare": bare}
    subprocess.run(
        ["docker", "image", "rm", "-f", with_schema, bare],
        env=docker_engine.env(),
        capture_output=True,
        timeout=60,
    )


def test_the_release_schema_comes_out_of_its_api_image_and_upgrades_the_database(
    api_images: dict[str, str], docker_engine: DockerEngine, tmp_path: Path, postgres: str
) -> None:
    settings = load_settings(kg_home=tmp_path, environ={"DOCKER_HOST": docker_engine.host})
    store = ImageStore(DockerService(settings), UpgradeFiles(tmp_path / "upgrade"), print)
    migrations = store.fetch_schema(api_images["0.16.0"], "0.16.0")
    assert migrations is not None
    copied = migrations.parent
    assert not filecmp.dircmp(copied, schema("0.16.0")).diff_files
    assert sorted(p.name for p in copied.rglob("*.sql")) == sorted(
        p.name for p in schema("0.16.0").rglob("*.sql")
    )
    assert store.fetch_schema(api_images["bare"], "0.16.0") is None

    # A database of the release before, then the release read from the image.
    env = kgop_env(
        tmp_path,
        KGOP_DATABASE_URL=postgres,
        KGOP_MIGRATIONS_DIR=str(schema("0.14.0") / "migrations"),
    )
    assert run_kgop("migrate", "up", env=env, timeout=600).returncode == 0
    service = MigrationService(DatabaseTarget(postgres, "test"), migrations, "test")
    assert service.source.release == "0.16.0"
    run = run_async(service.up())
    assert run.failure is None
    assert [s.version for s in run.applied] == [74, 75, 76, 77, 78]
    assert run.edited_by_release == [3, 8, 12, 59]
