"""Ported from libbpf-tools/cpudist.bpf.c: on-CPU time per scheduling slice, log2 histogram.

The original, on ``sched_switch``, stores the switch-in time of ``next`` and adds
``log2l(now - start)`` of ``prev``'s slice to a histogram (per process or global).
Adapted: the classic ``sched/sched_switch`` tracepoint (the format's
``prev_pid``/``next_pid``) instead of tp_btf, limited to the threads of one tgid
found with ``bpf_get_current_task_btf()`` (the switching-out task is current);
off-CPU slices are counted too (offcpu mode).
"""

import pyebpf as bpf
from pyebpf import u32, u64

MAX_SLOTS = 26
TARG_TGID = bpf.Const(u32, 0)

start = bpf.HashMap(u32, u64, max_entries=10240)
oncpu = bpf.ArrayMap(u64, max_entries=MAX_SLOTS)
switches = bpf.ArrayMap(u64, max_entries=2)  # [0] switched out, [1] slices measured


@bpf.func
def log2l(v: u64) -> u64:
    r: u64 = 0
    for _ in range(64):
        v >>= 1
        if v == 0:
            break
        r += 1
    return r


@bpf.tracepoint("sched/sched_switch")
def sched_switch(ctx) -> int:
    ts = bpf.ktime_get_ns()
    task = bpf.get_current_task_btf()  # prev
    if u32(task.tgid) == TARG_TGID:
        prev = u32(ctx.prev_pid)
        switches.increment(0)
        t0 = start.lookup(prev)
        if t0 is not None:
            slot = log2l((ts - t0[0]) // 1000)
            if slot >= MAX_SLOTS:
                slot = MAX_SLOTS - 1
            oncpu.increment(u32(slot))
            switches.increment(1)
            del start[prev]
    # next may be one of ours too: remember when it went on the CPU
    start[u32(ctx.next_pid)] = ts
    return 0
