"""Ported from libbpf-tools/statsnoop.bpf.c: trace stat-family syscalls with path and result.

The original has one enter/exit pair per syscall (statfs, newstat, statx,
newfstatat, newlstat) sharing ``probe_entry`` (save the path pointer by tid) and
``probe_return`` (read the path, emit pid, ret, path).  Adapted: the newfstatat
and statx pairs (what glibc's stat() uses today) sharing two inlined plain
functions; ring buffer output; ``bpf.Const`` tgid filter.
"""

import pyebpf as bpf
from pyebpf import char, i64, u32, u64

TARG_TGID = bpf.Const(u32, 0)
SYS_NEWFSTATAT = 1
SYS_STATX = 2


class Event(bpf.Struct):
    pid: u32
    which: u32
    ret: i64
    pathname: char[64]


class Entry(bpf.Struct):
    path: u64
    which: u32


values = bpf.HashMap(u32, Entry, max_entries=1024)
events = bpf.RingBuf(64 * 1024, event=Event)


def probe_entry(pathname, which):
    id = bpf.get_current_pid_tgid()
    if u32(id >> 32) != TARG_TGID:
        return 0
    values[u32(id)] = Entry(path=pathname, which=which)
    return 0


def probe_return(ret):
    id = bpf.get_current_pid_tgid()
    tid = u32(id)
    entry = values.lookup(tid)
    if entry is None:
        return 0
    e = events.reserve()
    if e is None:
        del values[tid]
        return 0
    e.pid = u32(id >> 32)
    e.which = entry.which
    e.ret = ret
    bpf.probe_read_user_str(e.pathname, entry.path)
    events.submit(e)
    del values[tid]
    return 0


@bpf.tracepoint("syscalls/sys_enter_newfstatat")
def handle_newfstatat_entry(ctx) -> int:
    return probe_entry(ctx.filename, u32(SYS_NEWFSTATAT))


@bpf.tracepoint("syscalls/sys_exit_newfstatat")
def handle_newfstatat_return(ctx) -> int:
    return probe_return(i64(ctx.ret))


@bpf.tracepoint("syscalls/sys_enter_statx")
def handle_statx_entry(ctx) -> int:
    return probe_entry(ctx.filename, u32(SYS_STATX))


@bpf.tracepoint("syscalls/sys_exit_statx")
def handle_statx_return(ctx) -> int:
    return probe_return(i64(ctx.ret))
