"""What the TLS front serves, as the Health screen shows it: mode, days to expiry, problems."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# `kgop recert` (daily in the operator container) renews below this many days.
RENEW_DAYS = 30


@dataclass(frozen=True)
class CertificateStatus:
    """The certificate in KG_HOME/certs for the TLS mode in .env."""

    mode: str
    days_left: int | None = None
    not_after: datetime | None = None
    problem: str | None = None

    def line(self) -> str:
        """One line of Rich markup: green, yellow when renewal is due, red when broken."""
        if self.problem is not None or self.days_left is None:
            return f"[red]TLS ({self.mode}): {self.problem or 'no certificate'}[/red]"
        colour = (
            "red" if self.days_left < 7 else "yellow" if self.days_left < RENEW_DAYS else "green"
        )
        until = f" (until {self.not_after:%Y-%m-%d})" if self.not_after else ""
        return (
            f"TLS ({self.mode}): [{colour}]certificate valid {self.days_left} more days{until}"
            f"[/{colour}]; `kgop recert` runs daily and renews under {RENEW_DAYS} days"
        )
