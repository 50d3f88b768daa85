"""Ported from libbpf-tools/execsnoop.bpf.c: trace execve() with its file name, an argument and result.

The original stores an event per pid in a hash map on ``sys_enter_execve``
(pid, ppid from ``task->real_parent->tgid``, uid, the argv strings read one by one
with ``bpf_probe_read_user_str``), fills ``retval`` and the new comm on
``sys_exit_execve``, and outputs it.  Adapted: only ``argv[1]`` is kept (not the
whole argv); the filter is "children of ``PARENT``" (a ``bpf.Const``) instead of
uid/cgroup filters; output through a ring buffer.
"""

import pyebpf as bpf
from pyebpf import char, i64, u32, u64

PARENT = bpf.Const(u32, 0)


class Event(bpf.Struct):
    pid: u32
    ppid: u32
    retval: i64
    comm: char[16]
    filename: char[64]
    arg1: char[32]


execs = bpf.HashMap(u32, Event, max_entries=1024)
events = bpf.RingBuf(64 * 1024, event=Event)


@bpf.tracepoint("syscalls/sys_enter_execve")
def tracepoint__syscalls__sys_enter_execve(ctx) -> int:
    task = bpf.get_current_task_btf()
    ppid = u32(task.real_parent.tgid)
    if ppid != PARENT:
        return 0
    pid = u32(bpf.get_current_pid_tgid() >> 32)
    e = Event(pid=pid, ppid=ppid)
    bpf.probe_read_user_str(e.filename, ctx.filename)
    argp = u64[1]()
    if bpf.probe_read_user(argp, ctx.argv + 8) == 0 and argp[0] != 0:
        bpf.probe_read_user_str(e.arg1, argp[0])
    execs[pid] = e
    return 0


@bpf.tracepoint("syscalls/sys_exit_execve")
def tracepoint__syscalls__sys_exit_execve(ctx) -> int:
    pid = u32(bpf.get_current_pid_tgid() >> 32)
    e = execs.lookup(pid)
    if e is None:
        return 0
    e.retval = ctx.ret
    bpf.get_current_comm(e.comm)
    events.output(e[0])
    del execs[pid]
    return 0
