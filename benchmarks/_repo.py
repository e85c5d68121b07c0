"""The checkout the benchmarks measure, and the quick mode every benchmark shares.

Importing this module puts the repository first on ``sys.path`` (a script run
from any checkout measures that checkout, not whatever the editable install
points at); :func:`child_env` gives child processes the same path.
``--quick`` (CI): the smallest sizes, runs and durations that still take
every code path and print every row; the figures are then meaningless.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[1])
QUICK_HELP = "CI mode: smallest sizes and runs that still print every row (figures not meaningful)"

if REPO not in sys.path:
    sys.path.insert(1, REPO)


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment with the repository first on ``PYTHONPATH``, plus ``extra``."""
    path = os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **extra)
