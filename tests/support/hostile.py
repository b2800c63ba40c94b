"""Text a hostile container writes to take over the operator's terminal, and the check that
none of it arrived."""

from __future__ import annotations

# Each would act on a terminal: clear it, set the clipboard (OSC 52), 8-bit CSI and OSC,
# a DCS string, a cursor save, a bell, a carriage return, DEL and a C1 control.
HOSTILE = (
    "a\x1b[2J\x1b[31mb\x1b[0m"
    "\x1b]52;c;ZWNobyBvd25lZA==\x07c"
    "\x9b2Jd"
    "\x9d52;c;QQ==\x9ce"
    "\x1bP1$r0m\x1b\\f"
    "\x1b7\x07\rg\x7f\x85h"
)
SHOWN = "abcdefgh"  # what is left of it: the text, nothing that acts
UNSAFE = {chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))}


def is_inert(text: str) -> bool:
    """No character of ``text`` is a control a terminal would act on (tab, newline are fine)."""
    return not UNSAFE.intersection(text)
