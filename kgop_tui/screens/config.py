"""Configuration: admin password, AI provider, embedding profile, API keys, key canary, and
the platform's flags and OAuth redirect URIs (read-only here: `kgop configure` sets them)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.widgets import Checkbox, DataTable, Header, Input, Select, Static
from textual.worker import Worker

from kgop_tui.errors import KgopError, UsageError
from kgop_tui.models import AiProviderSetting, ConfigStatus, Device, Provider
from kgop_tui.screens.base import KgopScreen
from kgop_tui.widgets.banner import Banner
from kgop_tui.widgets.dialogs import ConfirmScreen, FormScreen
from kgop_tui.widgets.footer import SteadyFooter

PROVIDERS = [(p.value, p.value) for p in Provider]


class ConfigScreen(KgopScreen):
    """The platform's configuration, changed through forms."""

    SCREEN_KEY = "4"
    SCREEN_NAME = "Configuration"
    CHANGES = frozenset({"admin_password", "ai_provider", "embedding", "add_key", "delete_key"})

    BINDINGS = [
        Binding("p", "admin_password", "Admin pw", tooltip="Set the admin password"),
        Binding("a", "ai_provider", "AI provider", tooltip="Choose the AI provider and model"),
        Binding("e", "embedding", "Embedding", tooltip="Choose the embedding profile"),
        Binding("k", "add_key", "Add key", tooltip="Add or replace an API key"),
        Binding("x", "delete_key", "Delete key", tooltip="Delete an API key"),
        Binding("r", "refresh", "Refresh", tooltip="Reload the configuration"),
    ]

    status: var[ConfigStatus | None] = var(None, init=False)
    """The configuration as last read; the summary and the keys are drawn from it."""
    summary: var[str] = var("Loading…", init=False)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Banner(id="config-banner")
        yield Static("Loading…", id="config-summary")
        table: DataTable[str | Text] = DataTable(id="api-keys", cursor_type="row")
        yield table
        yield SteadyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#api-keys", DataTable)
        for column in ("Provider", "Key", "Check", "Updated"):
            table.add_column(column, key=column.lower())
        self.load()
        self.keep_retrying(self.load)

    def worker_failed(self, worker: Worker[Any]) -> None:
        if worker.name == "load_config" and self.status is None:
            self.summary = "The configuration could not be read; r tries again."

    def action_refresh(self) -> None:
        self.load()

    @work(exclusive=True, group="config-load", name="load_config", exit_on_error=False)
    async def load(self) -> None:
        status = await self.guarded(self.services.config.status())
        if status is not None:
            self.status = status

    # ---- state → widgets ----------------------------------------------------------------

    def watch_summary(self, summary: str) -> None:
        self.query_one("#config-summary", Static).update(summary)

    def watch_status(self, status: ConfigStatus | None) -> None:
        if status is None:
            return
        ai, emb, enc = status.ai_provider, status.embedding, status.encryption
        canary = {
            True: "[green]✔ matches the stored secrets[/]",
            False: "[red]✖ DOES NOT MATCH the stored secrets — writes are refused[/]",
            None: "no secrets stored yet",
        }[enc.match]
        admins = ", ".join(f"{escape(a.username)} ({a.role}{', disabled' if a.disabled else ''})"
                           for a in status.admins)  # fmt: skip
        tokens = f" · {ai.max_tokens} tokens" if ai and ai.max_tokens else ""
        lines = [
            "[b]Admins[/b]       " + (admins or "[yellow]none — press p[/]"),
            "[b]AI provider[/b]  " + (f"{ai.provider.value} · {escape(ai.model)}{tokens}"
                                     if ai else "[yellow]not set[/]"),
            "[b]Embedding[/b]    " + (f"[{emb.id}] {escape(emb.name)} · {escape(emb.model)} · "
                                     f"{emb.dimensions}d · {escape(emb.device or '-')}"
                                     if emb else "[yellow]none active[/]"),
            f"[b]Key[/b]          ENCRYPTION_KEY {enc.env_fingerprint or 'missing'} {canary}",
        ]  # fmt: skip
        if status.factory_password:
            names = ", ".join(escape(n) for n in status.factory_password)
            lines.insert(1, f"[yellow]             {names}: the platform's factory password — "
                            "press p[/]")  # fmt: skip
        flags = status.platform_config
        if "registration_enabled" in flags:
            lines.append(f"[b]Registration[/b] {escape(flags['registration_enabled'])}")
        for client in status.oauth_clients:
            if client.redirect_uris and not client.client_id.startswith("kg-cli-"):
                uris = escape(", ".join(client.redirect_uris))
                lines.append(f"[b]OAuth[/b]        {escape(client.client_id)}: {uris}")
        if enc.rotation_in_progress:
            lines.append(
                "[yellow]A key rotation was interrupted: run `kgop configure rotate-key`[/]"
            )
        self.summary = "\n".join(lines)
        table = self.query_one("#api-keys", DataTable)
        table.clear()
        for key in status.api_keys:
            table.add_row(
                key.provider,
                key.masked_key,
                key.validation_status.value,
                f"{key.updated_at:%Y-%m-%d %H:%M}" if key.updated_at else "-",
                key=key.provider,
            )

    # ---- actions -------------------------------------------------------------------------

    @work(group="config-form", name="config_form", exit_on_error=False)
    async def _form(self, title: str, fields: list[tuple[str, str, Any]], then: Any) -> None:
        values = await self.app.push_screen_wait(FormScreen(title, fields))
        if values is not None:
            then(values)

    def action_admin_password(self) -> None:
        current = self.status.admins[0].username if self.status and self.status.admins else "admin"
        self._form(
            "Admin password (12+ characters, not the username)",
            [
                ("username", "Username", Input(value=current)),
                ("password", "Password", Input(password=True)),
                ("confirm", "Again", Input(password=True)),
            ],
            self._save_admin,
        )

    @work(group="config-write", name="save_admin", exit_on_error=False)
    async def _save_admin(self, values: dict[str, Any]) -> None:
        if values["password"] != values["confirm"]:
            self.report(UsageError("The two passwords differ", hint="try again"))
            return
        await self._write(
            self.services.config.set_admin(values["username"], values["password"]),
            f"Admin password set for {values['username']}.",
        )

    def action_ai_provider(self) -> None:
        ai = self.status.ai_provider if self.status else None
        self._form(
            "AI provider for extraction",
            [
                (
                    "provider",
                    "Provider",
                    Select(
                        PROVIDERS, value=ai.provider.value if ai else "openai", allow_blank=False
                    ),
                ),
                ("model", "Model", Input(value=ai.model if ai else "gpt-4o")),
                (
                    "max_tokens",
                    "Max tokens",
                    Input(
                        value=str(ai.max_tokens) if ai and ai.max_tokens else "",
                        placeholder="blank: keep the stored value",
                    ),
                ),
            ],  # fmt: skip
            self._save_ai,
        )

    @work(group="config-write", name="save_ai_provider", exit_on_error=False)
    async def _save_ai(self, values: dict[str, Any]) -> None:
        from pydantic import ValidationError

        try:
            setting = AiProviderSetting(
                provider=Provider(values["provider"]),
                model=values["model"],
                max_tokens=int(values["max_tokens"]) if values["max_tokens"] else None,
            )
        except (ValidationError, ValueError) as exc:
            self.report(UsageError(f"Invalid value: {str(exc).splitlines()[0]}", hint="fix it"))
            return
        await self._write(
            self.services.config.set_ai_provider(setting),
            f"AI provider: {setting.provider.value} · {setting.model}.",
        )

    @work(group="config-write", name="choose_embedding", exit_on_error=False)
    async def action_embedding(self) -> None:
        try:
            profiles = await self.services.config.embeddings()
        except KgopError as error:
            self.report(error)
            return
        active = next((p for p in profiles if p.active), profiles[0] if profiles else None)
        options = [(f"[{p.id}] {p.name} ({p.model}, {p.dimensions}d)", str(p.id)) for p in profiles]
        devices = [d.value for d in Device]
        self._form(
            "Embedding profile",
            [
                (
                    "profile",
                    "Profile",
                    Select(
                        options,
                        value=str(active.id) if active else Select.BLANK,
                        allow_blank=False,
                    ),
                ),
                (
                    "device",
                    "Device",
                    Select(
                        [(d, d) for d in devices],
                        value=active.device if active and active.device in devices else "cpu",
                        allow_blank=False,
                    ),
                ),
            ],  # fmt: skip
            self._save_embedding,
        )

    @work(group="config-write", name="save_embedding", exit_on_error=False)
    async def _save_embedding(self, values: dict[str, Any]) -> None:
        await self._write(
            self.services.config.set_embedding(values["profile"], Device(values["device"])),
            f"Embedding profile: {values['profile']} on {values['device']}.",
        )

    def action_add_key(self) -> None:
        self._form(
            "Add or replace an API key (stored encrypted, shown masked)",
            [
                ("provider", "Provider", Select(PROVIDERS, value="openai", allow_blank=False)),
                ("key", "Key", Input(password=True, placeholder="paste the key")),
                ("validate", "", Checkbox("Check it with the provider online", value=True)),
            ],
            self._save_key,
        )

    @work(group="config-write", name="save_api_key", exit_on_error=False)
    async def _save_key(self, values: dict[str, Any]) -> None:
        provider = Provider(values["provider"])
        await self._write(
            self.services.config.add_api_key(provider, values["key"], bool(values["validate"])),
            f"Stored the {provider.value} key.",
        )

    @work(group="config-write", name="delete_api_key", exit_on_error=False)
    async def action_delete_key(self) -> None:
        table = self.query_one("#api-keys", DataTable)
        if not self.status or not self.status.api_keys:
            self.notify("No API keys stored.", severity="warning")
            return
        provider = self.status.api_keys[max(0, table.cursor_row)].provider
        if not await self.app.push_screen_wait(ConfirmScreen(f"Delete the {provider} key?", True)):
            return
        await self._write(
            self.services.config.delete_api_key(provider), f"Deleted the {provider} key."
        )

    async def _write(self, operation: Any, done: str) -> None:
        try:
            await operation
        except KgopError as error:
            self.report(error)
            return
        self.notify(done)
        self.load()
