"""A footer that hides and shows its keys instead of rebuilding them.

Textual's Footer recomposes (removes and mounts a widget per key, each restyled) on every
change of the screen's bindings. Focus moving into the log view's prompt hides most keys
(the prompt takes the printable ones) and moving back shows them again: two rebuilds of the
whole footer, and the key pressed next waited behind them (~100 ms in bench.tui's filter
case). When the keys now shown are among those already built, unchanged, this footer only
hides the others; it rebuilds when a key is new or its state or text changed.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class SteadyFooter(Footer):
    """Footer that toggles the display of keys it already has instead of recomposing."""

    def bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen and screen.app.app_focus:
            shown = {
                (binding.key, binding.action): (binding.description, enabled, tooltip)
                for _node, binding, enabled, tooltip in screen.active_bindings.values()
                if binding.show
            }
            built = {
                (key.key, key.action): key
                for key in self.query(FooterKey)
                if not key.has_class("-command-palette")
            }
            if built and all(
                ident in built
                and built[ident].description == description
                and built[ident].has_class("-disabled") != enabled
                and str(built[ident].tooltip or "") == str(tooltip or "")
                for ident, (description, enabled, tooltip) in shown.items()
            ):
                self._bindings_ready = True
                for ident, key in built.items():
                    key.display = ident in shown
                return
        super().bindings_changed(screen)
