"""``kgop bundle``: what to send to whoever helps, with every secret redacted.

A ``.tar.gz`` (0600) holding the doctor report, the status, versions, the effective compose
configuration, the migration status, the last lines of each service's logs and the install
and upgrade logs. Before a file goes in, every secret value is replaced by ``[redacted]``
wherever it appears: each ``.env`` value whose name looks secret (PASSWORD, SECRET, TOKEN,
KEY, the database URL's password), the provider keys stored in the database, and anything
shaped like a provider key (``sk-…``). ``redactions.txt`` lists what was redacted, by name.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from kgop_tui import __version__
from kgop_tui.settings import Settings

REDACTED = "[redacted]"
_PROVIDER_KEY = re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}")
# Values this short would redact ordinary words; no real secret of the platform is.
MIN_SECRET = 6


@dataclass
class BundleResult:
    path: Path
    size: int
    files: list[str]
    redacted: list[str]


@dataclass
class Redactor:
    """Replaces known secret values (and provider-key shapes) in text; counts by name."""

    values: dict[str, str] = field(default_factory=dict)  # value -> name
    hits: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, value: str | None) -> None:
        if value and len(value) >= MIN_SECRET:
            self.values.setdefault(value, name)
            encoded = quote(value, safe="")
            if encoded != value:
                self.values.setdefault(encoded, name)

    def __call__(self, text: str) -> str:
        for value in sorted(self.values, key=len, reverse=True):
            count = text.count(value)
            if count:
                text = text.replace(value, REDACTED)
                name = self.values[value]
                self.hits[name] = self.hits.get(name, 0) + count
        text, found = _PROVIDER_KEY.subn(REDACTED, text)
        if found:
            self.hits["text shaped like a provider key (sk-…)"] = found
        return text


def redactor_for(settings: Settings) -> Redactor:
    from kgop_tui.settings import is_secret_name, read_env_file

    redact = Redactor()
    try:
        values = read_env_file(settings.kg_home / ".env")
    except Exception:  # a malformed .env: doctor reports it; redact what the settings hold
        values = {}
    for name, entry in values.items():
        if is_secret_name(name):
            redact.add(name, entry.value)
            for part in entry.value.split(","):
                redact.add(name, part.strip())
            if "://" in entry.value:
                redact.add(f"{name} (password)", urlsplit(entry.value).password)
    for name, secret in (
        ("POSTGRES_PASSWORD", settings.postgres_password),
        ("ENCRYPTION_KEY", settings.encryption_key),
        ("GARAGE_ADMIN_TOKEN", settings.garage_admin_token),
        ("KGOP_DATABASE_URL", settings.kgop_database_url),
    ):
        if secret is not None:
            redact.add(name, secret.get_secret_value())
    if settings.kgop_database_url is not None:
        password = urlsplit(settings.kgop_database_url.get_secret_value()).password
        redact.add("KGOP_DATABASE_URL (password)", password)
    for name, value in _stored_secrets(settings):
        redact.add(name, value)
    return redact


def _stored_secrets(settings: Settings) -> list[tuple[str, str]]:
    """Stored keys (providers' and Garage's) in the database, when it answers."""
    from kgop_tui.services.database.connection import DatabaseTarget
    from kgop_tui.services.platform.config import ConfigService

    async def read() -> list[tuple[str, str]]:
        service = ConfigService(DatabaseTarget.from_settings(settings), settings)
        found = []
        for provider in await service.stored_providers():
            key = await service.read_api_key(provider)
            if key:
                found.append((f"stored {provider} key", key))
                if ":" in key:  # Garage's ACCESS:SECRET: each part on its own too
                    found.extend((f"stored {provider} key part", p) for p in key.split(":", 1))
        return found

    try:
        return asyncio.run(asyncio.wait_for(read(), 20))
    except Exception:  # the database is down or the key is wrong: doctor says so
        return []


def _pieces(settings: Settings, log_lines: int) -> list[tuple[str, Callable[[], str]]]:
    """(file name, how to make its text): each made on its own; one that fails is noted."""
    from kgop_tui.services.diagnosis.doctor import Doctor
    from kgop_tui.services.docker.compose import ComposeService
    from kgop_tui.services.docker.docker_engine import DockerService

    def doctor() -> str:
        return Doctor(settings).run().model_dump_json(indent=2)

    def status() -> str:
        docker = DockerService(settings)
        try:
            return json.dumps(docker.project_status().to_json(), indent=2)
        finally:
            docker.close()

    def versions() -> str:
        docker = DockerService(settings)
        out: dict[str, object] = {"kgop": __version__, "kg_version": settings.kg_version}
        try:
            with docker.translate_errors():
                version = docker.client().version()
            out["engine"] = {k: version.get(k) for k in ("Version", "ApiVersion", "Os", "Arch")}
            out["images"] = {s.service: s.image for s in docker.project_status().services}
        finally:
            docker.close()
        out["compose"] = ComposeService(settings, timeout=30).run("version", "--short").strip()
        out["postgres"] = _postgres_version(settings)
        return json.dumps(out, indent=2)

    def compose_config() -> str:
        return ComposeService(settings, timeout=30).run("config")

    def migrations() -> str:
        from kgop_tui.services.database.migrations import MigrationService

        status = asyncio.run(MigrationService.of_install(settings).status())
        return json.dumps(status.to_json(), indent=2)

    pieces: list[tuple[str, Callable[[], str]]] = [
        ("doctor.json", doctor),
        ("status.json", status),
        ("versions.json", versions),
        ("compose-config.yaml", compose_config),
        ("migrations.json", migrations),
    ]
    try:
        docker = DockerService(settings)
        targets = docker.service_containers(None)
    except Exception as exc:
        reason = f"no service logs: {exc}\n"
        pieces.append(("logs/unavailable.txt", lambda: reason))
        targets = []
    for service, container_id in targets:

        def logs(cid: str = container_id) -> str:
            with docker.translate_errors():
                raw = docker.client().containers.get(cid).logs(tail=log_lines, timestamps=True)
            return bytes(raw).decode("utf-8", "replace")

        pieces.append((f"logs/{service}.log", logs))
    for folder, pattern, prefix in (
        (settings.kg_home / "logs", "install-*.log", "install"),
        (settings.kg_home / "upgrade" / "runs", "*.log", "upgrade"),
    ):
        for path in sorted(folder.glob(pattern))[-10:] if folder.is_dir() else []:
            pieces.append((f"{prefix}/{path.name}", _reader(path)))
    return pieces


def _reader(path: Path) -> Callable[[], str]:
    return lambda: path.read_text("utf-8", "replace")


def _postgres_version(settings: Settings) -> str:
    from kgop_tui.services.database.connection import DatabaseTarget, connect

    async def read() -> str:
        conn = await connect(DatabaseTarget.from_settings(settings), "bundle")
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(read())


def write_bundle(settings: Settings, output: Path | None, log_lines: int) -> BundleResult:
    """Make the bundle; every file redacted before it is written. Returns where it is."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = output or settings.kg_home / "support" / f"kg-bundle-{stamp}.tar.gz"
    path = path.absolute()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    redact = redactor_for(settings)
    files: dict[str, str] = {}
    errors: list[str] = []
    for name, make in _pieces(settings, log_lines):
        try:
            files[name] = redact(make())
        except Exception as exc:  # a piece that cannot be made is noted, the rest go in
            errors.append(f"{name}: {redact(str(exc))[:300]}")
    if errors:
        files["errors.txt"] = "\n".join(errors) + "\n"
    listed = sorted(redact.hits)
    files["redactions.txt"] = (
        "Replaced by [redacted] in this bundle (names, never values):\n"
        + "".join(f"  {name}: {redact.hits[name]} time(s)\n" for name in listed)
        + (
            "Also checked, not found: "
            + ", ".join(sorted(set(redact.values.values()) - set(listed)))
            + "\n"
        )
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name, text in sorted(files.items()):
                data = text.encode("utf-8")
                info = tarfile.TarInfo(f"kg-bundle-{stamp}/{name}")
                info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
                tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return BundleResult(path, path.stat().st_size, sorted(files), listed)
