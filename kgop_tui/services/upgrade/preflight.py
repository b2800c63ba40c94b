"""Preflight: everything an upgrade needs checked, nothing changed; the plan."""

from __future__ import annotations

import shutil
from pathlib import Path

from kgop_tui import __version__
from kgop_tui.errors import (
    ConfigInvalid,
    OperationFailed,
    RefusedForSafety,
)
from kgop_tui.models import (
    ImageChange,
    MigrationState,
    UpgradePlan,
)
from kgop_tui.releases import ROLES, Release, load_manifest, parse_version
from kgop_tui.services.database.baseline import BASELINE_FILE
from kgop_tui.services.upgrade.images import image_variable, retag
from kgop_tui.services.upgrade.state import UpgradeFiles, save_plan
from kgop_tui.services.upgrade.steps import UpgradeContext, UpgradeSteps


def stage_migrations(files: UpgradeFiles, source: Path, release: Release) -> Path:
    """The target's migration files up to its last version, in their own folder (its
    ``archived/`` history included, in the same place), with the baseline and warm files
    that lie beside ``source`` (kgop's packaged schema: its operator image's)."""
    staged = files.release(release.version) / "packaged" / "migrations"
    staged.mkdir(parents=True, exist_ok=True)
    if (source.parent / BASELINE_FILE).is_file():
        shutil.copy2(source.parent / BASELINE_FILE, staged.parent / BASELINE_FILE)
    if (source.parent / "migrations-warm").is_dir():
        shutil.rmtree(staged.parent / "migrations-warm", ignore_errors=True)
        shutil.copytree(source.parent / "migrations-warm", staged.parent / "migrations-warm")
    for path in sorted([*source.glob("*.sql"), *source.glob("archived/*.sql")]):
        number = path.name.split("_", 1)[0]
        if number.isdigit() and int(number) <= release.migrations[1]:
            target = staged / path.relative_to(source)
            target.parent.mkdir(exist_ok=True)
            shutil.copy2(path, target)
    return staged


async def preflight(steps: UpgradeSteps, to: str | None, no_backup: bool = False) -> UpgradeContext:
    """Everything checked, nothing changed. Raises with the first problem found."""
    current = steps.settings.kg_version
    if not current:
        raise ConfigInvalid(
            "KG_VERSION is not set in .env",
            hint="install.sh writes it; set it to the version that runs now",
        )
    parse_version(current)
    own = load_manifest()
    version = to or own.latest.version
    parse_version(version)
    steps.log(f"engine: {steps.docker.engine_address}")
    with steps.docker.translate_errors():
        steps.docker.client().ping()
    # A bind mount whose source is missing would become a directory at the first `up`.
    from kgop_tui.services.docker.mounts import require_mounts

    require_mounts(steps.compose)
    current_images = steps.current_images()
    # The operator of the target release is kgop's own image, at the tag this kgop's
    # manifest names for that platform version (the operator's tag is kgop's version, not
    # the platform's); it carries the target's manifest, read before anything changes.
    known = own.get(version)
    if known is None:
        newest = own.latest.version
        raise RefusedForSafety(
            f"This kgop ({__version__}) knows the platform's releases up to {newest}, "
            f"not {version}",
            hint="a newer kgop operates it: set KG_OPERATOR_IMAGE in .env to its operator "
            "image and restart the operator, then upgrade",
        )
    operator_digest = known.digests.get("operator")
    operator_target = retag(current_images["operator"], known.images["operator"], operator_digest)
    manifest, shipped = steps.images.fetch_release(operator_target, version)
    release = manifest.check_path(current, version)
    steps.log(
        f"release {release.version}: migrations up to {release.migrations[1]:04d}; "
        f"operated by {operator_target}"
    )
    digests = {**release.digests, **({"operator": operator_digest} if operator_digest else {})}
    target_images = {
        role: retag(current_images[role], release.images[role], digests.get(role)) for role in ROLES
    }
    # The platform's api image carries its schema; kgop's packaged files are the fallback.
    platform = steps.images.fetch_schema(target_images["api"], release.version)
    staged = platform or stage_migrations(steps.files, shipped, release)
    migrations = steps.migration_service(staged)
    status = await migrations.status()
    drifted = status.by_state(MigrationState.DRIFTED)
    if drifted:
        raise RefusedForSafety(
            f"Applied migration {drifted[0].filename} differs from the target's copy",
            hint="resolve the drift (`kgop migrate status`) before upgrading",
        )
    schema = status.current_version
    if schema is not None and schema > release.migrations[1]:
        raise RefusedForSafety(
            f"The database is at migration {schema}, newer than {version} knows "
            f"({release.migrations[1]})",
            hint="this looks like a downgrade; restore a backup instead",
        )
    pending = await migrations.plan()
    size, free = await steps.backups.estimate()
    if not no_backup and free < size + (64 << 20):
        raise RefusedForSafety(
            f"Not enough disk for the backup: {free >> 20} MiB free, database {size >> 20} MiB",
            hint="free space in KG_HOME/backups, or pass --no-backup (no rollback of data)",
        )
    changes = []
    for role in ROLES:
        ref = target_images[role]
        present = steps.images.present(ref)
        if not present:
            why = steps.images.pullable(ref)
            if why is not None:
                raise OperationFailed(
                    f"Image {ref} is not here and cannot be pulled ({why})",
                    hint=f"load it or check the registry and {image_variable(role)} in .env",
                )
        changes.append(
            ImageChange(service=role, current=current_images[role], target=ref, present=present)
        )
    notes = []
    if manifest.get(current) is None and own.get(current) is None:
        notes.append(f"{current} is not in the release manifest; no required stop is known")
    if no_backup:
        notes.append("--no-backup: a failed upgrade cannot restore the database")
    swarm = steps.docker.is_stack()
    if swarm and release.rolling:
        notes.append(
            "Swarm stack, rolling release: api and web keep serving; their replicas are "
            "replaced one by one after the migrations"
        )
    elif swarm:
        notes.append(
            f"Swarm stack, {version} is not rolling (the previous api cannot run on its "
            "schema): api and web are scaled to zero for the migrations, then back up"
        )
    plan = UpgradePlan(
        from_version=current,
        to_version=version,
        images=changes,
        pending_migrations=pending,
        schema_version=schema,
        target_schema=release.migrations[1],
        backup_estimate_bytes=size,
        free_bytes=free,
        notes=notes,
    )
    save_plan(steps.files, plan)
    return UpgradeContext(
        current=current,
        release=release,
        migrations_dir=staged,
        current_images=current_images,
        target_images=target_images,
        plan=plan,
        swarm=swarm,
    )
