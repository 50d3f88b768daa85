"""2,000 load/attach/detach/close cycles leave no fd and no kernel program or link behind.

Other processes load BPF programs on this machine too, so the kernel-side
check follows only the ids this test created: each must be gone at the end.
"""

from __future__ import annotations

import errno
import os

import pytest

import pyebpf as bpf
from pyebpf import SyscallError, u64
from pyebpf._native import syscalls

# 2,000 cycles in all.  Closing a perf event that runs a program waits for an RCU
# tasks-trace grace period (~200 ms here), so the perf-event hooks get fewer cycles.
CYCLES = {"tracepoint": 20, "raw_tracepoint": 980, "tp_btf": 980, "uprobe": 20}

leak_counts = bpf.ArrayMap(u64, max_entries=2)


@bpf.tracepoint("syscalls/sys_enter_getppid")
def leak_tp(ctx) -> int:
    leak_counts.increment(0)
    return 0


@bpf.raw_tracepoint("sys_enter")
def leak_raw(ctx) -> int:
    return 0


@bpf.tp_btf("sys_enter")
def leak_btf(ctx) -> int:
    return 0


@bpf.uprobe("libc", "getppid")
def leak_uprobe(ctx) -> int:
    leak_counts.increment(1)
    return 0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _exists(get_fd, obj_id: int) -> bool:
    try:
        fd = get_fd(obj_id)
    except SyscallError as e:
        assert e.errno == errno.ENOENT
        return False
    syscalls.close(fd)
    return True


def _all_gone(get_fd, ids: set[int], timeout: float = 10.0) -> list[int]:
    """Ids still alive after ``timeout``: the kernel frees links and programs after an RCU
    grace period, so the last few may outlive their fds briefly."""
    import time

    deadline = time.monotonic() + timeout
    alive = sorted(ids)
    while alive and time.monotonic() < deadline:
        alive = [i for i in alive if _exists(get_fd, i)]
        if alive:
            time.sleep(0.05)
    return alive


@pytest.mark.parametrize("kind", list(CYCLES))
def test_cycles_leave_no_fd_no_program_no_link(kind: str) -> None:
    prog = {"tracepoint": leak_tp, "raw_tracepoint": leak_raw, "tp_btf": leak_btf,
            "uprobe": leak_uprobe}[kind]
    cycles = CYCLES[kind]
    prog.load()  # compile and create the maps once; the cycles then reload the program
    prog.close()
    before = _fds()
    prog_ids, link_ids = set(), set()
    for i in range(cycles):
        prog.load()
        prog_ids.add(prog.id)
        link = prog.attach(pid=os.getpid()) if prog is leak_uprobe else prog.attach()
        if link._fd is not None:
            link_ids.add(link.id)
        if i % 2:
            link.detach()
        else:
            link.close()
        prog.close()
    assert _fds() == before
    assert len(prog_ids) == cycles  # every cycle really loaded a new program
    assert _all_gone(syscalls.link_get_fd_by_id, link_ids) == []
    assert _all_gone(syscalls.prog_get_fd_by_id, prog_ids) == []


def test_cycle_total() -> None:
    assert sum(CYCLES.values()) == 2000


def test_failed_attach_leaves_no_fd() -> None:
    before = _fds()
    for _ in range(10):
        with pytest.raises(bpf.AttachError):
            bpf.uprobes.attach_uprobe(leak_uprobe.fd, "libc", "no_such_function_xyz")
        with pytest.raises(bpf.AttachError):
            bpf.links.attach_tracepoint(leak_raw.fd, "syscalls/sys_enter_getppid")  # wrong type
    leak_uprobe.close()
    leak_raw.close()
    assert _fds() == before
