"""Ported from tools/testing/selftests/bpf/progs/tailcall1.c: a jump table of tail calls.

The original has a ``jmp_table`` prog array of three ``classifier_N`` programs
returning N, and an entry program that tail-calls slots 0, 1, 2 in turn (returning
the first that exists) or 3 when all are empty.  Adapted: socket filters instead of
tc classifiers, and the slot tried first comes from ``ctx.cb[0]``-free state: an
array map the test sets, so the test can walk the table.
"""

import pyebpf as bpf
from pyebpf import u32, u64

jmp_table = bpf.ProgArray(3)
start = bpf.ArrayMap(u32, max_entries=1)
entered = bpf.ArrayMap(u64, max_entries=4)


@bpf.socket_filter
def classifier_0(ctx) -> int:
    entered.increment(0)
    return 10


@bpf.socket_filter
def classifier_1(ctx) -> int:
    entered.increment(1)
    return 11


@bpf.socket_filter
def classifier_2(ctx) -> int:
    entered.increment(2)
    return 12


@bpf.socket_filter
def entry(ctx) -> int:
    first = start.get(0, 0)
    for i in range(3):
        if u32(i) >= first:
            jmp_table.tail_call(ctx, i)
    return 3
