"""The kgop TUI: health, logs, migrations, configuration and upgrades of the platform.

``1``–``5`` switch screens, ``?`` shows the keys, ``ctrl+p`` lists every action, ``q`` quits.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from kgop_tui import __version__
from kgop_tui.models import ProjectStatus
from kgop_tui.ports import Services
from kgop_tui.screens.config import ConfigScreen
from kgop_tui.screens.health import HealthScreen
from kgop_tui.screens.logs import LogsScreen
from kgop_tui.screens.migrations import MigrationsScreen
from kgop_tui.screens.upgrade import UpgradeScreen

SCREENS: dict[str, tuple[str, str]] = {
    "health": ("1", "Health"),
    "logs": ("2", "Logs"),
    "migrations": ("3", "Migrations"),
    "config": ("4", "Configuration"),
    "upgrade": ("5", "Upgrade"),
}
SCREEN_CLASSES: dict[str, type[Screen[Any]]] = {
    "health": HealthScreen,
    "logs": LogsScreen,
    "migrations": MigrationsScreen,
    "config": ConfigScreen,
    "upgrade": UpgradeScreen,
}


def palette_actions(read_only: bool = False) -> list[tuple[str, str, str]]:
    """(mode, action, text) for the command palette, from each screen's own BINDINGS: a
    binding with a tooltip is a palette command (one source for keys, footer and palette);
    read-only, the actions that change something are left out."""
    found = []
    for mode, screen in SCREEN_CLASSES.items():
        changes: frozenset[str] = getattr(screen, "CHANGES", frozenset())
        for binding in screen.BINDINGS:
            if not isinstance(binding, Binding) or not binding.tooltip:
                continue
            if read_only and binding.action in changes:
                continue
            found.append((mode, binding.action, binding.tooltip))
    return found


class KgopApp(App[None]):
    """The operator's full-screen UI."""

    CSS_PATH = "app.tcss"
    TITLE = "kgop"
    SUB_TITLE = f"Knowledge Graph operator {__version__}"
    MODES = dict(SCREEN_CLASSES)
    DEFAULT_MODE = "health"
    BINDINGS = [
        *(Binding(key, f"switch_mode('{mode}')", label) for mode, (key, label) in SCREENS.items()),
        Binding("question_mark", "help", "Keys"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        services: Services,
        clock: Callable[[], datetime] | None = None,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        self.services = services
        self.clock = clock or (lambda: datetime.now(UTC))
        self.read_only = read_only
        """Nothing can be changed from this session (``kgop serve`` without
        ``--allow-actions``, ``kgop tui --read-only``)."""
        self.last_status: ProjectStatus | None = None

    def on_mount(self) -> None:
        # What exists once the first frame is drawn (Textual, Rich, pydantic: some hundreds of
        # thousands of objects) lives as long as the app: kept out of the collector's full
        # passes, which walked it all and held the UI 50-120 ms each (bench.tui's filter case).
        self.call_after_refresh(gc.freeze)

    def on_unmount(self) -> None:
        gc.unfreeze()  # collectable again once the app is gone (tests run many in a process)

    def action_help(self) -> None:
        if not self.screen.is_attached:  # a key typed while the app closes
            return
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, (key, label) in SCREENS.items():
            yield SystemCommand(f"Go to {label}", f"key {key}", self._goto(mode))
        for mode, action, text in palette_actions(self.read_only):
            if self._applies(mode, action):
                yield SystemCommand(text, f"{SCREENS[mode][1]} screen", self._goto(mode, action))

    def _applies(self, mode: str, action: str) -> bool:
        """False when the screen of ``mode``, made already, says the action does not apply
        now (its ``check_action``: Tasks only on a Swarm stack); a screen not made yet has
        every action."""
        from textual.actions import parse

        made = self._screen_stacks.get(mode) or []  # Textual keeps one stack per mode
        if not made:
            return True
        _, name, parameters = parse(action)
        return made[0].check_action(name, parameters) is True

    def _goto(self, mode: str, action: str | None = None) -> Callable[[], object]:
        async def run() -> None:
            await self.switch_mode(mode)
            if action:
                await self.screen.run_action(action)

        return run
