"""Helpers from the generated table, called by compiled programs and checked against the kernel.

Raw tracepoint programs run by ``test_run`` execute in the calling thread, so the
task helpers (comm, pid, cgroup, task pointer) describe this very process; packet
helpers run through XDP, TC and socket filter ``test_run`` on a built packet.
"""

from __future__ import annotations

import os
import struct
import threading
import time

import pyebpf as bpf
from pyebpf import char, u8, u32, u64

EFAULT = 14
ERANGE = 34
CLOCK_MONOTONIC_COARSE = 6  # <linux/time.h>; the time module does not name it

# ---------------------------------------------------------------- task and time helpers

clocks = bpf.ArrayMap(u64, max_entries=16)


@bpf.raw_tracepoint("sys_enter")
def read_clocks(ctx) -> int:
    clocks[0] = bpf.ktime_get_ns()
    clocks[1] = bpf.ktime_get_boot_ns()
    clocks[2] = bpf.get_current_task()
    clocks[3] = bpf.ktime_get_tai_ns()
    clocks[4] = bpf.jiffies64()
    clocks[5] = bpf.get_smp_processor_id()
    clocks[6] = bpf.get_numa_node_id()
    clocks[7] = bpf.get_current_pid_tgid()
    clocks[8] = bpf.get_current_uid_gid()
    clocks[9] = bpf.get_current_cgroup_id()
    clocks[10] = bpf.get_prandom_u32()
    return 0


def _run_clocks() -> tuple[list[int], dict[str, tuple[int, int]]]:
    before = {c: time.clock_gettime_ns(getattr(time, c))
              for c in ("CLOCK_MONOTONIC", "CLOCK_BOOTTIME", "CLOCK_TAI")}
    assert read_clocks.test_run(ctx=struct.pack("<QQ", 0, 0)).retval == 0
    after = {c: time.clock_gettime_ns(getattr(time, c)) for c in before}
    return [clocks[i] for i in range(11)], {c: (before[c], after[c]) for c in before}


def _cgroup_id() -> int | None:
    """This process's cgroup v2 id: the inode number of its cgroup directory."""
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f if line.split()[2] == "cgroup2"]
    if not mounts:
        return None
    with open("/proc/self/cgroup") as f:
        path = next(line.split(":", 2)[2].strip() for line in f if line.startswith("0::"))
    return os.stat(mounts[0] + path).st_ino


def test_clock_and_task_helpers() -> None:
    values, windows = _run_clocks()
    ktime, boot, task, tai, jiffies, _cpu, _node, pid_tgid, uid_gid, cgroup, _rand = values
    lo, hi = windows["CLOCK_MONOTONIC"]
    assert lo <= ktime <= hi
    assert task != 0
    assert windows["CLOCK_BOOTTIME"][0] <= boot <= windows["CLOCK_BOOTTIME"][1]
    assert windows["CLOCK_TAI"][0] <= tai <= windows["CLOCK_TAI"][1]
    assert pid_tgid == os.getpid() << 32 | threading.get_native_id()
    assert uid_gid == os.getgid() << 32 | os.getuid()
    if _cgroup_id() is not None:  # cgroup v2 mounted somewhere
        assert cgroup == _cgroup_id()
    time.sleep(0.05)  # at least 5 ticks at HZ=100
    later, _ = _run_clocks()
    assert later[4] > jiffies
    read_clocks.close()


def test_cpu_numa_node_and_random() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    randoms = set()
    try:
        for cpu in cpus[:4]:
            # A raw tracepoint test run executes on the calling CPU: pin this thread.
            os.sched_setaffinity(0, {cpu})
            values, _ = _run_clocks()
            assert values[5] == cpu
            nodes = [n for n in os.listdir(f"/sys/devices/system/cpu/cpu{cpu}")
                     if n.startswith("node")]
            assert values[6] == (int(nodes[0][4:]) if nodes else 0)
            randoms.add(values[10])
    finally:
        os.sched_setaffinity(0, cpus)
    for _ in range(4):
        randoms.add(_run_clocks()[0][10])
    assert len(randoms) > 1 and all(r < 2**32 for r in randoms)
    read_clocks.close()


class CommOut(bpf.Struct):
    comm: char[16]
    ret: u64


comms = bpf.ArrayMap(CommOut, max_entries=1)


@bpf.raw_tracepoint("sys_enter")
def read_comm(ctx) -> int:
    buf = char[16]()
    ret = bpf.get_current_comm(buf)
    out = comms.lookup(0)
    if out is not None:
        out.comm = buf
        out.ret = u64(ret)
    return 0


def test_get_current_comm_is_this_process() -> None:
    with open("/proc/self/comm") as f:
        comm = f.read().rstrip("\n")
    assert read_comm.test_run(ctx=struct.pack("<QQ", 0, 0)).retval == 0
    got = comms[0]
    assert got.ret == 0
    assert got.comm == comm
    read_comm.close()


task_out = bpf.ArrayMap(u64, max_entries=8)
PIDNS = os.stat("/proc/self/ns/pid")
PIDNS_DEV = PIDNS.st_dev
PIDNS_INO = PIDNS.st_ino


