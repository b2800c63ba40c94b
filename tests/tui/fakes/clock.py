"""The frozen clock every fake and snapshot uses."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
