"""Fuzzing campaign: compiled integer expressions against the Python reference semantics.

The CI test (tests/kernel/test_semantics.py) runs 2,000 expressions; this runs
as many as you ask for and prints the mismatches it finds::

    sudo .venv/bin/python benchmarks/fuzz_semantics.py --expressions 20000

Each batch of expressions becomes one program, run once with BPF_PROG_TEST_RUN
on random inputs.  Exit status 1 when any mismatch was found.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import strategies as st  # noqa: E402
from tests import exprgen  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--expressions", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=50)
    args = ap.parse_args()
    done = 0
    mismatches: list[tuple[str, int, int]] = []
    start = time.perf_counter()
    batch = st.lists(exprgen.expr(), min_size=args.batch, max_size=args.batch)
    while done < args.expressions:
        exprs = batch.example()
        raw = exprgen.inputs().example()
        bad = exprgen.run_batch(exprs, raw)
        for b in bad:
            print(f"MISMATCH inputs={raw} expr={b[0]} want={b[1]} got={b[2]}", flush=True)
        mismatches += bad
        done += len(exprs)
        if done % 1000 < args.batch:
            print(f"{done} expressions, {len(mismatches)} mismatches, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    print(f"total: {done} expressions, {len(mismatches)} mismatches, "
          f"{time.perf_counter() - start:.0f} s")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
