"""Example for the CLI and cache tests: count getpid() calls per process."""

import pyebpf as bpf
from pyebpf import u32, u64

counts = bpf.HashMap(u32, u64, max_entries=1024)


@bpf.tracepoint("syscalls/sys_enter_getpid")
def count_getpid(ctx) -> int:
    pid = u32(bpf.get_current_pid_tgid() >> 32)
    counts.increment(pid)
    return 0
