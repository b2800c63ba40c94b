"""kgop: the operator of the self-hosted Knowledge Graph platform."""

from __future__ import annotations

# Kept equal to the repository's VERSION file (a unit test checks it); a literal, because
# reading the installed metadata costs plain verbs tens of milliseconds at start-up.
__version__ = "0.7.0"
