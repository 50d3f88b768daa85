"""Every attach function, triggered for real: programs written as raw instructions count
into an array map, so each test checks exactly how often its program ran."""

import os
import socket
import uuid
from pathlib import Path

import pytest

from pyebpf import links as L
from pyebpf import maps as M
from pyebpf import tracefs
from pyebpf._native import syscalls as sc
from pyebpf.constants import AttachType, LinkType, ProgramType
from pyebpf.errors import AttachError
from pyebpf.types import u64

from . import asm
from .netns import VethPair

XDP_PASS, XDP_DROP, TC_ACT_OK = 2, 1, 0
GET_CURRENT_PID_TGID = 14
NR_GETPPID = {"x86_64": 110, "aarch64": 173}.get(os.uname().machine)
PORT = 4242


# --------------------------------------------------------------------------- tiny programs


def _atomic_add64(dst: int, src: int, off: int) -> bytes:
    """``lock *(u64 *)(dst + off) += src`` (BPF_STX | BPF_ATOMIC | BPF_DW, imm BPF_ADD)."""
    return asm.insn(asm.BPF_STX | 0xC0 | asm.BPF_DW, dst, src, off, imm=asm.BPF_ADD)


def _assemble(*items):
    """Instructions, with ``("jne"|"jgt_reg", reg, operand, label)`` jumps and ``"label:"`` marks."""
    flat, labels = [], {}
    for item in items:
        if isinstance(item, str):
            labels[item.rstrip(":")] = sum(len(i) // 8 for i in flat if isinstance(i, bytes)) + sum(
                1 for i in flat if isinstance(i, tuple)
            )
        else:
            flat.append(item)
    out, pos = [], 0
    for item in flat:
        if isinstance(item, tuple):
            kind, reg, operand, label = item
            off = labels[label] - pos - 1
            if kind == "jne":
                out.append(asm.jne_imm(reg, operand, off))
            else:  # jgt_reg
                out.append(asm.insn(asm.BPF_JMP | 0x20 | asm.BPF_X, reg, operand, off))
            pos += 1
        else:
            out.append(item)
            pos += len(item) // 8
    return b"".join(out)


def _count(map_fd, slot):
    """counts[slot] += 1 (array map lookup, then an atomic add)."""
    return [
        asm.st_imm(4, asm.R10, -4, slot),
        asm.mov64_reg(asm.R2, asm.R10),
        asm.add64_imm(asm.R2, -4),
        asm.ld_map_fd(asm.R1, map_fd),
        asm.call(asm.MAP_LOOKUP_ELEM),
        ("jne", asm.R0, 0, "add"),
        asm.ja(2),
        "add:",
        asm.mov64_imm(asm.R1, 1),
        _atomic_add64(asm.R0, asm.R1, 0),
    ]


def _load(prog_type, insns):
    return sc.prog_load(prog_type, insns, "GPL", name="pyebpf_test").fd


def udp_counter(prog_type, map_fd, slot=0, retval=XDP_PASS, port=PORT):
    """Count IPv4/UDP packets to ``port`` (XDP: xdp_md data at 0/4; tc: __sk_buff data at 76/80)."""
    data_off, end_off = (0, 4) if prog_type == ProgramType.XDP else (76, 80)
    R1, R2, R3, R4, R5 = asm.R1, asm.R2, asm.R3, asm.R4, asm.R5
    insns = _assemble(
        asm.ldx(4, R2, R1, data_off),
        asm.ldx(4, R3, R1, end_off),
        asm.mov64_reg(R4, R2),
        asm.add64_imm(R4, 14 + 20 + 8),
        ("jgt_reg", R4, R3, "out"),
        asm.ldx(2, R5, R2, 12),
        ("jne", R5, 0x0008, "out"),  # ETH_P_IP, big endian
        asm.ldx(1, R5, R2, 23),
        ("jne", R5, 17, "out"),  # IPPROTO_UDP
        asm.ldx(2, R5, R2, 36),
        ("jne", R5, socket.htons(port), "out"),
        *_count(map_fd, slot),
        "out:",
        asm.mov64_imm(asm.R0, retval),
        asm.exit_(),
    )
    return _load(prog_type, insns)


def always_counter(prog_type, map_fd, slot=0, retval=0):
    return _load(prog_type, _assemble(*_count(map_fd, slot), asm.mov64_imm(asm.R0, retval),
                                      asm.exit_()))


def own_process_counter(prog_type, map_fd, slot=0, syscall_nr=None):
    """Count events of this process (tgid); raw sys_enter: only syscall ``syscall_nr``."""
    body = [
        asm.mov64_reg(asm.R6, asm.R1),
        asm.call(GET_CURRENT_PID_TGID),
        asm.insn(asm.BPF_ALU64 | 0x70 | asm.BPF_K, asm.R0, imm=32),  # r0 >>= 32
        ("jne", asm.R0, os.getpid(), "out"),
    ]
    if syscall_nr is not None:  # bpf_raw_tracepoint_args: args[1] is the syscall number
        body += [asm.ldx(8, asm.R2, asm.R6, 8), ("jne", asm.R2, syscall_nr, "out")]
    body += [*_count(map_fd, slot), "out:", asm.mov64_imm(asm.R0, 0), asm.exit_()]
    return _load(prog_type, _assemble(*body))