class PidNsInfo(bpf.Struct):  # struct bpf_pidns_info
    pid: u32
    tgid: u32


@bpf.raw_tracepoint("sys_enter")
def read_task(ctx) -> int:
    task = bpf.get_current_task()
    task_out[0] = task
    word = u8[8]()
    task_out[1] = u64(bpf.probe_read_kernel(word, task))  # the task_struct is readable
    task_out[2] = u64(bpf.probe_read_kernel(word, 8))     # a bad address faults cleanly
    ns = PidNsInfo()
    task_out[3] = u64(bpf.get_ns_current_pid_tgid(PIDNS_DEV, PIDNS_INO, ns))
    task_out[4] = u64(ns.tgid) << 32 | ns.pid
    return 0


def test_task_pointer_probe_read_and_pid_namespace() -> None:
    assert read_task.test_run(ctx=struct.pack("<QQ", 0, 0)).retval == 0
    task = task_out[0]
    assert task != 0
    if os.uname().machine == "x86_64":
        assert task >= 0xFFFF_8000_0000_0000  # a kernel address
    assert task_out[1] == 0
    # -ERANGE where the kernel refuses user addresses outright (x86), else -EFAULT
    assert task_out[2] in (2**64 - ERANGE, 2**64 - EFAULT)
    assert task_out[3] == 0
    assert task_out[4] == os.getpid() << 32 | threading.get_native_id()
    read_task.close()


# ---------------------------------------------------------------- packet helpers


def _packet(payload: bytes = b"hello world!") -> bytes:
    eth = b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", 0x0800)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 1, 0, 64,
                     17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    udp = struct.pack("!HHHH", 1234, 4242, 8 + len(payload), 0)
    return eth + ip + udp + payload


def _fold(csum: int) -> int:
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    return csum


xdp_out = bpf.ArrayMap(u64, max_entries=4)


@bpf.xdp
def xdp_helpers(ctx) -> int:
    words = u32[2]()
    words[0] = 0x11223344
    words[1] = 0xAABBCCDD
    xdp_out[0] = u64(bpf.csum_diff(0, 0, words, 8, 0))
    xdp_out[1] = bpf.ktime_get_coarse_ns()  # not offered to tracing programs
    if bpf.xdp_adjust_tail(ctx, -4) != 0:
        return bpf.XDP_ABORTED
    return bpf.XDP_PASS


@bpf.xdp
def xdp_redirect(ctx) -> int:
    return bpf.redirect(1, 0)


@bpf.xdp
def xdp_redirect_bad_flags(ctx) -> int:
    return bpf.redirect(1, 8)


def test_xdp_csum_diff_adjust_tail_and_redirect() -> None:
    pkt = _packet()
    before = time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE)
    r = xdp_helpers.test_run(pkt)
    assert before <= xdp_out[1] <= time.clock_gettime_ns(CLOCK_MONOTONIC_COARSE)
    assert r.retval == bpf.XDP_PASS
    assert r.data == pkt[:-4]
    expected = _fold(sum(struct.unpack("<4H", struct.pack("<2I", 0x11223344, 0xAABBCCDD))))
    assert _fold(xdp_out[0]) == expected
    # bpf_redirect() in XDP: XDP_REDIRECT for valid flags, XDP_ABORTED for unknown ones.
    assert xdp_redirect.test_run(pkt).retval == bpf.XDP_REDIRECT
    assert xdp_redirect_bad_flags.test_run(pkt).retval == bpf.XDP_ABORTED
    for p in (xdp_helpers, xdp_redirect, xdp_redirect_bad_flags):
        p.close()


skb_out = bpf.ArrayMap(u64, max_entries=4)


@bpf.socket_filter
def skb_helpers(ctx) -> int:
    addr = u8[4]()
    if bpf.skb_load_bytes(ctx, 12, addr) != 0:  # the IPv4 source address
        return 0
    skb_out[0] = u64(addr[0]) << 24 | u64(addr[1]) << 16 | u64(addr[2]) << 8 | u64(addr[3])
    skb_out[1] = bpf.get_socket_cookie(ctx)
    return ctx.len


@bpf.tc(direction="ingress")
def tc_rewrite(ctx) -> int:
    marker = u8[4]()
    marker[0] = 0x50
    marker[1] = 0x59
    marker[2] = 0x42
    marker[3] = 0x50
    if bpf.skb_store_bytes(ctx, 42, marker, 0) != 0:  # the first payload bytes
        return bpf.TC_ACT_SHOT
    return bpf.TC_ACT_OK


def test_skb_load_bytes_socket_cookie_and_store_bytes() -> None:
    pkt = _packet()
    r = skb_helpers.test_run(pkt)
    assert r.retval == len(pkt) - 14  # a socket filter's skb starts at the network header
    assert skb_out[0] == 0x0A000001
    assert skb_out[1] != 0
    r = tc_rewrite.test_run(pkt)
    assert r.retval == bpf.TC_ACT_OK
    assert r.data == pkt[:42] + b"PYBP" + pkt[46:]
    skb_helpers.close()
    tc_rewrite.close()
