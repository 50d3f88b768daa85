"""Ported from libbpf-tools/runqlat.bpf.c: run-queue latency as a log2 histogram (tp_btf).

The original records a timestamp on ``tp_btf/sched_wakeup`` and
``sched_wakeup_new`` (and on ``sched_switch`` for a preempted ``prev`` still
runnable), and on ``tp_btf/sched_switch`` computes ``now - start`` for ``next``
and adds ``log2l(delta_us)`` to a histogram.  Adapted: limited to one tgid
(``bpf.Const``) instead of the cgroup/pid options; the histogram is an array map;
the log2 is a loop in a plain (inlined) function.  The task pointers are BTF
pointers (``sched_wakeup``'s parameter has no name in the kernel's BTF: ``arg0``).
"""

import pyebpf as bpf
from pyebpf import u32, u64

MAX_SLOTS = 26
TASK_RUNNING = 0
TARG_TGID = bpf.Const(u32, 0)

start = bpf.HashMap(u32, u64, max_entries=10240)
hist = bpf.ArrayMap(u64, max_entries=MAX_SLOTS)
counts = bpf.ArrayMap(u64, max_entries=2)  # [0] wakeups recorded, [1] latencies added


def log2l(v):
    r: u64 = 0
    for _ in range(64):
        v >>= 1
        if v == 0:
            break
        r += 1
    return r


@bpf.tp_btf("sched_wakeup")
def sched_wakeup(ctx) -> int:
    p = ctx.arg0  # struct task_struct *p
    if u32(p.tgid) != TARG_TGID:
        return 0
    start[u32(p.pid)] = bpf.ktime_get_ns()
    counts.increment(0)
    return 0


@bpf.tp_btf("sched_switch")
def sched_switch(ctx) -> int:
    prev = ctx.prev
    if ctx.prev_state == TASK_RUNNING and u32(prev.tgid) == TARG_TGID:
        start[u32(prev.pid)] = bpf.ktime_get_ns()  # preempted: still runnable
    pid = u32(ctx.next.pid)
    ts = start.lookup(pid)
    if ts is None:
        return 0
    delta = bpf.ktime_get_ns() - ts[0]
    del start[pid]
    slot = log2l(delta // 1000)
    if slot >= MAX_SLOTS:
        slot = MAX_SLOTS - 1
    hist.increment(u32(slot))
    counts.increment(1)
    return 0