class Prog:
    """A loaded program fd with ``.fd``, closed by the fixture."""

    def __init__(self, fd):
        self.fd = fd


@pytest.fixture
def counts():
    with M.ArrayMap(u64, 4, name="t_link_counts").create() as m:
        yield m


@pytest.fixture
def progs():
    opened = []

    def make(fd):
        opened.append(fd)
        return Prog(fd)

    yield make
    for fd in opened:
        sc.close(fd)


@pytest.fixture
def net():
    with VethPair() as pair:
        yield pair


# --------------------------------------------------------------------------- XDP


def test_xdp_counts_exactly_the_udp_datagrams(net, counts, progs):
    prog = progs(udp_counter(ProgramType.XDP, counts.fd))
    with L.attach_xdp(prog, ifname="veth0", mode="generic", netns=net.ns_b) as link:
        assert link.info()["type"] == LinkType.XDP
        assert net.send_udp(7, PORT) == 7
        assert counts[0] == 7
    assert net.send_udp(3, PORT) == 3
    assert counts[0] == 7, "closing the link detaches the program"


def test_xdp_native_mode_on_veth_and_drop_enforced(net, counts, progs):
    prog = progs(udp_counter(ProgramType.XDP, counts.fd, retval=XDP_DROP))
    with L.attach_xdp(prog.fd, ifindex=net.ifindex(net.ns_b), netns=net.ns_b):
        assert net.send_udp(4, PORT) == 0
        assert counts[0] == 4
    assert net.send_udp(2, PORT) == 2


def test_xdp_link_update_replaces_the_program(net, counts, progs):
    first = progs(udp_counter(ProgramType.XDP, counts.fd, slot=0))
    second = progs(udp_counter(ProgramType.XDP, counts.fd, slot=1))
    with L.attach_xdp(first, "veth0", mode="generic", netns=net.ns_b) as link:
        net.send_udp(2, PORT)
        link.update(second)
        assert link.info()["prog_id"] == sc.prog_info(second.fd)["id"]
        net.send_udp(3, PORT)
    assert (counts[0], counts[1]) == (2, 3)


