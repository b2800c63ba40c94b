"""One contract, two implementations: the TUI's fakes and the real services.

Each check runs against the fake (tests/tui/fakes.py) and the real service on the real
engines, so the fakes the TUI tests rely on cannot drift from what production does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from kgop_tui import __version__
from kgop_tui.checks import CheckState, DoctorReport
from kgop_tui.errors import ConfigInvalid, KgopError, OperationFailed, UnknownService, UsageError
from kgop_tui.models import (
    AiProviderSetting,
    ConfigStatus,
    Device,
    MigrationState,
    MigrationStatus,
    ProjectStatus,
    Provider,
    ValidationStatus,
)
from kgop_tui.ports import ConfigPort, DoctorPort, EnginePort, MigrationsPort, UpgradePort
from kgop_tui.services.database.connection import DatabaseTarget
from kgop_tui.services.database.migrations import MigrationService
from kgop_tui.services.platform.config import ConfigService
from kgop_tui.services.wiring import DoctorControl, Engine, UpgradeControl
from kgop_tui.settings import load_settings
from tests.support.engines import ComposeProject, DockerEngine, compose_project, wait_for
from tests.tui.fakes import FakeConfig, FakeDoctor, FakeEngine, FakeMigrations, FakeUpgrades

KINDS = ["fake", "real"]


@pytest.fixture(scope="module")
def project(
    docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    home = tmp_path_factory.mktemp("contract")
    image = docker_engine.base_image
    # Two services whose lines interleave in time: api writes odd steps, web even ones.
    yaml = (
        f"  api:\n    image: {image}\n    command: [sh, -c, 'echo api ready; "
        "for i in 1 3 5 7; do echo step $$i; sleep 0.3; done; sleep infinity']\n"
        "    stop_signal: SIGKILL\n    labels:\n      kgop.test: '1'\n"
        f"  web:\n    image: {image}\n    command: [sh, -c, 'sleep 0.15; "
        "for i in 2 4 6 8; do echo step $$i; sleep 0.3; done; sleep infinity']\n"
        "    stop_signal: SIGKILL\n    labels:\n      kgop.test: '1'\n"
    )
    proj = compose_project(docker_engine, home, yaml)
    proj.compose("up", "-d")
    wait_for(lambda: proj.state("api")[0] == "running", 60, "api running")
    wait_for(
        lambda: (
            "step 8" in proj.compose("logs", "web").stdout
            and "step 7" in proj.compose("logs", "api").stdout
        ),
        60,
        "both services to write their steps",
    )
    yield proj
    proj.compose("down", "-v")


@pytest.fixture(params=KINDS)
def engine(request: pytest.FixtureRequest) -> EnginePort:
    if request.param == "fake":
        return FakeEngine()
    project: ComposeProject = request.getfixturevalue("project")
    return Engine(load_settings(kg_home=project.home, environ={}))


@pytest.fixture(params=KINDS)
def migrations(request: pytest.FixtureRequest, tmp_path: Path) -> MigrationsPort:
    if request.param == "fake":
        return FakeMigrations(applied=[], pending=[(1, "one"), (2, "two")])
    dsn: str = request.getfixturevalue("postgres")
    for n, name in ((1, "one"), (2, "two")):
        (tmp_path / f"{n:04d}_{name}.sql").write_text(f"CREATE TABLE {name} (id int);")
    return MigrationService(DatabaseTarget(dsn, "contract"), tmp_path, __version__)


@pytest.fixture(params=KINDS)
def config(request: pytest.FixtureRequest, tmp_path: Path) -> ConfigPort:
    if request.param == "fake":
        return FakeConfig()
    dsn: str = request.getfixturevalue("postgres")
    packaged = Path(__file__).resolve().parents[2] / "kgop_tui" / "sql" / "migrations"
    asyncio.run(MigrationService(DatabaseTarget(dsn, "c"), packaged, __version__).up())
    (tmp_path / ".env").write_text(f"ENCRYPTION_KEY={Fernet.generate_key().decode()}\n")
    settings = load_settings(kg_home=tmp_path, environ={})
    return ConfigService(DatabaseTarget(dsn, "contract"), settings)


@pytest.fixture(params=KINDS)
def doctor(request: pytest.FixtureRequest) -> DoctorPort:
    if request.param == "fake":
        return FakeDoctor()
    project: ComposeProject = request.getfixturevalue("project")
    return DoctorControl(load_settings(kg_home=project.home, environ={}))


# ---- engine ------------------------------------------------------------------------------


def test_engine_status_and_unknown_services(engine: EnginePort) -> None:
    status = engine.project_status()
    assert isinstance(status, ProjectStatus)
    assert status.services
    assert all(s.service and s.container_name for s in status.services)
    with pytest.raises(UnknownService):
        engine.restart("no-such-service")
    with pytest.raises(UnknownService):
        engine.follow_logs(["no-such-service"], 10)


def test_doctor_reports_checks_with_ids_states_and_hints(doctor: DoctorPort) -> None:
    report = doctor.run()
    assert isinstance(report, DoctorReport)
    assert report.checks
    assert len({c.id for c in report.checks}) == len(report.checks)
    for check in report.checks:
        assert check.id
        assert check.detail
        if check.state in (CheckState.FAIL, CheckState.WARN):
            assert check.hint, check
    assert report.summary["exit"] == int(report.failed)
    assert sum(report.summary[s.value] for s in CheckState) == len(report.checks)


def test_engine_streams_stats_of_the_tracked_containers(engine: EnginePort) -> None:
    import queue

    samples: queue.Queue[tuple[str, dict[str, float]]] = queue.Queue()
    status = engine.project_status()
    running = {s.container_id: s.service for s in status.services if s.state.value == "running"}
    assert running
    source = engine.follow_stats(lambda service, figures: samples.put((service, figures)))
    try:
        source.track(running)
        service, figures = samples.get(timeout=30)
        assert service in running.values()
        assert figures["cpu_percent"] >= 0
        assert figures["memory_limit_bytes"] >= figures["memory_bytes"] >= 0
    finally:
        source.stop()


def test_engine_host_facts(engine: EnginePort) -> None:
    from kgop_tui.facts import HostFacts

    facts = engine.host_facts()
    assert isinstance(facts, HostFacts)
    assert facts.kg_home_free is not None
    assert facts.kg_home_free > 0
    assert "KG_HOME" in facts.line()


def test_engine_reports_no_certificate_without_tls(engine: EnginePort) -> None:
    assert engine.certificate() is None


def test_engine_logs_deliver_chunks_of_timestamped_lines(engine: EnginePort) -> None:
    source = engine.follow_logs(None, 100)
    source.start()
    try:
        batch = None
        for _ in range(100):
            batch = source.get(timeout=0.1)
            if batch is not None and batch.chunks:
                break
        assert batch is not None
        chunk = batch.chunks[0]
        assert chunk.text.endswith("\n")
        stamp, _, message = chunk.text.splitlines()[0].partition(" ")
        assert stamp.startswith("20")
        assert stamp.endswith("Z")
        assert message
    finally:
        source.close()


def test_engine_log_history_is_one_timeline(engine: EnginePort) -> None:
    """The history of several services arrives merged by timestamp (as `kgop logs` merges
    it), not one service's block after another's."""
    source = engine.follow_logs(None, 100)
    source.start()
    lines: list[tuple[str, str, str]] = []
    try:
        for _ in range(100):
            batch = source.get(timeout=0.1)
            for chunk in batch.chunks if batch is not None else []:
                for line in chunk.text.splitlines():
                    stamp, _, text = line.partition(" ")
                    lines.append((stamp, chunk.service, text))
            if len({service for _, service, _ in lines}) > 1 and len(lines) >= 6:
                break
    finally:
        source.close()
    services = [service for _, service, _ in lines]
    assert len(set(services)) > 1
    from kgop_tui.logtypes import sort_key

    stamps = [sort_key(stamp) for stamp, _, _ in lines]
    assert stamps == sorted(stamps)
    # Interleaved, not in blocks: the service changes more often than once.
    changes = sum(1 for a, b in zip(services, services[1:], strict=False) if a != b)
    assert changes >= 3, services


def test_engine_watch_delivers_a_snapshot(engine: EnginePort) -> None:
    import queue

    updates: queue.Queue[object] = queue.Queue()
    handle = engine.watch(updates.put, updates.put)
    try:
        first = updates.get(timeout=30)
        assert getattr(first, "status", None) is not None
    finally:
        handle.stop()


# ---- migrations --------------------------------------------------------------------------


def test_migrations_status_plan_dry_run_and_up(migrations: MigrationsPort) -> None:
    async def scenario() -> None:
        status = await migrations.status()
        assert isinstance(status, MigrationStatus)
        assert [e.state for e in status.entries] == [MigrationState.PENDING] * 2
        plan = await migrations.plan()
        assert [p.version for p in plan] == [1, 2]
        events: list[str] = []
        dry = await migrations.up(dry_run=True, progress=lambda e, f, ms: events.append(e))
        assert dry.dry_run
        assert [s.version for s in dry.applied] == [1, 2]
        assert events == ["start", "done", "start", "done"]
        assert [e.state for e in (await migrations.status()).entries] == [
            MigrationState.PENDING
        ] * 2
        run = await migrations.up()
        assert run.failure is None
        assert run.current_version == 2
        assert not await migrations.plan()

    asyncio.run(scenario())


# ---- configuration -----------------------------------------------------------------------


def test_config_contract(config: ConfigPort) -> None:
    async def scenario() -> None:
        status = await config.status()
        assert isinstance(status, ConfigStatus)
        assert status.admins == []
        assert status.factory_password == ["admin"]  # the platform's seeded admin
        assert status.platform_config["registration_enabled"] == "true"
        assert "kg-web" in [c.client_id for c in status.oauth_clients]
        assert await config.set_admin("admin", "a long enough password") == (
            False,
            "platform_admin",
        )
        assert await config.set_admin("ops", "another long password") == (True, "admin")
        with pytest.raises(UsageError):
            await config.set_admin("admin", "short")
        stored = await config.add_api_key(Provider.OPENAI, "sk-" + "a" * 40, validate=False)
        assert stored.masked_key == "sk-…aaaa"
        assert stored.validation_status is ValidationStatus.UNTESTED
        with pytest.raises(KgopError):
            await config.add_api_key(Provider.ANTHROPIC, "nonsense", validate=False)
        profile = await config.set_embedding("OpenAI Small", Device.CUDA)
        assert (profile.id, profile.active, profile.device) == (2, True, "cuda")
        assert (await config.set_embedding("1", None)).name == "Nomic v1.5"
        with pytest.raises(UsageError):
            await config.set_embedding("no-such-profile", None)
        assert await config.set_ai_provider(
            AiProviderSetting(provider=Provider.OPENAI, model="gpt-4o-mini")
        ) is None  # fmt: skip
        after = await config.status()
        assert [(a.username, a.role) for a in after.admins] == [
            ("admin", "platform_admin"), ("ops", "admin")
        ]  # fmt: skip
        assert after.factory_password == []
        assert [k.provider for k in after.api_keys] == ["openai"]
        assert after.embedding is not None
        assert after.embedding.name == "Nomic v1.5"
        assert after.ai_provider is not None
        assert (after.ai_provider.model, after.ai_provider.max_tokens) == ("gpt-4o-mini", 16384)
        assert await config.delete_api_key("openai") is True
        assert await config.delete_api_key("openai") is False

    asyncio.run(scenario())


@pytest.fixture(params=KINDS)
def upgrades(request: pytest.FixtureRequest, tmp_path: Path) -> UpgradePort:
    if request.param == "fake":
        return FakeUpgrades(installed="0.16.0", newer=("0.17.0", "0.17.1"))
    engine: DockerEngine = request.getfixturevalue("docker_engine")
    (tmp_path / ".env").write_text(
        "COMPOSE_PROJECT_NAME=kgcontract\nKG_VERSION=0.16.0\n"
        f"DOCKER_HOST={engine.host}\nKG_OPERATOR_IMAGE=kg-operator:0.7.0\n"
    )
    return UpgradeControl(load_settings(kg_home=tmp_path, environ={}))


def test_upgrade_contract(upgrades: UpgradePort, tmp_path: Path) -> None:
    assert upgrades.installed() == "0.16.0"
    assert "0.17.1" in upgrades.releases()
    assert "0.16.0" not in upgrades.releases()  # only newer ones
    assert upgrades.status() is None  # no upgrade has run here
    assert upgrades.last_plan() is None  # nor been planned
    with pytest.raises(OperationFailed, match="No upgrade is running"):
        upgrades.abort()
    with pytest.raises(OperationFailed, match="No upgrade has run here"):
        upgrades.recover()


def test_upgrade_contract_without_a_pinned_version(tmp_path: Path, kind: str) -> None:
    port: UpgradePort
    if kind == "fake":
        port = FakeUpgrades(installed=None)
    else:
        (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=kgcontract\n")
        port = UpgradeControl(load_settings(kg_home=tmp_path, environ={}))
    assert port.installed() is None
    with pytest.raises(ConfigInvalid, match="KG_VERSION is not set"):
        port.plan(None)
    assert port.last_plan() is None  # a failed preflight leaves no plan to show


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)
