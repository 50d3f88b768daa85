"""Quick start: count getpid() calls per process with a tracepoint program.

Run as root (or with CAP_BPF + CAP_PERFMON):

    sudo .venv/bin/python docs/examples/quickstart.py

The program below is compiled from Python to eBPF in this process, loaded
into the kernel, and attached to the ``syscalls/sys_enter_getpid``
tracepoint.  This script then calls getpid() itself a few times and prints
the map the kernel program filled: process id -> number of calls.
"""

import os

import pyebpf as bpf
from pyebpf import u32, u64

CALLS = 5

counts = bpf.HashMap(u32, u64, max_entries=10240)  # declared once, used on both sides


@bpf.tracepoint("syscalls/sys_enter_getpid")
def on_getpid(ctx) -> int:
    pid = u32(bpf.get_current_pid_tgid() >> 32)  # the upper half is the process id (tgid)
    counts.increment(pid)  # lookup-or-insert, then an atomic add
    return 0


def main() -> None:
    with on_getpid.attach():  # compile -> load -> attach; detaches when the block ends
        for _ in range(CALLS):
            os.getpid()  # each call enters the kernel (glibc does not cache the pid)
        seen = dict(counts.items())  # typed: int pid -> int count

    me = os.getpid()
    print(f"{'pid':>8}  {'getpid() calls':>14}")
    for pid, n in sorted(seen.items()):
        print(f"{pid:>8}  {n:>14}{'  <- this script' if pid == me else ''}")
    if seen.get(me) != CALLS:
        raise SystemExit(f"expected {CALLS} calls from pid {me}, saw {seen.get(me, 0)}")


if __name__ == "__main__":
    main()
