"""Property: whole random programs compute what the Python reference computes.

Programs with locals of all eight integer types, a local array (constant and
variable indexes), a struct, a bpf.Global, if/else, for loops, a @bpf.func
call and an inlined function call (tests/proggen.py) are compiled ten to an
object, run with BPF_PROG_TEST_RUN and compared, output by output, with
``proggen.reference``.  50 examples x 10 programs = 500 programs per run;
benchmarks/fuzz_programs.py runs longer campaigns.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .. import exprgen, proggen

PER_OBJECT = 10


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs=st.lists(proggen.program(), min_size=PER_OBJECT, max_size=PER_OBJECT),
       raw=exprgen.inputs())
def test_programs_match_python_reference(programs: list[list[proggen.Stmt]],
                                         raw: list[int]) -> None:
    mismatches = proggen.run_programs(programs, raw)
    assert mismatches == [], (
        f"inputs {exprgen.env_of(raw)}: first mismatch (program, want, got): "
        f"{mismatches[0][1:]}"
    )
