"""The report of ``kgop doctor``: checks with an id, a state, a line of detail and a hint.

Its JSON form is stable (fields are only ever added): ``{"checks": [{"id", "state",
"detail", "hint"}, ...], "summary": {"ok": n, "warn": n, "fail": n, "skip": n, "exit": 0|1}}``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class CheckState(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


MARKS = {CheckState.OK: "✔", CheckState.WARN: "!", CheckState.FAIL: "✖", CheckState.SKIP: "–"}


class Check(BaseModel):
    """One finding: what was checked, how it stands, and what to do when it is not ok."""

    id: str = Field(description="stable identifier, e.g. engine, env.mode, mount.garage")
    state: CheckState
    detail: str
    hint: str | None = None


class DoctorReport(BaseModel):
    checks: list[Check]
    summary: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def of(cls, checks: list[Check]) -> DoctorReport:
        counts = {state.value: 0 for state in CheckState}
        for check in checks:
            counts[check.state.value] += 1
        counts["exit"] = 1 if counts["fail"] else 0
        return cls(checks=checks, summary=counts)

    @property
    def failed(self) -> bool:
        return any(c.state is CheckState.FAIL for c in self.checks)

    def lines(self) -> list[str]:
        """The report as plain text, a check per line (its hint on the next)."""
        out = []
        for c in self.checks:
            out.append(f"{MARKS[c.state]} {c.state.value:<4} {c.id:<24} {c.detail}")
            if c.hint and c.state is not CheckState.OK:
                out.append(f"{'':31} hint: {c.hint}")
        s = self.summary
        out.append(f"{s['ok']} ok, {s['warn']} warning(s), {s['fail']} failed, {s['skip']} skipped")
        return out
