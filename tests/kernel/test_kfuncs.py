"""kfuncs: kernel functions called from programs, typed from the kernel's BTF."""

from __future__ import annotations

import os

import pytest

import pyebpf as bpf
from pyebpf import u64

task_from_pid = bpf.kfunc("bpf_task_from_pid")
task_release = bpf.kfunc("bpf_task_release")
rcu_lock = bpf.kfunc("bpf_rcu_read_lock")
rcu_unlock = bpf.kfunc("bpf_rcu_read_unlock")
no_such = bpf.kfunc("bpf_no_such_kfunc_here")

found = bpf.ArrayMap(u64, max_entries=4)
ME = os.getpid()


@bpf.tc
def lookup_task(ctx) -> int:
    t = task_from_pid(ME)  # an acquired reference, or None
    if t is None:
        found[0] = 0
        return 0
    found[0] = u64(t.tgid)
    found[1] = u64(t.real_parent.tgid)
    task_release(t)  # the verifier insists every acquired reference is released
    return 0


@bpf.socket_filter
def rcu_section(ctx) -> int:
    rcu_lock()
    found[2] = 7
    rcu_unlock()
    return 0


def test_acquire_and_release_a_task() -> None:
    lookup_task.test_run(b"\0" * 64)
    assert found[0] == os.getpid()
    assert found[1] == os.getppid()
    lookup_task.close()


def test_void_kfuncs() -> None:
    rcu_section.test_run(b"\0" * 64)
    assert found[2] == 7
    rcu_section.close()


@bpf.tc
def leaks_reference(ctx) -> int:
    t = task_from_pid(ME)
    if t is None:
        return 0
    return 0


def test_leaked_reference_is_a_verifier_error_at_the_python_line() -> None:
    with pytest.raises(bpf.VerifierError) as info:
        leaks_reference.load()
    assert "Unreleased reference" in info.value.reason or "reference" in info.value.log


@bpf.socket_filter
def calls_missing(ctx) -> int:
    no_such()
    return 0


def test_missing_kfunc_is_a_compile_error() -> None:
    with pytest.raises(bpf.CompileError, match="bpf_no_such_kfunc_here"):
        calls_missing.compile()
