"""Ported from libbpf-tools/exitsnoop.bpf.c: trace process exits with their exit code.

The original attaches to ``sched/sched_process_exit``, skips thread exits
(``pid != tid``) unless asked, and emits pid, ppid, exit code (``task->exit_code``),
start time and comm.  Adapted: the filter is "children of ``PARENT``" (a
``bpf.Const``); the exit code's status byte and signal are split for the test;
ring buffer output.
"""

import pyebpf as bpf
from pyebpf import char, u32, u64

PARENT = bpf.Const(u32, 0)


class Event(bpf.Struct):
    pid: u32
    tid: u32
    ppid: u32
    exit_code: u32
    sig: u32
    start_time: u64
    exit_time: u64
    comm: char[16]


events = bpf.RingBuf(64 * 1024, event=Event)


@bpf.tracepoint("sched/sched_process_exit")
def sched_process_exit(ctx) -> int:
    pid_tgid = bpf.get_current_pid_tgid()
    pid = u32(pid_tgid >> 32)
    tid = u32(pid_tgid)
    if pid != tid:
        return 0  # a thread, not the whole process
    task = bpf.get_current_task_btf()
    ppid = u32(task.real_parent.tgid)
    if ppid != PARENT:
        return 0
    e = events.reserve()
    if e is None:
        return 0
    e.pid = pid
    e.tid = tid
    e.ppid = ppid
    code = u32(task.exit_code)
    e.exit_code = (code >> 8) & 0xFF
    e.sig = code & 0x7F
    e.start_time = task.start_time
    e.exit_time = bpf.ktime_get_ns()
    bpf.get_current_comm(e.comm)
    events.submit(e)
    return 0
