"""tracefs on this kernel's real tracepoints."""

import os

import pytest

from pyebpf import tracefs
from pyebpf.errors import AttachError

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="needs root and a BPF-capable kernel (kernel test)"
    ),
]


def test_root_is_mounted():
    r = tracefs.root()
    assert (r / "events").is_dir()
    assert tracefs.find_mount("tracefs") is not None


def test_event_ids_are_distinct_positive_ints():
    a = tracefs.event_id("syscalls", "sys_enter_getpid")
    b = tracefs.event_id("syscalls", "sys_enter_getppid")
    assert a > 0 and b > 0 and a != b


def test_sys_enter_getpid_format():
    fields = tracefs.event_format("syscalls", "sys_enter_getpid")
    names = [f.name for f in fields]
    assert names[:4] == ["common_type", "common_flags", "common_preempt_count", "common_pid"]
    assert names[4:] == ["__syscall_nr"]
    assert fields[4].offset == 8 and fields[4].size == 4 and fields[4].signed


def test_sys_enter_openat_format():
    fields = {f.name: f for f in tracefs.event_format("syscalls", "sys_enter_openat")}
    assert {"dfd", "filename", "flags", "mode"} <= set(fields)
    assert fields["filename"].c_type == "const char *"
    assert fields["filename"].offset == 24 and fields["filename"].size == 8


def test_sched_process_exec_has_a_data_loc_filename():
    fields = {f.name: f for f in tracefs.event_format("sched", "sched_process_exec")}
    fn = fields["filename"]
    assert fn.is_data_loc and fn.size == 4 and fn.c_type == "char"
    assert fields["pid"].size == 4 and not fields["pid"].is_common


def test_missing_tracepoint_suggests_close_names():
    with pytest.raises(AttachError, match="no tracepoint syscalls/sys_enter_getpidd.*sys_enter_getpid"):
        tracefs.event_id("syscalls", "sys_enter_getpidd")
    with pytest.raises(AttachError, match="no tracepoint nosuchcat/x"):
        tracefs.event_format("nosuchcat", "x")


def test_bpffs_root_is_mounted():
    assert tracefs.find_mount("bpf") == tracefs.bpffs_root()
