"""Kernel structs typed from the running kernel's BTF, read through BTF pointers."""

from __future__ import annotations

import os

import pytest

import pyebpf as bpf
from pyebpf import u64
from pyebpf.btf import BTF

ids = bpf.ArrayMap(u64, max_entries=4)
ME = os.getpid()


@bpf.tracepoint("syscalls/sys_enter_getppid")
def family(ctx) -> int:
    task = bpf.get_current_task_btf()
    if task.tgid != ME:
        return 0
    ids[0] = u64(task.pid)
    ids[1] = u64(task.real_parent.tgid)
    comm = task.comm
    ids[2] = 1 if comm == COMM else 2
    return 0


with open("/proc/self/comm", "rb") as _f:
    COMM = _f.read().strip()[:15]


def test_task_struct_fields_match_the_process() -> None:
    with family.attach():
        os.getppid()
    assert ids[0] == os.getpid()  # the main thread: pid == tgid
    assert ids[1] == os.getppid()
    assert ids[2] == 1
    family.close()


def test_kernel_struct_layout_comes_from_btf() -> None:
    task = bpf.kernel.task_struct
    f = task.field("pid")
    assert f is not None and f.type == bpf.i32
    assert f.offset == BTF.kernel().member_offset("task_struct", "pid")
    with pytest.raises(AttributeError, match="no struct or union"):
        _ = bpf.kernel.no_such_struct_here


@bpf.tracepoint("syscalls/sys_enter_getppid")
def bad_member(ctx) -> int:
    task = bpf.get_current_task_btf()
    return task.no_such_member


def test_unknown_member_is_a_compile_error() -> None:
    with pytest.raises(bpf.CompileError, match="no member `no_such_member`"):
        bad_member.compile()


probed = bpf.ArrayMap(u64, max_entries=4)


@bpf.raw_tracepoint("sys_enter")
def probe_reads(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != ME:
        return 0
    # bpf_get_current_task() is a plain address here: fields go through probe_read_kernel.
    task = bpf.kernel.task_struct(bpf.get_current_task())
    probed[0] = u64(task.tgid)
    probed[1] = u64(task.real_parent.tgid)  # a pointer read this way is followed the same way
    comm = task.comm  # an array: copied to the stack
    probed[2] = 1 if comm == COMM else 2
    return 0


def test_untrusted_kernel_pointers_read_with_probe_read() -> None:
    with probe_reads.attach():
        os.getppid()
    assert probed[0] == os.getpid()
    assert probed[1] == os.getppid()
    assert probed[2] == 1
    probe_reads.close()