def test_xdp_errors(net, progs, counts):
    prog = progs(udp_counter(ProgramType.XDP, counts.fd))
    with pytest.raises(AttachError, match="no network interface 'nope0'"):
        L.attach_xdp(prog, "nope0", netns=net.ns_a)
    with pytest.raises(AttachError, match="no network namespace"):
        L.attach_xdp(prog, "veth0", netns=f"missing-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ValueError, match="XDP mode"):
        L.attach_xdp(prog, "veth0", mode="turbo")
    with L.attach_xdp(prog, "veth0", mode="generic", netns=net.ns_a), pytest.raises(
        AttachError, match="already attached"
    ):
        L.attach_xdp(prog, "veth0", mode="generic", netns=net.ns_a)


def test_link_pin_and_from_pinned(net, counts, progs):
    prog = progs(udp_counter(ProgramType.XDP, counts.fd))
    path = tracefs.bpffs_root() / f"pyebpf_link_{uuid.uuid4().hex[:8]}"
    link = L.attach_xdp(prog, "veth0", mode="generic", netns=net.ns_b)
    try:
        assert link.pin(path) == path
        link.close()  # the pin keeps it attached
        assert net.send_udp(2, PORT) == 2 and counts[0] == 2
        again = L.Link.from_pinned(path)
        assert again.info()["prog_id"] == sc.prog_info(prog.fd)["id"]
        again.detach()  # really detaches although the pin remains
        assert net.send_udp(2, PORT) == 2 and counts[0] == 2
    finally:
        Path(path).unlink(missing_ok=True)


# --------------------------------------------------------------------------- tcx


@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_tcx(net, counts, progs, direction):
    prog = progs(udp_counter(ProgramType.SCHED_CLS, counts.fd, retval=TC_ACT_OK))
    # ingress: on B's end, which receives; egress: on A's end, which sends
    ns = net.ns_b if direction == "ingress" else net.ns_a
    with L.attach_tcx(prog, "veth0", direction=direction, netns=ns) as link:
        assert link.info()["type"] == LinkType.TCX
        assert link.info()["attach_type"] == (
            AttachType.TCX_INGRESS if direction == "ingress" else AttachType.TCX_EGRESS
        )
        assert net.send_udp(5, PORT) == 5
        assert counts[0] == 5
    net.send_udp(1, PORT)
    assert counts[0] == 5


def test_tcx_ordering(net, counts, progs):
    a = progs(udp_counter(ProgramType.SCHED_CLS, counts.fd, slot=0, retval=TC_ACT_OK))
    b = progs(udp_counter(ProgramType.SCHED_CLS, counts.fd, slot=1, retval=TC_ACT_OK))
    with L.attach_tcx(a, "veth0", netns=net.ns_b), L.attach_tcx(
        b, "veth0", netns=net.ns_b, before=a
    ):
        # TC_ACT_OK ends the chain: the program placed first sees every packet, the other none
        net.send_udp(3, PORT)
        assert (counts[0], counts[1]) == (0, 3)


# --------------------------------------------------------------------------- socket filter


def test_socket_filter_on_loopback_udp(counts, progs):
    prog = progs(always_counter(ProgramType.SOCKET_FILTER, counts.fd, retval=-1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ) as tx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(2)
        with L.attach_socket_filter(prog, rx) as link:
            assert link.kind == "socket_filter"
            for _ in range(4):
                tx.sendto(b"x", rx.getsockname())
            for _ in range(4):
                rx.recv(16)
            assert counts[0] == 4
        tx.sendto(b"x", rx.getsockname())
        rx.recv(16)
        assert counts[0] == 4, "the filter is detached on close"


# --------------------------------------------------------------------------- tracing


def test_tracepoint_filtered_by_tgid(counts, progs):
    prog = progs(own_process_counter(ProgramType.TRACEPOINT, counts.fd))
    with L.attach_tracepoint(prog, "syscalls", "sys_enter_getppid") as link:
        assert link.info()["type"] == LinkType.PERF_EVENT
        for _ in range(6):
            os.getppid()
        assert counts[0] == 6
    os.getppid()
    assert counts[0] == 6


def test_tracepoint_one_string_name_and_update_refused(counts, progs):
    first = progs(own_process_counter(ProgramType.TRACEPOINT, counts.fd, slot=0))
    second = progs(own_process_counter(ProgramType.TRACEPOINT, counts.fd, slot=1))
    with L.attach_tracepoint(first, "syscalls/sys_enter_getppid") as link:
        os.getppid()
        # perf-event links have no update operation: a clear error, and the link still works
        with pytest.raises(AttachError, match="cannot replace the program of a tracepoint link"):
            link.update(second)
        os.getppid()
    assert (counts[0], counts[1]) == (2, 0)


def test_tracepoint_errors(progs, counts):
    prog = progs(own_process_counter(ProgramType.TRACEPOINT, counts.fd))
    with pytest.raises(AttachError, match="no tracepoint syscalls/sys_enter_getppidd"):
        L.attach_tracepoint(prog, "syscalls", "sys_enter_getppidd")
    with pytest.raises(ValueError):
        L.attach_tracepoint(prog, "nocategory")
    wrong = progs(always_counter(ProgramType.SOCKET_FILTER, counts.fd))
    with pytest.raises(AttachError, match="sys_enter_getppid"):
        L.attach_tracepoint(wrong, "syscalls/sys_enter_getppid")


@pytest.mark.skipif(NR_GETPPID is None, reason="getppid's syscall number unknown here")
def test_raw_tracepoint(counts, progs):
    prog = progs(own_process_counter(ProgramType.RAW_TRACEPOINT, counts.fd,
                                     syscall_nr=NR_GETPPID))
    with L.attach_raw_tracepoint(prog, "sys_enter") as link:
        assert link.info()["type"] == LinkType.RAW_TRACEPOINT
        for _ in range(5):
            os.getppid()
        assert counts[0] == 5
    os.getppid()
    assert counts[0] == 5
    with pytest.raises(AttachError, match="raw tracepoint 'no_such_tp'"):
        L.attach_raw_tracepoint(prog, "no_such_tp")


# --------------------------------------------------------------------------- cgroups


def test_cgroup_skb_link(counts, progs):
    root = tracefs.find_mount("cgroup2")
    if root is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    cg = root / f"pyebpf-test-{uuid.uuid4().hex[:8]}"
    cg.mkdir()
    try:
        prog_fd = sc.prog_load(
            ProgramType.CGROUP_SKB,
            _assemble(*_count(counts.fd, 0), asm.mov64_imm(asm.R0, 1), asm.exit_()),
            "GPL", expected_attach_type=AttachType.CGROUP_INET_EGRESS,
        ).fd
        prog = progs(prog_fd)
        with L.attach_cgroup(prog, cg, AttachType.CGROUP_INET_EGRESS) as link:
            info = link.info()
            assert info["type"] == LinkType.CGROUP
            assert info["attach_type"] == AttachType.CGROUP_INET_EGRESS
        with pytest.raises(AttachError, match="cannot open cgroup"):
            L.attach_cgroup(prog, cg / "missing", AttachType.CGROUP_INET_EGRESS)
    finally:
        cg.rmdir()


def test_link_repr_and_fdless_errors(counts, progs):
    prog = progs(always_counter(ProgramType.SOCKET_FILTER, counts.fd, retval=-1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        link = L.attach_socket_filter(prog, s)
        assert "socket_filter" in repr(link)
        with pytest.raises(AttachError, match="no BPF link fd"):
            link.pin("x")
        link.detach()
        assert link.closed and "closed" in repr(link)
