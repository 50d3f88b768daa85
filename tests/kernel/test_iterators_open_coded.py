"""`for i in bpf.iter_range(start, stop)`: open-coded bpf_iter_num loops, run in the kernel.

The verifier checks such a loop once, not once per iteration, so the bounds may
be run-time values far beyond what it could unroll; each test compares with
what the same Python computes.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyebpf as bpf
from pyebpf import i32, i64, u32, u64
from pyebpf.errors import CompileError, NotSupportedError

PKT = b"\0" * 64
args = bpf.ArrayMap(i32, max_entries=4)  # the bounds and thresholds, set before each run
out = bpf.ArrayMap(i64, max_entries=4)


@bpf.tc
def sum_below(ctx) -> int:
    """sum(i for i in range(start, stop) if i % 3 != 0), stopping at i == halt."""
    start = args.get(0, 0)
    stop = args.get(1, 0)
    halt = args.get(2, 0)
    total: i64 = 0
    count: i64 = 0
    for i in bpf.iter_range(start, stop):
        if i == halt:
            break
        count += 1
        if i % 3 == 0:
            continue
        total += i
    out[0] = total
    out[1] = count
    return 0


def sum_below_py(start: int, stop: int, halt: int) -> tuple[int, int]:
    total = count = 0
    for i in range(start, stop):
        if i == halt:
            break
        count += 1
        if i % 3 == 0:
            continue
        total += i
    return total, count


def _run(prog: bpf.Program, *values: int) -> None:
    for k, v in enumerate(values):
        args[k] = v
    prog.test_run(PKT)


def test_a_runtime_bound_of_100_000_iterations_gives_pythons_sum() -> None:
    sum_below.load()
    _run(sum_below, 0, 100_000, -1)
    assert (out[0], out[1]) == sum_below_py(0, 100_000, -1)
    assert out[1] == 100_000  # far more than a verifier-unrolled loop could run


def test_break_and_continue() -> None:
    sum_below.load()
    _run(sum_below, 10, 1_000, 500)
    assert (out[0], out[1]) == sum_below_py(10, 1_000, 500) == (out[0], 490)
    _run(sum_below, -50, 50, 49)
    assert (out[0], out[1]) == sum_below_py(-50, 50, 49)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.integers(-2000, 2000), length=st.integers(-20, 3000),
       halt=st.integers(-2100, 5100))
def test_random_bounds_match_python(start: int, length: int, halt: int) -> None:
    sum_below.load()
    _run(sum_below, start, start + length, halt)
    assert (out[0], out[1]) == sum_below_py(start, start + length, halt)


@bpf.tc
def first_square_at_least(ctx) -> int:
    """Return from inside the loop: the iterator is destroyed on that path too."""
    target = args.get(0, 0)
    for i in bpf.iter_range(args.get(1, 0)):
        if i * i >= target:
            out[0] = i
            return 1
    out[0] = -1
    return 2


def test_return_from_inside_the_loop() -> None:
    first_square_at_least.load()
    args[0], args[1] = 1_000_000, 5_000
    assert first_square_at_least.test_run(PKT).retval == 1
    assert out[0] == 1000
    args[0], args[1] = 1_000_000, 999  # never reached: the loop ends normally
    assert first_square_at_least.test_run(PKT).retval == 2
    assert out[0] == -1


@bpf.tc
def triangle(ctx) -> int:
    """Nested iterators, a break out of the inner one and a return from inside both."""
    n = args.get(0, 0)
    stop_at = args.get(1, 0)
    total: i64 = 0
    for i in bpf.iter_range(n):
        for j in bpf.iter_range(1, n):
            if j > i:
                break
            if i * j == stop_at:
                out[0] = total
                out[1] = i
                return 3
            total += i * j
    out[0] = total
    out[1] = -1
    return 0


def triangle_py(n: int, stop_at: int) -> tuple[int, int, int]:
    total = 0
    for i in range(n):
        for j in range(1, n):
            if j > i:
                break
            if i * j == stop_at:
                return total, i, 3
            total += i * j
    return total, -1, 0


def test_nested_loops() -> None:
    triangle.load()
    for n, stop_at in ((300, -1), (300, 299 * 150), (50, 7), (0, 0), (1, 0)):
        args[0], args[1] = n, stop_at
        rc = triangle.test_run(PKT).retval
        assert (out[0], out[1], rc) == triangle_py(n, stop_at), (n, stop_at)


BIG = 1 << 20
cells = bpf.ArrayMap(u32, max_entries=BIG)
walked = bpf.ArrayMap(u64, max_entries=2)


@bpf.tc
def walk_array(ctx) -> int:
    """Fill then sum a 1M-entry array map: two loops the verifier could never unroll."""
    n = args.get(0, 0)
    for i in bpf.iter_range(n):
        p = cells.lookup(u32(i))
        if p is not None:
            p[0] = u32(i) * 3 + 1
    total: u64 = 0
    seen: u64 = 0
    for i in bpf.iter_range(n):
        v = cells.lookup(u32(i))
        if v is not None:
            total += v[0]
            seen += 1
    walked[0] = total
    walked[1] = seen
    return 0


def test_walk_a_million_entry_array_map() -> None:
    walk_array.load()
    args[0] = BIG
    walk_array.test_run(PKT)
    assert walked[1] == BIG
    assert walked[0] == sum(i * 3 + 1 for i in range(BIG))
    assert cells[BIG - 1] == (BIG - 1) * 3 + 1 and cells[12345] == 12345 * 3 + 1
    walk_array.close()


@bpf.tc
def count_to(ctx) -> int:
    count: i64 = 0
    for _ in bpf.iter_range(args.get(0, 0), args.get(1, 0)):
        count += 1
    out[0] = count
    return 0


def test_the_kernels_iteration_limit() -> None:
    count_to.load()
    _run(count_to, 0, 1 << 23)  # BPF_MAX_LOOPS iterations: all of them run
    assert out[0] == 1 << 23
    _run(count_to, 0, (1 << 23) + 1)  # one more: bpf_iter_num_new refuses, none run
    assert out[0] == 0
    _run(count_to, 10, 3)  # a reversed range is empty, as in Python
    assert out[0] == 0
    _run(count_to, -(1 << 31), -(1 << 31) + 5)  # the i32 ends work
    assert out[0] == 5


# ---------------------------------------------------------------- compile-time checks


def _error(fn) -> CompileError:  # type: ignore[no-untyped-def]
    with pytest.raises(CompileError) as e:
        bpf.tc(fn).compile()
    return e.value


def _line_of(fn, text: str) -> int:  # type: ignore[no-untyped-def]
    import inspect

    lines, first = inspect.getsourcelines(fn)
    return first + next(k for k, line in enumerate(lines) if text in line)


def _too_long(ctx) -> int:
    for i in bpf.iter_range(5, 5 + (1 << 23) + 1):  # more than BPF_MAX_LOOPS
        out[0] = i
    return 0


def _with_step(ctx) -> int:
    for i in bpf.iter_range(0, 10, 2):  # no step
        out[0] = i
    return 0


def _u32_counter(ctx) -> int:
    i = u32(0)
    for i in bpf.iter_range(10):  # i is a u32 already
        out[0] = i
    return 0


def test_constant_bounds_beyond_the_kernels_limit_are_refused_at_the_line() -> None:
    e = _error(_too_long)
    assert f":{_line_of(_too_long, 'more than BPF_MAX_LOOPS')}:" in str(e)
    assert "8,388,608" in str(e) and "split the range" in str(e)


def test_no_step_and_an_i32_loop_variable() -> None:
    e = _error(_with_step)
    assert f":{_line_of(_with_step, 'no step')}:" in str(e) and "no step" in str(e)
    e = _error(_u32_counter)
    assert f":{_line_of(_u32_counter, 'a u32 already')}:" in str(e) and "i32" in str(e)


def test_a_kernel_without_the_kfuncs_gets_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyebpf import kernel

    def missing(self):  # type: ignore[no-untyped-def]
        raise NotSupportedError(f"the kfunc {self.name}()", detail="not in this kernel's BTF")

    monkeypatch.setattr(kernel.KFunc, "signature", missing)

    def loop(ctx) -> int:
        for i in bpf.iter_range(args.get(0, 0)):  # the iterator loop
            out[0] = i
        return 0

    e = _error(loop)
    assert f":{_line_of(loop, 'the iterator loop')}:" in str(e)
    assert "bpf_iter_num" in str(e) and "range()" in str(e) and "bpf.loop" in str(e)
    assert "llvmlite" not in str(e)
