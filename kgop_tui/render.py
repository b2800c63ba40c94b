"""Rendering of statuses for people: the CLI's plain text (no Textual, no colour codes
unless asked), and the step symbols the CLI and the TUI share."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from kgop_tui.kinds import ContainerState, Health, RunState, StepState
from kgop_tui.text import clean, clean_line

if TYPE_CHECKING:  # pydantic is imported by the verbs that use these, not by `kgop status`
    from pydantic import BaseModel

    from kgop_tui.models import (
        BackupInfo,
        ConfigStatus,
        MigrationStatus,
        StoredApiKey,
        UpgradeStatus,
    )
    from kgop_tui.project import ProjectStatus, ServiceStatus

STEP_MARKS = {
    StepState.PENDING: "·",
    StepState.RUNNING: "▶",
    StepState.DONE: "✔",
    StepState.FAILED: "✖",
    StepState.SKIPPED: "–",
    StepState.ROLLED_BACK: "↺",
}
"""One symbol per step state, for the CLI and the TUI alike."""


def step_label(state: StepState) -> str:
    """``✔ done``, ``↺ rolled back``: the mark and the state in words."""
    return f"{STEP_MARKS[state]} {state.value.replace('_', ' ')}"


def human_duration(seconds: int | None) -> str:
    """``93784`` -> ``1d2h``; the two largest units, like ``docker ps``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds}s"
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    parts: list[str] = []
    rest = seconds
    for name, size in units:
        if rest >= size:
            parts.append(f"{rest // size}{name}")
            rest %= size
        if len(parts) == 2:
            break
    return "".join(parts)


def state_word(status: ServiceStatus) -> str:
    """State with its exit code, readable without colour: ``exited (3)``."""
    if status.state is ContainerState.EXITED and status.exit_code is not None:
        return f"exited ({status.exit_code})"
    return status.state.value


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def render_project_status(status: ProjectStatus) -> str:
    """The ``kgop status`` table, then one line per problem explaining it."""
    if not status.services:
        return (
            f"No containers found for compose project '{status.project}'.\n"
            "Start the platform with `./operator.sh start-infra` (host) or check "
            "COMPOSE_PROJECT_NAME."
        )
    headers: tuple[str, ...] = (
        "SERVICE", "STATE", "HEALTH", "UPTIME", "RESTARTS", "IMAGE", "VERSION",
    )  # fmt: skip
    rows: list[tuple[str, ...]] = [
        (
            s.service,
            state_word(s),
            s.health.value if s.health is not Health.NONE else "-",
            human_duration(s.uptime_seconds),
            str(s.restart_count),
            clean_line(s.image),
            clean_line(s.version or "-"),  # labels are the image author's text
        )
        for s in status.services
    ]
    if any(s.replicas is not None for s in status.services):  # a Swarm stack
        headers = (*headers[:2], "REPLICAS", *headers[2:])
        rows = [
            (*row[:2], f"{s.replicas}/{s.desired_replicas}", *row[2:])
            for row, s in zip(rows, status.services, strict=True)
        ]
    if any(s.stats is not None for s in status.services):
        from kgop_tui.resources import human_bytes

        headers += ("CPU", "MEMORY")
        rows = [
            (*row, f"{s.stats['cpu_percent']:.1f}%", human_bytes(s.stats["memory_bytes"]))
            if s.stats is not None
            else (*row, "-", "-")
            for row, s in zip(rows, status.services, strict=True)
        ]
    out = [table(headers, rows)]
    problems = [_problem(s) for s in status.services]
    notes = [p for p in problems if p]
    if notes:
        out.append("")
        out.extend(notes)
    return "\n".join(out)


def _problem(s: ServiceStatus) -> str | None:
    replicas, desired = s.replicas, s.desired_replicas
    if replicas is not None and desired is not None and replicas < desired:
        failing = [t for t in s.tasks or [] if t.state != "running"]
        why = f": task {failing[0].slot} {failing[0].state}" if failing else ""
        detail = f" ({clean_line(failing[0].message)})" if failing and failing[0].message else ""
        return f"{s.service}: {replicas} of {desired} replicas running{why}{detail}"
    if s.health is Health.UNHEALTHY:
        probe = clean(s.health_output or "no output").splitlines()
        first = probe[-1] if probe else "no output"
        return f"{s.service}: unhealthy — last probe exited {s.health_exit_code}: {first}"
    if s.degraded:  # up, but the platform's api reports a part of it down
        return f"{s.service}: degraded — it reports {clean_line(', '.join(s.degraded))}"
    if s.state is ContainerState.EXITED:
        return f"{s.service}: exited with code {s.exit_code}"
    if s.state is ContainerState.RESTARTING:
        return f"{s.service}: restarting (restarted {s.restart_count} times)"
    return None


class JsonDocument(Protocol):
    """A plain (not pydantic) result with its documented JSON form."""

    def to_json(self) -> Any: ...


def json_form(value: BaseModel | JsonDocument) -> Any:
    """The stable JSON form of a model: pydantic's, or a plain dataclass's ``to_json()``."""
    to_json = getattr(value, "to_json", None)
    if to_json is not None:
        return to_json()
    return value.model_dump(mode="json")  # type: ignore[union-attr]


