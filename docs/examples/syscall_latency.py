"""syscall_latency: a log2 histogram of how long one system call takes.

    sudo .venv/bin/python docs/examples/syscall_latency.py [--syscall read] [--pid PID] [--duration S]

Two tracepoints bracket the call: ``syscalls/sys_enter_<name>`` stores the
entry time per thread (key: tid), ``syscalls/sys_exit_<name>`` takes the
difference and counts it into the ``bpf.log2`` slot of the latency in
microseconds.  The histogram is printed when tracing stops (Ctrl-C or
``--duration``).  ``--pid`` keeps one process (all its threads).
"""

import argparse
import contextlib
import os
import signal
import time

import pyebpf as bpf
from pyebpf import u32, u64

TARGET_PID = bpf.Const(u32, 0)  # 0: every process; set at load time from --pid

starts = bpf.HashMap(u32, u64, max_entries=10240)  # tid -> entry time (ns)
usecs = bpf.HashMap(u32, u64, max_entries=64)  # log2 slot -> count


# The tracepoints depend on --syscall, so these two get their decorators in main().
def on_enter(ctx) -> int:
    pid_tgid = bpf.get_current_pid_tgid()
    if TARGET_PID != 0 and u32(pid_tgid >> 32) != TARGET_PID:
        return 0
    starts[u32(pid_tgid)] = bpf.ktime_get_ns()  # the low half is the thread id
    return 0


def on_exit(ctx) -> int:
    tid = u32(bpf.get_current_pid_tgid())
    start = starts.lookup(tid)
    if start is None:  # entered before we attached, or another process
        return 0
    delta_us = (bpf.ktime_get_ns() - start[0]) // 1000
    del starts[tid]
    usecs.increment(bpf.log2(delta_us))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--syscall", default="read", help="system call name (default: read)")
    parser.add_argument("--pid", type=int, default=0, help="trace only this process")
    parser.add_argument("--duration", type=float, help="stop after S seconds (default: Ctrl-C)")
    args = parser.parse_args()
    if not os.path.isdir(f"/sys/kernel/tracing/events/syscalls/sys_enter_{args.syscall}"):
        parser.error(f"no tracepoint syscalls/sys_enter_{args.syscall}: unknown system call?")

    enter = bpf.tracepoint(f"syscalls/sys_enter_{args.syscall}")(on_enter)
    exit_ = bpf.tracepoint(f"syscalls/sys_exit_{args.syscall}")(on_exit)
    who = f"pid {args.pid}" if args.pid else "all processes"
    with bpf.load(enter, exit_, constants={"TARGET_PID": args.pid}):  # one object, shared maps
        with exit_.attach(), enter.attach():
            print(f"Tracing {args.syscall}() latency for {who}... Ctrl-C to stop.", flush=True)
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends the wait
                if args.duration:
                    time.sleep(args.duration)
                else:
                    signal.pause()
        print()
        if len(usecs) == 0:
            print(f"no {args.syscall}() calls completed")
        else:
            usecs.print_log2_hist("usecs")


if __name__ == "__main__":
    main()
