"""Ported from libbpf-tools/mountsnoop.bpf.c: trace mount() with its source, target, type and result.

The original saves the mount arguments by tid on ``sys_enter_mount`` and on
``sys_exit_mount`` reads the strings (``bpf_probe_read_user_str``) into an event
with the flags, return value, pid, tid, mnt namespace and comm.  Adapted: no
umount pair and no mount-namespace id; ring buffer output; ``bpf.Const`` tgid
filter.
"""

import pyebpf as bpf
from pyebpf import char, i64, u32, u64

TARG_TGID = bpf.Const(u32, 0)


class Arg(bpf.Struct):
    ts: u64
    flags: u64
    src: u64
    dest: u64
    fs: u64


class Event(bpf.Struct):
    delta: u64
    flags: u64
    pid: u32
    tid: u32
    ret: i64
    comm: char[16]
    fs: char[16]
    src: char[32]
    dest: char[64]


args = bpf.HashMap(u32, Arg, max_entries=1024)
events = bpf.RingBuf(64 * 1024, event=Event)


@bpf.tracepoint("syscalls/sys_enter_mount")
def mount_entry(ctx) -> int:
    id = bpf.get_current_pid_tgid()
    if u32(id >> 32) != TARG_TGID:
        return 0
    args[u32(id)] = Arg(ts=bpf.ktime_get_ns(), flags=ctx.flags, src=ctx.dev_name,
                        dest=ctx.dir_name, fs=ctx.type)
    return 0


@bpf.tracepoint("syscalls/sys_exit_mount")
def mount_exit(ctx) -> int:
    id = bpf.get_current_pid_tgid()
    tid = u32(id)
    a = args.lookup(tid)
    if a is None:
        return 0
    e = events.reserve()
    if e is None:
        del args[tid]
        return 0
    e.delta = bpf.ktime_get_ns() - a.ts
    e.flags = a.flags
    e.pid = u32(id >> 32)
    e.tid = tid
    e.ret = i64(ctx.ret)
    bpf.get_current_comm(e.comm)
    bpf.probe_read_user_str(e.fs, a.fs)
    bpf.probe_read_user_str(e.src, a.src)
    bpf.probe_read_user_str(e.dest, a.dest)
    events.submit(e)
    del args[tid]
    return 0
