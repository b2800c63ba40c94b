"""Upgrades: preflight, plan, backup, pull, then stop → migrate → start → health → verify.

Nothing changes the platform before the ``stop`` step (the point of no return); until
then an upgrade can be aborted and leaves everything as it was. From ``stop`` on, any
failure rolls back on its own: the previous image tags go back into ``.env``, the
database is restored from the backup taken minutes before (when migrations ran), and the
previous api and web are started and health-checked again.

An upgrade runs as its own process (:mod:`.detach`), detached from the session that started
it, so a dropped SSH connection does not stop it half-way. The new release's manifest and
migration files come from the target operator image (``/opt/kgop/share``): only the newer
release knows its own schema and required stops.

Modules: :mod:`.state` (files, lock, status, log, recorder, abort), :mod:`.images` (the
image store), :mod:`.preflight`, :mod:`.steps` (what changes the platform), :mod:`.runner`
(the flow), :mod:`.rollback` (undo, rollback, recover), :mod:`.detach` (spawn, wait).
"""

from kgop_tui.services.upgrade.detach import spawn_runner, wait_started
from kgop_tui.services.upgrade.images import (
    IMAGE_SHARE,
    ImageStore,
    default_images,
    image_variable,
    pinned_images,
    retag,
)
from kgop_tui.services.upgrade.preflight import preflight
from kgop_tui.services.upgrade.rollback import recover
from kgop_tui.services.upgrade.runner import run_upgrade
from kgop_tui.services.upgrade.state import (
    UpgradeFiles,
    hold_lock,
    lock_is_free,
    read_log,
    read_plan,
    read_status,
    request_abort,
    save_plan,
)
from kgop_tui.services.upgrade.steps import APP_SERVICES, UpgradeContext, UpgradeSteps

__all__ = [
    "APP_SERVICES",
    "default_images",
    "IMAGE_SHARE",
    "ImageStore",
    "UpgradeContext",
    "UpgradeFiles",
    "UpgradeSteps",
    "hold_lock",
    "image_variable",
    "lock_is_free",
    "pinned_images",
    "preflight",
    "read_log",
    "read_plan",
    "read_status",
    "recover",
    "request_abort",
    "save_plan",
    "retag",
    "run_upgrade",
    "spawn_runner",
    "wait_started",
]
