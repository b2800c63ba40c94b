"""The upgrade walkthrough in the TUI, typed into a real terminal (tmux) over the shim."""

from __future__ import annotations

from tests.e2e.upgrades import admin_password, operator_image, serves
from tests.support.stack import Tmux, UpgradeSite, kgop_version, releases


def prompt_after_shim(screen: str) -> bool:
    lines = [line for line in screen.splitlines() if line.strip()]
    return len(lines) >= 2 and lines[-2].endswith("./operator.sh") and lines[-1].endswith("#")


def test_the_tui_walkthrough_completes_an_upgrade(site: UpgradeSite) -> None:
    newest, previous, _ = releases()
    stack = site.install()
    password = admin_password(stack)
    tmux = Tmux(stack)
    try:
        tmux.send("./operator.sh", "Enter")
        tmux.wait(lambda s: "1 Health" in s, "the TUI", limit=60)
        tmux.send("5")
        tmux.wait(
            lambda s: f"Upgrade {previous} → {newest}: press Enter to start" in s,
            "the upgrade plan",
            limit=120,
        )
        screen = tmux.screen()
        assert "point of no return" in screen
        assert "079_search_default_threshold.sql" in screen
        tmux.send("Enter")  # asks first, as the CLI does without --yes
        tmux.wait(lambda s: f"Upgrade {previous} → {newest}?" in s, "the question", limit=30)
        tmux.send("y")
        done = tmux.wait(
            lambda s: f"Last upgrade {previous} → {newest}: succeeded" in s,
            "the upgrade to finish",
            limit=300,
        )
        assert "✔ done" in done
        tmux.send("q")
        # The prompt comes back once operator.sh, after the TUI, has checked the operator.
        tmux.wait(prompt_after_shim, "the shell prompt after operator.sh", limit=120)
    finally:
        tmux.close()
    serves(stack, newest, password)
    # Both releases are operated by this kgop: the operator stays on its image.
    assert operator_image(stack) == f"kg-operator:{kgop_version()}"