def emit(
    value: BaseModel | JsonDocument | Sequence[BaseModel],
    as_json: bool,
    text: Callable[[], str],
) -> None:
    """Print the stable JSON form of a model (or list of models), or its text rendering."""
    if not as_json:
        print(text())
    elif isinstance(value, Sequence) and not hasattr(value, "to_json"):  # a list of models
        print(json.dumps([json_form(item) for item in value], indent=2))
    else:  # one document (the named tuples are Sequences too)
        print(json.dumps(json_form(cast("BaseModel | JsonDocument", value)), indent=2))


# ---- migrations, configuration, upgrades -------------------------------------------


def render_migration_status(status: MigrationStatus) -> str:
    rows = [
        (
            f"{e.version:04d}",
            e.name,
            e.label,
            e.source.value if e.source else "-",
            e.runs or "-",
            f"{e.applied_at:%Y-%m-%d %H:%M:%S}" if e.applied_at else "-",
            f"{e.duration_ms} ms" if e.duration_ms is not None else "-",
            e.applied_by or "-",
        )
        for e in status.entries
    ]
    current = status.current_version
    head = f"Database {status.database} at version {current if current is not None else '-'}"
    if status.schema_source:
        head += f"\nSchema: {status.schema_source}"
    body = table(
        ("VERSION", "NAME", "STATE", "FOLDER", "RUNS", "APPLIED AT", "DURATION", "BY"), rows
    )
    return f"{head}\n\n{body}\n\n{status.summary()}"


def render_keys(keys: list[StoredApiKey]) -> str:
    if not keys:
        return "No API keys stored."
    rows = [
        (k.provider, k.masked_key, k.validation_status.value,
         f"{k.updated_at:%Y-%m-%d %H:%M}" if k.updated_at else "-")
        for k in keys
    ]  # fmt: skip
    return table(("PROVIDER", "KEY", "CHECK", "UPDATED"), rows)


def render_config_status(status: ConfigStatus) -> str:
    admins = ", ".join(f"{a.username} ({a.role}{', disabled' if a.disabled else ''})"
                       for a in status.admins)  # fmt: skip
    lines = ["Admins:      " + (admins or "none")]
    if status.factory_password:
        lines.append(f"             {', '.join(status.factory_password)}: the platform's factory "
                     "password — set one with `kgop configure admin`")  # fmt: skip
    ai = status.ai_provider
    tokens = f" ({ai.max_tokens} tokens)" if ai and ai.max_tokens else ""
    lines.append("AI provider: " + (f"{ai.provider.value} / {ai.model}{tokens}" if ai
                                    else "not set"))  # fmt: skip
    emb = status.embedding
    lines.append("Embedding:   " + (f"[{emb.id}] {emb.name} ({emb.provider} / {emb.model}, "
                                    f"{emb.dimensions} dimensions, device {emb.device or '-'})"
                                    if emb else "none active"))  # fmt: skip
    flags = status.platform_config
    if "registration_enabled" in flags:
        lines.append(f"Registration: {flags['registration_enabled']} (registration_enabled)")
    for client in status.oauth_clients:
        if client.redirect_uris and not client.client_id.startswith("kg-cli-"):
            lines.append(f"OAuth {client.client_id}: {', '.join(client.redirect_uris)}")
    enc = status.encryption
    state = {True: "matches the stored secrets", False: "DOES NOT MATCH the stored secrets",
             None: "no secrets stored yet"}[enc.match]  # fmt: skip
    lines.append(f"Key:         ENCRYPTION_KEY {enc.env_fingerprint or 'missing'} — {state}")
    if enc.rotation_in_progress:
        lines.append("             a key rotation was interrupted: run `kgop configure rotate-key`")
    lines.append("")
    lines.append(render_keys(status.api_keys))
    return "\n".join(lines)


def render_upgrade_status(status: UpgradeStatus) -> str:
    took = ""
    if status.finished_at is not None:
        took = f", {(status.finished_at - status.started_at).total_seconds():.1f} s"
    lines = [
        f"Upgrade {status.from_version} → {status.to_version}: {status.state.value} "
        f"(started {status.started_at:%Y-%m-%d %H:%M:%S}Z{took})"
    ]
    for step in status.steps:
        if step.key == status.point_of_no_return:
            lines.append("  ── point of no return ──")
        detail = f"  {clean_line(step.detail)}" if step.detail else ""
        lines.append(f"  {STEP_MARKS[step.state]} {step.key:<9} {step.state.value:<11}{detail}")
    if status.error and status.state is not RunState.SUCCEEDED:
        lines.append(f"Error: {clean_line(status.error)}")
    lines += status.report
    if status.hint and status.state is not RunState.SUCCEEDED:
        lines.append(f"Hint: {status.hint}")
    lines.append(f"Log: {status.log_file}")
    return "\n".join(lines)


def describe_backup(info: BackupInfo) -> str:
    """One line a person reads: where, when, why, version, size, rows, graphs, signature."""
    from kgop_tui.models import CheckedBackup
    from kgop_tui.services.backups.backup_mac import describe_signature
    from kgop_tui.services.database.age_graphs import describe_graphs

    rows = sum(info.tables.values())
    return (
        f"{info.path}  {info.created_at:%Y-%m-%d %H:%M:%S}Z  {info.reason}  "
        f"v{info.kg_version or '?'} schema {info.schema_version or '-'}  "
        f"{info.dump_bytes / 1024:.0f} KiB  {len(info.tables)} tables, {rows} rows"
        + (f", {describe_graphs(info.graphs)}" if info.graphs else "")
        + ("  +sealed secrets" if info.secrets_sha256 else "")
        + (f"  {describe_signature(info.signature)}" if isinstance(info, CheckedBackup) else "")
    )
