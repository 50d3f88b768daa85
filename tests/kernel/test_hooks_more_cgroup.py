"""``@bpf.cgroup_sysctl``, ``@bpf.cgroup_sockopt`` and ``@bpf.cgroup_device`` on a fresh child cgroup.

Each test runs a child process that first moves itself into the cgroup, so
the programs only see what that child does; what it reports and what the
programs counted are both checked exactly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import char, i32, i64, u32

stats = bpf.ArrayMap(i64, max_entries=8)
SYSCTL_READS, SYSCTL_LEN, SYSCTL_DENIED, SNDBUF_SETS, SNDBUF_VALUE, DEVNULL, DEVNULL_W = range(7)

SOL_SOCKET, SO_SNDBUF, SO_RCVBUF, SO_PRIORITY = 1, 7, 8, 12
ACC_WRITE = 4  # BPF_DEVCG_ACC_WRITE, in the high 16 bits of access_type


@bpf.cgroup_sysctl
def sysctl_guard(ctx) -> int:
    name = char[32]()
    bpf.sysctl_get_name(ctx, name, 0)  # "net/ipv4/tcp_mem" (flags 0: the full path)
    if name.startswith(b"net/ipv4/tcp_mem") and ctx.write == 0:
        stats.increment(SYSCTL_READS)
        value = char[64]()
        stats[SYSCTL_LEN] = bpf.sysctl_get_current_value(ctx, value)
    if name.startswith(b"net/ipv4/ip_default_ttl"):
        stats.increment(SYSCTL_DENIED)
        return 0  # the read fails with EPERM
    return 1


@bpf.cgroup_sockopt("setsockopt")
def watch_setsockopt(ctx) -> int:
    if ctx.level == SOL_SOCKET and ctx.optname == SO_PRIORITY:
        return 0  # EPERM
    if ctx.level == SOL_SOCKET and ctx.optname == SO_SNDBUF:
        stats.increment(SNDBUF_SETS)
        v = ctx.header(i32[1], 0)
        if v is not None:
            stats[SNDBUF_VALUE] = v[0]
    return 1


@bpf.cgroup_sockopt("getsockopt")
def fake_rcvbuf(ctx) -> int:
    if ctx.level == SOL_SOCKET and ctx.optname == SO_RCVBUF:
        v = ctx.header(u32[1], 0)
        if v is not None:
            v[0] = 4242  # what getsockopt() returns to the caller
    return 1


@bpf.cgroup_device
def guard_devnull(ctx) -> int:
    if ctx.major == 1 and ctx.minor == 3:  # /dev/null
        stats.increment(DEVNULL)
        if (ctx.access_type >> 16) & ACC_WRITE:
            stats.increment(DEVNULL_W)
            return 0
    return 1


def run_in_cgroup(cg: Path, code: str) -> str:
    def enter() -> None:
        (cg / "cgroup.procs").write_text("0")

    done = subprocess.run([sys.executable, "-c", code], preexec_fn=enter, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _reset(prog: bpf.Program) -> None:
    prog.load()
    for k in range(8):
        stats[k] = 0


READ_SYSCTLS = """
import os
def read(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:
        return "EPERM"
    try:
        return os.read(fd, 4096).decode()   # one read() call: one program run
    except PermissionError:
        return "EPERM"
    finally:
        os.close(fd)
print(repr([read("/proc/sys/net/ipv4/tcp_mem"), read("/proc/sys/net/ipv4/tcp_mem"),
            read("/proc/sys/kernel/ostype"), read("/proc/sys/net/ipv4/ip_default_ttl")]))
"""


def test_cgroup_sysctl_sees_reads_and_denies(cgroup: Path) -> None:
    _reset(sysctl_guard)
    tcp_mem = Path("/proc/sys/net/ipv4/tcp_mem").read_text()
    with sysctl_guard.attach(cgroup=cgroup):
        out = eval(run_in_cgroup(cgroup, READ_SYSCTLS))
    assert out == [tcp_mem, tcp_mem, "Linux\n", "EPERM"]
    assert stats[SYSCTL_READS] == 2
    assert stats[SYSCTL_LEN] == len(tcp_mem)  # the text as /proc shows it, newline included
    assert stats[SYSCTL_DENIED] == 1
    # Detached: allowed again, nothing counted.
    assert "EPERM" not in run_in_cgroup(cgroup, READ_SYSCTLS)
    assert stats[SYSCTL_READS] == 2


SOCKOPTS = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for size in (65536, 70000, 81920):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
try:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, 3)
    prio = "ok"
except PermissionError:
    prio = "EPERM"
print(prio, s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
"""


def test_cgroup_sockopt_counts_denies_and_rewrites(cgroup: Path) -> None:
    _reset(watch_setsockopt)
    with watch_setsockopt.attach(cgroup=cgroup), fake_rcvbuf.attach(cgroup=cgroup):
        assert run_in_cgroup(cgroup, SOCKOPTS) == "EPERM 4242"
    assert stats[SNDBUF_SETS] == 3
    assert stats[SNDBUF_VALUE] == 81920
    prio, rcvbuf = run_in_cgroup(cgroup, SOCKOPTS).split()
    assert prio == "ok" and rcvbuf != "4242"
    assert stats[SNDBUF_SETS] == 3


OPEN_DEVICES = """
import os
out = []
for path, mode in (("/dev/null", os.O_RDONLY), ("/dev/null", os.O_WRONLY), ("/dev/zero", os.O_RDONLY)):
    try:
        os.close(os.open(path, mode))
        out.append("ok")
    except PermissionError:
        out.append("EPERM")
print(" ".join(out))
"""


def test_cgroup_device_counts_and_denies_writes(cgroup: Path) -> None:
    _reset(guard_devnull)
    with guard_devnull.attach(cgroup=cgroup) as link:
        assert link.info()["type"] == 3  # BPF_LINK_TYPE_CGROUP
        assert run_in_cgroup(cgroup, OPEN_DEVICES) == "ok EPERM ok"
    assert (stats[DEVNULL], stats[DEVNULL_W]) == (2, 1)
    assert run_in_cgroup(cgroup, OPEN_DEVICES) == "ok ok ok"


def test_cgroup_hooks_need_a_cgroup() -> None:
    with pytest.raises(bpf.AttachError, match=r"attach\(cgroup="):
        guard_devnull.attach()
    with pytest.raises(bpf.AttachError, match=r"take no ifname="):
        sysctl_guard.attach(ifname="lo")
    with pytest.raises(ValueError, match="getsockopt' or 'setsockopt"):
        bpf.cgroup_sockopt("sockopt")


def test_sockopt_fields_written_in_the_wrong_direction_are_compile_errors() -> None:
    @bpf.cgroup_sockopt("getsockopt")
    def bad(ctx) -> int:
        ctx.level = 1
        return 1

    with pytest.raises(bpf.CompileError) as ei:
        bad.compile()
    assert "test_hooks_more_cgroup.py:" in str(ei.value)
    assert "ctx.level = 1" in str(ei.value)

