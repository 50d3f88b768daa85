"""Ported from libbpf-tools/profile.bpf.c: sample stacks on a CPU clock perf event.

The original's ``perf_event`` program builds a key of pid, comm, and the user
and kernel stack ids from ``bpf_get_stackid`` and counts samples per key.
Adapted: limited to one tgid (``bpf.Const``), user stacks only (idle/kernel
filtering dropped), a 1 kHz software ``cpu-clock`` event.
"""

import pyebpf as bpf
from pyebpf import char, i64, u32, u64

TARG_TGID = bpf.Const(u32, 0)
BPF_F_USER_STACK = 1 << 8


class Key(bpf.Struct):
    pid: u32
    user_stack_id: i64
    name: char[16]


stackmap = bpf.StackTraceMap(1024)
counts = bpf.HashMap(Key, u64, max_entries=1024)


@bpf.perf_event(event="cpu-clock", sample_freq=1000)
def do_perf_event(ctx) -> int:
    pid = u32(bpf.get_current_pid_tgid() >> 32)
    if pid != TARG_TGID:
        return 0
    key = Key(pid=pid)
    key.user_stack_id = i64(bpf.get_stackid(ctx, stackmap, BPF_F_USER_STACK))
    bpf.get_current_comm(key.name)
    counts.increment(key)
    return 0
