"""Ported from libbpf-tools/runqlat.bpf.c: run-queue latency as a log2 histogram (tp_btf).

The original records a timestamp on ``tp_btf/sched_wakeup`` and
``sched_wakeup_new`` (and on ``sched_switch`` for a preempted ``prev`` still
runnable), and on ``tp_btf/sched_switch`` computes ``now - start`` for ``next``
and adds ``log2l(delta_us)`` to a histogram.  Adapted: limited to one tgid
(``bpf.Const``) instead of the cgroup/pid options; the histogram is an array map;
the log2 is a loop in a plain (inlined) function.  tp_btf arguments that are
``struct task_struct *`` arrive as plain u64 today (and ``sched_wakeup``'s as
``arg0``), so ``pid``/``tgid`` are read with ``bpf_probe_read_kernel`` at offsets
taken from the kernel's BTF, as BCC did before BTF pointers.
"""

import pyebpf as bpf
from pyebpf import i32, u32, u64
from pyebpf.btf import BTF

PID_OFF = BTF.kernel().member_offset("task_struct", "pid")
TGID_OFF = BTF.kernel().member_offset("task_struct", "tgid")

MAX_SLOTS = 26
TASK_RUNNING = 0
TARG_TGID = bpf.Const(u32, 0)

start = bpf.HashMap(u32, u64, max_entries=10240)
hist = bpf.ArrayMap(u64, max_entries=MAX_SLOTS)
counts = bpf.ArrayMap(u64, max_entries=2)  # [0] wakeups recorded, [1] latencies added


def task_field(task, off):
    v = i32[1]()
    bpf.probe_read_kernel(v, task + off)
    return u32(v[0])


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
    p = u64(ctx.arg0)  # struct task_struct *p, as an address
    if task_field(p, TGID_OFF) != TARG_TGID:
        return 0
    start[task_field(p, PID_OFF)] = bpf.ktime_get_ns()
    counts.increment(0)
    return 0


@bpf.tp_btf("sched_switch")
def sched_switch(ctx) -> int:
    prev = u64(ctx.prev)
    if ctx.prev_state == TASK_RUNNING and task_field(prev, TGID_OFF) == TARG_TGID:
        start[task_field(prev, PID_OFF)] = bpf.ktime_get_ns()  # preempted: still runnable
    pid = task_field(u64(ctx.next), PID_OFF)
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
