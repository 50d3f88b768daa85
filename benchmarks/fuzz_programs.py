"""Fuzzing campaign: random whole programs against the Python reference semantics.

The CI test (tests/kernel/test_program_semantics.py) runs 500 programs; this
runs as many as asked and prints every mismatch::

    sudo .venv/bin/python benchmarks/fuzz_programs.py --programs 20000

Exit status 1 when any mismatch (or an unexpected verifier rejection) was found.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import strategies as st  # noqa: E402
from tests import exprgen, proggen  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--programs", type=int, default=20_000)
    ap.add_argument("--per-object", type=int, default=10)
    args = ap.parse_args()
    import pyebpf as bpf

    batch = st.lists(proggen.program(), min_size=args.per_object, max_size=args.per_object)
    done = failures = 0
    start = time.perf_counter()
    while done < args.programs:
        programs = batch.example()
        raw = exprgen.inputs().example()
        try:
            bad = proggen.run_programs(programs, raw)
        except bpf.BPFError as e:
            print(f"ERROR inputs={raw}\n{proggen.source(programs)}\n{e}", flush=True)
            failures += 1
            bad = []
        for _, text, want, got in bad:
            print(f"MISMATCH inputs={raw}\n{text}\nwant {want}\ngot  {got}", flush=True)
        failures += len(bad)
        done += len(programs)
        if done % 1000 < args.per_object:
            print(f"{done} programs, {failures} failures, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    print(f"total: {done} programs, {failures} failures, {time.perf_counter() - start:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
