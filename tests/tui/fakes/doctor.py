"""A fake DoctorPort: a fixed report with one check of each state."""

from __future__ import annotations

from dataclasses import dataclass, field

from kgop_tui.checks import Check, CheckState, DoctorReport


def sample_checks() -> list[Check]:
    return [
        Check(id="engine", state=CheckState.OK, detail="Docker 27.3.1 (API 1.47)"),
        Check(
            id="mount.nginx:/etc/nginx/conf.d/default.conf",
            state=CheckState.FAIL,
            detail="/srv/kg/nginx/kg.conf → nginx:/etc/nginx/conf.d/default.conf: a directory "
            "where a file belongs",
            hint="rmdir /srv/kg/nginx/kg.conf (it should be empty), then put the file back",
        ),
        Check(
            id="backup",
            state=CheckState.WARN,
            detail="no backup yet",
            hint="`./operator.sh backup`",
        ),
        Check(id="garage", state=CheckState.SKIP, detail="no garage service in this stack"),
    ]


@dataclass
class FakeDoctor:
    checks: list[Check] = field(default_factory=sample_checks)
    runs: int = 0

    def run(self) -> DoctorReport:
        self.runs += 1
        return DoctorReport.of(self.checks)
