"""The README's main command: docs/examples/quickstart.py compiles, loads, attaches and
prints the map, with this script's own getpid() calls counted exactly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "examples" / "quickstart.py"


def test_quickstart_counts_its_own_getpid_calls() -> None:
    done = subprocess.run([sys.executable, str(QUICKSTART)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    mine = [line for line in done.stdout.splitlines() if "this script" in line]
    assert len(mine) == 1, done.stdout
    assert re.match(r"\s*\d+\s+5\s+<- this script", mine[0]), mine[0]
