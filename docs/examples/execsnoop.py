"""execsnoop: print every exec on the machine as it happens (like BCC's execsnoop).

    sudo .venv/bin/python docs/examples/execsnoop.py [--duration S]

A tracepoint on ``syscalls/sys_enter_execve`` fills one typed event per call
in a ring buffer: the caller's pid, its parent's pid, its comm (the name
*before* the exec) and the file name passed to execve().  Python polls the
ring and prints a line per event.  Stop with Ctrl-C or ``--duration``.
"""

import argparse
import time

import pyebpf as bpf
from pyebpf import char, u32


class Event(bpf.Struct):
    pid: u32
    ppid: u32
    comm: char[16]
    filename: char[256]


events = bpf.RingBuf(256 * 1024, event=Event)


@bpf.tracepoint("syscalls/sys_enter_execve")
def on_execve(ctx) -> int:
    e = events.reserve()
    if e is None:  # ring full: the event is dropped
        return 0
    task = bpf.get_current_task_btf()
    e.pid = u32(task.tgid)
    e.ppid = u32(task.real_parent.tgid)
    bpf.get_current_comm(e.comm)
    # ctx.filename is a user-space pointer: copy the string (truncated to 255 bytes).
    bpf.probe_read_user_str(e.filename, ctx.filename)
    events.submit(e)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, help="stop after S seconds (default: Ctrl-C)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.duration if args.duration else float("inf")

    with on_execve.attach():
        print(f"{'PID':>7} {'PPID':>7} {'COMM':<16} FILENAME", flush=True)
        try:
            while (left := deadline - time.monotonic()) > 0:
                for ev in events.poll(timeout=min(left, 1.0)):
                    print(f"{ev.pid:>7} {ev.ppid:>7} {ev.comm:<16} {ev.filename}", flush=True)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
