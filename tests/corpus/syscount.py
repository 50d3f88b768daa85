"""Ported from libbpf-tools/syscount.bpf.c: count syscalls (and failures, and time) per syscall id.

The original records a start time per thread on ``raw_syscalls/sys_enter`` and on
``raw_syscalls/sys_exit`` adds count and total latency into a per-id map
(``data_t {count, total_ns}``), with optional pid and failures-only filters.
Adapted: the failures are counted in the same value instead of a mode switch; the
pid filter is a ``bpf.Const``.
"""

import pyebpf as bpf
from pyebpf import u32, u64

FILTER_PID = bpf.Const(u32, 0)


class Data(bpf.Struct):
    count: u64
    errors: u64
    total_ns: u64


start = bpf.HashMap(u32, u64, max_entries=10240)
data = bpf.HashMap(u32, Data, max_entries=1024)


@bpf.tracepoint("raw_syscalls/sys_enter")
def sys_enter(ctx) -> int:
    id = bpf.get_current_pid_tgid()
    if u32(id >> 32) != FILTER_PID:
        return 0
    start[u32(id)] = bpf.ktime_get_ns()
    return 0


@bpf.tracepoint("raw_syscalls/sys_exit")
def sys_exit(ctx) -> int:
    id = bpf.get_current_pid_tgid()
    if u32(id >> 32) != FILTER_PID:
        return 0
    tid = u32(id)
    t0 = start.lookup(tid)
    if t0 is None:
        return 0
    delta = bpf.ktime_get_ns() - t0[0]
    del start[tid]
    key = u32(ctx.id)
    v = data.lookup(key)
    if v is None:
        data[key] = Data()
        v = data.lookup(key)
        if v is None:
            return 0
    bpf.atomic_add(v.count, 1)
    bpf.atomic_add(v.total_ns, delta)
    if ctx.ret < 0:
        bpf.atomic_add(v.errors, 1)
    return 0
