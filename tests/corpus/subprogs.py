"""Ported from tools/testing/selftests/bpf/progs/test_subprogs.c: BPF-to-BPF calls.

The original chains static and global subprograms (``sub1`` .. ``sub5``) whose
results are combined by two entry programs and checked against a known value.
Adapted: the bodies are arithmetic on the packet length (the originals use
``skb->len`` and ``bpf_get_smp_processor_id``), called from a socket filter; the
test computes the same values in Python.
"""

import pyebpf as bpf
from pyebpf import u32, u64

res = bpf.ArrayMap(u64, max_entries=4)


@bpf.func
def sub1(x: u32) -> u32:
    return x * 2


@bpf.func(linkage="global")
def sub2(y: u32) -> u32:
    return y + 1


@bpf.func
def sub3(z: u32) -> u32:
    return sub1(z) + sub2(z) * 3


@bpf.func(linkage="global")
def sub4(a: u32, b: u32) -> u64:
    return u64(sub3(a)) * b + sub1(b)


def sub5(v):  # a plain function: inlined
    return sub2(v) + sub3(v + 1)


@bpf.socket_filter
def prog1(ctx) -> int:
    n = ctx.len
    res[0] = sub1(n)
    res[1] = sub3(n)
    res[2] = sub4(n, 7)
    res[3] = sub5(n)
    return 0


@bpf.socket_filter
def prog2(ctx) -> int:
    return sub3(ctx.len) + sub1(1)
