"""Ported from libbpf-tools/opensnoop.bpf.c: trace openat() with its flags, result and file name.

The original saves the ``openat`` arguments in a hash map keyed by thread id on
``sys_enter_openat``, and on ``sys_exit_openat`` builds an event (pid, uid, flags,
ret, comm, file name read with ``bpf_probe_read_user_str``) sent through a perf
buffer.  Adapted: a ring buffer instead of the perf buffer; the pid filter
(``targ_tgid``) is a ``bpf.Const`` set at load; the file name pointer is kept in
the map and read at exit, as the original does.
"""

import pyebpf as bpf
from pyebpf import char, i32, i64, u32, u64

TARG_TGID = bpf.Const(u32, 0)


class Args(bpf.Struct):
    fname: u64
    flags: i32


class Event(bpf.Struct):
    pid: u32
    uid: u32
    flags: i32
    ret: i64
    comm: char[16]
    fname: char[64]


start = bpf.HashMap(u32, Args, max_entries=10240)
events = bpf.RingBuf(64 * 1024, event=Event)


@bpf.tracepoint("syscalls/sys_enter_openat")
def tracepoint__syscalls__sys_enter_openat(ctx) -> int:
    id = bpf.get_current_pid_tgid()
    if TARG_TGID != 0 and u32(id >> 32) != TARG_TGID:
        return 0
    start[u32(id)] = Args(fname=ctx.filename, flags=i32(ctx.flags))
    return 0


@bpf.tracepoint("syscalls/sys_exit_openat")
def tracepoint__syscalls__sys_exit_openat(ctx) -> int:
    id = bpf.get_current_pid_tgid()
    tid = u32(id)
    ap = start.lookup(tid)
    if ap is None:
        return 0
    e = events.reserve()
    if e is None:
        del start[tid]
        return 0
    e.pid = u32(id >> 32)
    e.uid = u32(bpf.get_current_uid_gid())
    e.flags = ap.flags
    e.ret = ctx.ret
    bpf.get_current_comm(e.comm)
    bpf.probe_read_user_str(e.fname, ap.fname)
    events.submit(e)
    del start[tid]
    return 0
