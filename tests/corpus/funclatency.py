"""Ported from libbpf-tools/funclatency.bpf.c (with bits.bpf.h's log2): a log2 latency histogram.

The original times a kernel function with a kprobe/kretprobe pair (or fentry/fexit),
keyed by tid, and adds ``log2l(delta)`` (in ns, us or ms) to a histogram array of
``MAX_SLOTS`` u32 slots.  Adapted: kprobes and fentry are unavailable on this
kernel, so the pair is the ``clock_nanosleep`` syscall tracepoints; units are
microseconds; ``log2``/``log2l`` are the branch-free bit tricks of bits.bpf.h
written as ``@bpf.func`` subprograms.
"""

import pyebpf as bpf
from pyebpf import u32, u64

MAX_SLOTS = 26
TARG_TGID = bpf.Const(u32, 0)

starts = bpf.HashMap(u32, u64, max_entries=1024)
hist = bpf.ArrayMap(u32, max_entries=MAX_SLOTS)


@bpf.func
def log2(v: u32) -> u64:
    r = u32(v > 0xFFFF) << 4
    v >>= r
    shift = u32(v > 0xFF) << 3
    v >>= shift
    r |= shift
    shift = u32(v > 0xF) << 2
    v >>= shift
    r |= shift
    shift = u32(v > 0x3) << 1
    v >>= shift
    r |= shift
    r |= v >> 1
    return r


@bpf.func
def log2l(v: u64) -> u64:
    hi = u32(v >> 32)
    if hi != 0:
        return log2(hi) + 32
    return log2(u32(v))


@bpf.tracepoint("syscalls/sys_enter_clock_nanosleep")
def entry(ctx) -> int:
    id = bpf.get_current_pid_tgid()
    if u32(id >> 32) != TARG_TGID:
        return 0
    starts[u32(id)] = bpf.ktime_get_ns()
    return 0


@bpf.tracepoint("syscalls/sys_exit_clock_nanosleep")
def exit(ctx) -> int:
    tid = u32(bpf.get_current_pid_tgid())
    start = starts.lookup(tid)
    if start is None:
        return 0
    delta = (bpf.ktime_get_ns() - start[0]) // 1000
    del starts[tid]
    slot = log2l(delta)
    if slot >= MAX_SLOTS:
        slot = MAX_SLOTS - 1
    p = hist.lookup(u32(slot))
    if p is not None:
        bpf.atomic_add(p[0], 1)
    return 0
