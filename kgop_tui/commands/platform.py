"""``kgop start`` (bring the platform up, step by step) and ``kgop garage status|init``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from kgop_tui import __version__
from kgop_tui.errors import DependencyUnavailable, ExitCode
from kgop_tui.settings import Settings

APP_SERVICES = ["api", "web"]


def register(verbs: Any) -> None:
    start = verbs.add_parser(
        "start", help="start the platform: migrations, object store, api and web, health wait"
    )
    start.add_argument(
        "--timeout",
        type=int,
        default=180,
        metavar="S",
        help="seconds to wait for api and web to be healthy (default 180)",
    )
    start.set_defaults(handler=cmd_start)

    garage = verbs.add_parser("garage", help="the object store: status, or bootstrap it")
    sub = garage.add_subparsers(dest="garage_verb", metavar="ACTION", required=True)
    sub.add_parser("status", help="layout, bucket and key").set_defaults(handler=cmd_garage)
    sub.add_parser(
        "init", help="assign the layout, create bucket and key (idempotent)"
    ).set_defaults(handler=cmd_garage)
    sub.add_parser(
        "config", help="write KG_HOME/garage/garage.toml when it is missing (never overwrites)"
    ).set_defaults(handler=cmd_garage)


def step(number: int, total: int, text: str) -> float:
    print(f"[{number}/{total}] {text} ...", end="", flush=True)
    return time.monotonic()


def done(started: float, detail: str = "ok") -> None:
    print(f" {detail} ({time.monotonic() - started:.1f} s)", flush=True)


async def wait_database(settings: Settings, deadline: float) -> None:
    import asyncio

    from kgop_tui.services.database.connection import DatabaseTarget, connect

    target = DatabaseTarget.from_settings(settings)
    while True:
        try:
            conn = await connect(target, "start", connect_timeout=3)
            await conn.close()
            return
        except DependencyUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


def garage_admin(settings: Settings) -> Any:
    from kgop_tui.services.platform.garage import GarageAdmin

    return GarageAdmin.of_install(settings)


def garage_init(settings: Settings, deadline: float, swarm: bool = False) -> str:
    """Garage set up: on a Swarm stack every task of the garage service is a node of one
    cluster (connected, each given a layout role); in compose, the one node."""
    import asyncio

    from kgop_tui.commands.configure import service as config_service
    from kgop_tui.services.platform.garage import cluster_peers
    from kgop_tui.services.platform.provider_keys import GARAGE

    admin = garage_admin(settings)
    while True:
        try:
            peers = (
                cluster_peers(admin.url, admin.token, f"{settings.compose_project_name}_garage")
                if swarm
                else []
            )
            steps, credentials = admin.init(peers=peers)
            break
        except DependencyUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    config = config_service(settings)
    if credentials:  # as the api reads them: system_api_keys 'garage', ACCESS:SECRET
        asyncio.run(config.store_garage_credentials(credentials))
        steps.append("credentials stored encrypted")
    elif asyncio.run(config.read_api_key(GARAGE)) is None:
        steps.append("the existing key's secret is not stored here: re-enter it")
    return ", ".join(steps) or "already set up"


def ensure_garage_config(settings: Settings) -> bool:
    from kgop_tui.services.platform.garage import ensure_config

    return ensure_config(settings.kg_home, settings.kg_garage_region)


def cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from kgop_tui.commands.migrate import failure_error
    from kgop_tui.commands.migrate import service as migration_service
    from kgop_tui.services.docker.compose import ComposeService
    from kgop_tui.services.docker.docker_engine import DockerService
    from kgop_tui.services.docker.health import wait_healthy
    from kgop_tui.services.docker.mounts import require_mounts

    warm = settings.warm_migrations_dir() is not None
    total = 6 if warm else 5
    compose = ComposeService(settings)
    docker = DockerService(settings)
    # On a Swarm stack the services are already deployed (docker stack deploy) and restart
    # by themselves until they are healthy: start only prepares what they need, then waits.
    swarm = docker.is_stack()
    written = ensure_garage_config(settings)
    # Before anything starts: a missing bind-mount source would become a directory.
    require_mounts(compose)
    deadline = time.monotonic() + 120
    started = step(1, total, "database reachable")
    asyncio.run(wait_database(settings, deadline))
    done(started)
    started = step(2, total, "migrations")
    run = asyncio.run(migration_service(settings).up())
    if run.failure:
        print(" failed", flush=True)
        raise failure_error(run.failure, dry_run=False)
    done(started, f"{len(run.applied)} applied, at version {run.current_version}")
    started = step(3, total, "object store")
    if written and not swarm:
        # garage could not start without it: start it now that the file is there.
        compose.start(["garage"])
    done(started, garage_init(settings, time.monotonic() + 60, swarm))
    front = [name for name in ("nginx",) if name in compose.services()]
    services = APP_SERVICES + front
    started = step(4, total, " and ".join(services))
    if swarm:
        done(started, "deployed by the stack")
    else:
        compose.start(services)
        done(started)
    started = step(5, total, "health")
    done(started, wait_healthy(docker, services, args.timeout))
    if warm:
        # Warm migrations need the running application: only once api is healthy.
        started = step(6, total, "warm migrations")
        run = asyncio.run(migration_service(settings).up(warm=True))
        if run.failure:
            # The platform runs without a warm file that fails, as its own start does
            # (operator/lib/start-infra.sh: `migrate-db.sh -y --warm ... || true`); the
            # file was rolled back and stays pending (`kgop migrate status`).
            done(started, f"{len(run.applied)} applied, {run.failure.filename} failed")
            error = failure_error(run.failure, dry_run=False)
            print(f"warning: {error.message}\nhint: {error.hint}", file=sys.stderr)
        else:
            done(started, f"{len(run.applied)} applied")
    print(f"The platform is up (kgop {__version__}).")
    return ExitCode.OK


def cmd_garage(args: argparse.Namespace, settings: Settings) -> int:
    if args.garage_verb == "config":
        from kgop_tui.services.platform.garage import config_path

        written = ensure_garage_config(settings)
        state = "written" if written else "present, kept as it is"
        print(f"{config_path(settings.kg_home)}: {state}")
        return ExitCode.OK
    if args.garage_verb == "init":
        from kgop_tui.errors import KgopError
        from kgop_tui.services.docker.docker_engine import DockerService

        try:  # a Swarm stack's garage tasks form one cluster
            swarm = DockerService(settings).is_stack()
        except KgopError:
            swarm = False  # no engine here: the one node kgop reaches
        print(garage_init(settings, time.monotonic() + 30, swarm))
        return ExitCode.OK
    status = garage_admin(settings).status()
    print(
        f"node {status.node[:16]}…  layout v{status.layout_version} "
        f"({'role assigned' if status.has_role else 'no role yet'})"
    )
    if status.nodes > 1:
        down = f", down: {', '.join(n[:16] for n in status.down)}" if status.down else ""
        print(f"cluster: {status.nodes} nodes{down}")
    print(
        f"bucket: {'present' if status.bucket else 'missing'}; "
        f"key: {'present' if status.key else 'missing'}"
    )
    return ExitCode.OK
