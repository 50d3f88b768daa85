"""Ported from libbpf-tools/killsnoop.bpf.c: trace kill() with target, signal and result.

The original saves ``{pid, tpid, sig, comm}`` in a hash map keyed by tid on
``sys_enter_kill`` and emits it with ``ret`` on ``sys_exit_kill`` (perf buffer).
Adapted: a ``bpf.Const`` tgid filter; ring buffer output.
"""

import pyebpf as bpf
from pyebpf import char, i32, i64, u32

TARG_TGID = bpf.Const(u32, 0)


class Event(bpf.Struct):
    pid: u32
    tpid: i32
    sig: i32
    ret: i32
    comm: char[16]


values = bpf.HashMap(u32, Event, max_entries=1024)
events = bpf.RingBuf(64 * 1024, event=Event)


@bpf.tracepoint("syscalls/sys_enter_kill")
def kill_entry(ctx) -> int:
    pid_tgid = bpf.get_current_pid_tgid()
    pid = u32(pid_tgid >> 32)
    if pid != TARG_TGID:
        return 0
    e = Event(pid=pid, tpid=i32(ctx.pid), sig=i32(ctx.sig))
    bpf.get_current_comm(e.comm)
    values[u32(pid_tgid)] = e
    return 0


@bpf.tracepoint("syscalls/sys_exit_kill")
def kill_exit(ctx) -> int:
    tid = u32(bpf.get_current_pid_tgid())
    e = values.lookup(tid)
    if e is None:
        return 0
    e.ret = i32(i64(ctx.ret))
    events.output(e[0])
    del values[tid]
    return 0
