"""What a container costs, from one sample of the engine's stats (``docker stats`` numbers).

CPU % is the container's share of the host's CPU time between the sample and the engine's
previous reading, times the CPUs online (100 % = one CPU busy), as ``docker stats`` shows
it. Memory is the usage without the page cache the kernel can drop (``inactive_file`` on
cgroup v2, ``total_inactive_file`` on v1), as ``docker stats`` shows it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

STAT_FIELDS = (
    "cpu_percent",
    "memory_bytes",
    "memory_limit_bytes",
    "net_rx_bytes",
    "net_tx_bytes",
    "block_read_bytes",
    "block_write_bytes",
)


def stats_from_sample(doc: Mapping[str, Any]) -> dict[str, float]:
    """The figures of one ``GET /containers/{id}/stats?stream=false`` answer."""
    cpu, pre = doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}
    ).get("total_usage", 0)
    system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
    cpus = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or [1])
    percent = cpu_delta / system_delta * cpus * 100.0 if cpu_delta > 0 and system_delta > 0 else 0.0
    memory = doc.get("memory_stats") or {}
    detail = memory.get("stats") or {}
    cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
    used = max(int(memory.get("usage", 0)) - int(cache), 0)
    networks = (doc.get("networks") or {}).values()
    blkio = (doc.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    return {
        "cpu_percent": round(percent, 2),
        "memory_bytes": used,
        "memory_limit_bytes": int(memory.get("limit", 0)),
        "net_rx_bytes": sum(int(n.get("rx_bytes", 0)) for n in networks),
        "net_tx_bytes": sum(
            int(n.get("tx_bytes", 0)) for n in (doc.get("networks") or {}).values()
        ),
        "block_read_bytes": sum(
            int(b.get("value", 0)) for b in blkio if b.get("op", "").lower() == "read"
        ),
        "block_write_bytes": sum(
            int(b.get("value", 0)) for b in blkio if b.get("op", "").lower() == "write"
        ),
    }


def human_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def short_bytes(value: float) -> str:
    """``1.9G``, ``123M``, ``512K``, ``80B``: a table cell's width, as ``docker stats`` rounds."""
    for unit in ("B", "K", "M", "G"):
        if abs(value) < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" or value >= 100 else f"{value:.1f}{unit}"
        value /= 1024
    return f"{value:.1f}G"


def io_rates(
    previous: Mapping[str, float], current: Mapping[str, float], seconds: float
) -> dict[str, float]:
    """Bytes per second of network and block I/O between two samples of one container
    (counters that went down, as after a restart, count from zero)."""
    if seconds <= 0:
        return {}
    rates = {}
    for name in ("net_rx_bytes", "net_tx_bytes", "block_read_bytes", "block_write_bytes"):
        now, before = current.get(name, 0.0), previous.get(name, 0.0)
        rates[name] = (now - before if now >= before else now) / seconds
    return rates


class ResourceBook:
    """What each service costs, sample by sample: its latest figures, the rates between
    its last two samples, and a minute of CPU and memory history (the trends)."""

    def __init__(self, history: int = 60) -> None:
        self.history = history
        self.figures: dict[str, dict[str, float]] = {}
        self.rates: dict[str, dict[str, float]] = {}
        self.cpu: dict[str, deque[float]] = {}
        self.memory: dict[str, deque[float]] = {}
        self._sampled_at: dict[str, float] = {}

    def record(self, service: str, figures: dict[str, float], now: float) -> bool:
        """Keep one sample; True when it is the service's first."""
        previous, at = self.figures.get(service), self._sampled_at.get(service)
        if previous is not None and at is not None:
            self.rates[service] = io_rates(previous, figures, now - at)
        self.figures[service], self._sampled_at[service] = figures, now
        self.cpu.setdefault(service, deque(maxlen=self.history)).append(figures["cpu_percent"])
        self.memory.setdefault(service, deque(maxlen=self.history)).append(figures["memory_bytes"])
        return previous is None

    def cells(self, service: str) -> tuple[str, str, str, str]:
        """CPU, memory (of its limit), network rates and block I/O, as the table shows them."""
        figures = self.figures.get(service)
        if figures is None:
            return "–", "–", "–", "–"
        memory = short_bytes(figures["memory_bytes"])
        if figures.get("memory_limit_bytes"):
            memory += "/" + short_bytes(figures["memory_limit_bytes"])
        rates = self.rates.get(service)
        net = (
            f"{short_bytes(rates['net_rx_bytes'])}↓ {short_bytes(rates['net_tx_bytes'])}↑"
            if rates
            else "…"
        )
        block = (
            f"{short_bytes(figures['block_read_bytes'])}/"
            f"{short_bytes(figures['block_write_bytes'])}"
        )
        return f"{figures['cpu_percent']:.1f}%", memory, net, block
