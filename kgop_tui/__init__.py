"""kgop: the operator of the self-hosted Knowledge Graph platform."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kgop")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"
