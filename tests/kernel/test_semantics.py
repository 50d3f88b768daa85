"""Property: compiled integer expressions compute what the Python reference semantics says.

Random expressions over all eight integer types and every operator are
batched into programs, run in the kernel with BPF_PROG_TEST_RUN, and
compared with ``tests/exprgen.evaluate``.  40 examples x 50 expressions =
2,000 expressions per run; benchmarks/fuzz_semantics.py runs longer campaigns.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .. import exprgen

BATCH = 50  # more per program and the verifier's 1M-instruction budget runs out


@settings(max_examples=40, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(exprs=st.lists(exprgen.expr(), min_size=BATCH, max_size=BATCH), raw=exprgen.inputs())
def test_expressions_match_python_reference(exprs: list[exprgen.Node], raw: list[int]) -> None:
    mismatches = exprgen.run_batch(exprs, raw)
    assert mismatches == [], (
        f"inputs {exprgen.env_of(raw)}: first mismatches (expr, want, got): {mismatches[:5]}"
    )
