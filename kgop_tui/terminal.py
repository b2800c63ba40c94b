"""The terminal: whether there is one, and asking for confirmation on it.

Without a terminal on stdin and stdout nothing may prompt or hang: a question becomes a
refusal that names the flag which confirms it.
"""

from __future__ import annotations

import sys

from kgop_tui.errors import RefusedForSafety


def has_terminal() -> bool:
    """True when stdin and stdout are both terminals (a person can answer)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def confirm(question: str, yes: bool, refusal: str) -> None:
    """Ask on a terminal; without one, refuse unless ``--yes``."""
    if yes:
        return
    if not has_terminal():
        raise RefusedForSafety(refusal, hint="pass --yes to confirm without a terminal")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise RefusedForSafety("Cancelled; nothing was changed")
