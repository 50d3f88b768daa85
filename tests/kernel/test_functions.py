"""@bpf.func subprograms (BPF-to-BPF calls) and plain functions (inlined), run in the kernel."""

from __future__ import annotations

import pyebpf as bpf
from pyebpf import i32, i64, u8, u32, u64

out = bpf.ArrayMap(u64, max_entries=8)


@bpf.func
def clamp(x: u32, hi: u32) -> u32:
    return x if x < hi else hi


@bpf.func(linkage="global")
def square(x: u32) -> u64:
    return u64(x) * x


@bpf.func
def collatz_steps(n: u32) -> u32:
    steps: u32 = 0
    for _ in range(200):
        if n <= 1:
            break
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def add3(a, b, c):  # a plain function: typed by each call, inlined
    return a + b + c


def sign(x):
    if x < 0:
        return -1
    if x == 0:
        return 0
    return 1


@bpf.socket_filter
def calls(ctx) -> int:
    n = ctx.len  # 50 for a 64-byte test packet (the Ethernet header is not counted)
    out[0] = clamp(n, 10)
    out[1] = square(n)
    out[2] = add3(n, u32(1), 2)
    out[3] = add3(u8(250), u8(10), 0)  # u8 arithmetic wraps: (250 + 10) % 256
    out[4] = collatz_steps(27)
    out[5] = u64(sign(i32(n) - 100) + 5)
    return 0


def test_subprograms_and_inlined_functions() -> None:
    spec = calls.compile().spec
    assert {"clamp", "square", "collatz_steps"} <= set(spec.programs)
    assert not any(name.startswith("__inline") for name in spec.programs)  # all inlined
    calls.test_run(b"\0" * 64)
    n = 50
    assert out[0] == 10
    assert out[1] == n * n
    assert out[2] == n + 1 + 2
    assert out[3] == (250 + 10) % 256
    assert out[4] == 111  # Collatz steps of 27
    assert out[5] == 4  # sign(-50) + 5
    calls.close()


acc = bpf.Global(u64)


@bpf.func
def accumulate(i: u64, ctx) -> i64:
    acc.value += i
    if i == 50:
        return 1  # stop early
    return 0


@bpf.socket_filter
def with_bpf_loop(ctx) -> int:
    acc.value = 0
    return u32(bpf.loop(1000, accumulate))


def test_bpf_loop_calls_a_callback_until_it_stops() -> None:
    assert with_bpf_loop.test_run(b"\0" * 64).retval == 51  # iterations run
    assert acc.value == sum(range(51))
    with_bpf_loop.close()
