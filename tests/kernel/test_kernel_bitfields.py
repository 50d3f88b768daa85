"""Bitfields of kernel structs, read through trusted pointers and plain addresses.

Three sources of values the test knows exactly: bytes it wrote itself (a map
value read as kernel structs through its address, so every bit pattern and a
signed bitfield can be checked against a plain big-integer extraction from
BTF), the current task's ``sched_reset_on_fork`` (set with sched_setscheduler),
and a TCP socket's ``sk_no_check_tx`` / ``nonagle`` / ``icsk_ca_setsockopt``
(set with setsockopt before connect()).
"""

from __future__ import annotations

import os
import random
import socket
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyebpf as bpf
from pyebpf import i64, u8, u16, u32, u64
from pyebpf.btf import BTF, Int
from pyebpf.errors import CompileError

PKT = b"\0" * 64
SIZE = 4096
raw = bpf.ArrayMap(u8[SIZE], max_entries=1)
got = bpf.ArrayMap(i64, max_entries=16)

# (struct, member path) read by read_bits below, in the same order.
FIELDS = [
    ("task_struct", "sched_reset_on_fork"),      # unsigned int :1
    ("task_struct", "init_private_fork_class"),  # unsigned int :4, not at bit 0
    ("tcp_sock", "nonagle"),                     # u8 :4
    ("tcp_sock", "save_syn"),                    # u8 :2
    ("inet_connection_sock", "icsk_ca_state"),   # __u8 :5
    ("inet_connection_sock", "icsk_ca_setsockopt"),  # __u8 :1 at bit 6
    ("sock", "sk_no_check_tx"),                  # u8 :1 at bit 2
    ("inet_connection_sock", "icsk_mtup.probe_size"),  # u32 :31
    ("inet_connection_sock", "icsk_mtup.enabled"),     # u32 :1 at bit 31
    ("bpf_reg_state", "iter.depth"),             # int :30, signed
    ("bpf_reg_state", "iter.state"),             # enum :2
    ("sock", "sk_userlocks"),                    # a plain u8 next to them
]


@bpf.tc
def read_bits(ctx) -> int:
    p = raw.lookup(0)
    if p is None:
        return 0
    addr = u64(p)  # the map value's kernel address, read as kernel structs
    task = bpf.kernel.task_struct(addr)
    tp = bpf.kernel.tcp_sock(addr)
    icsk = bpf.kernel.inet_connection_sock(addr)
    sk = bpf.kernel.sock(addr)
    reg = bpf.kernel.bpf_reg_state(addr)
    got[0] = task.sched_reset_on_fork
    got[1] = task.init_private_fork_class
    got[2] = tp.nonagle
    got[3] = tp.save_syn
    got[4] = icsk.icsk_ca_state
    got[5] = icsk.icsk_ca_setsockopt
    got[6] = sk.sk_no_check_tx
    got[7] = icsk.icsk_mtup.probe_size
    got[8] = icsk.icsk_mtup.enabled
    got[9] = reg.iter.depth
    got[10] = reg.iter.state
    got[11] = sk.sk_userlocks
    return 0


def _bits(struct: str, path: str) -> tuple[int, int, bool]:
    """(bit offset, width, signed) of a member, straight from the kernel's BTF."""
    btf = BTF.kernel()
    type_id = btf.find(struct, "struct").id
    offset = 0
    for name in path.split("."):
        found = btf._find_member(type_id, name)
        assert found is not None, (struct, path)
        member, bit_offset = found
        offset += bit_offset
        type_id = member.type
    t = btf.resolved(type_id)
    width = member.bitfield_size or t.size * 8
    return offset, width, bool(getattr(t, "signed", False)) if isinstance(t, Int) or \
        t.kind == "enum" else False


def expected(data: bytes, struct: str, path: str) -> int:
    offset, width, signed = _bits(struct, path)
    value = int.from_bytes(data, "little") >> offset & ((1 << width) - 1)
    if signed and value >> (width - 1):
        value -= 1 << width
    return value


def _check(data: bytes) -> None:
    raw[0] = data
    read_bits.test_run(PKT)
    want = [expected(data, s, p) for s, p in FIELDS]
    assert [got[k] for k in range(len(FIELDS))] == want


def test_the_fields_are_bitfields_of_this_kernel() -> None:
    widths = {f"{s}.{p}": _bits(s, p)[1] for s, p in FIELDS}
    assert widths["tcp_sock.nonagle"] == 4 and widths["bpf_reg_state.iter.depth"] == 30
    assert _bits("bpf_reg_state", "iter.depth")[2]  # a signed one
    assert all(offset + width <= SIZE * 8 for offset, width, _ in
               (_bits(s, p) for s, p in FIELDS))


def test_all_ones_all_zeros_and_single_bits() -> None:
    read_bits.load()
    _check(b"\xff" * SIZE)
    assert got[9] == -1 and got[2] == 15 and got[7] == (1 << 31) - 1  # sign-extended
    _check(b"\0" * SIZE)
    for s, p in FIELDS:  # each field's top bit alone: nothing of its neighbours leaks in
        offset, width, _ = _bits(s, p)
        top = offset + width - 1
        data = bytearray(SIZE)
        data[top // 8] |= 1 << top % 8
        _check(bytes(data))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32))
def test_random_bytes_match_python(seed: int) -> None:
    read_bits.load()
    _check(random.Random(seed).randbytes(SIZE))


# ---------------------------------------------------------------- a task's own bit

task_bits = bpf.ArrayMap(u64, max_entries=4)
GETPPID_THREAD = bpf.Const(u32, 0)


@bpf.tracepoint("syscalls/sys_enter_getppid")
def on_getppid(ctx) -> int:
    if u32(bpf.get_current_pid_tgid()) != GETPPID_THREAD.value:
        return 0
    task = bpf.get_current_task_btf()  # trusted: a direct load of the unit
    task_bits[0] = task.sched_reset_on_fork
    task_bits[1] = bpf.kernel.task_struct(bpf.get_current_task()).sched_reset_on_fork
    task_bits[2] = task.in_execve
    task_bits.increment(3)
    return 0


def test_sched_reset_on_fork_of_the_current_task() -> None:
    param = os.sched_param(0)
    before = os.sched_getscheduler(0)
    on_getppid.load(constants={"GETPPID_THREAD": threading.get_native_id()})
    with on_getppid.attach():
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER | os.SCHED_RESET_ON_FORK, param)
            os.getppid()
            flagged = [task_bits[k] for k in range(4)]
            os.sched_setscheduler(0, os.SCHED_OTHER, param)
            os.getppid()
            cleared = [task_bits[k] for k in range(4)]
        finally:
            os.sched_setscheduler(0, before, param)
    assert flagged == [1, 1, 0, 1]
    assert cleared == [0, 0, 0, 2]
    on_getppid.close()


# ---------------------------------------------------------------- a socket's bits

SYN_SENT = 2  # include/net/tcp_states.h: TCP_SYN_SENT
sock_bits = bpf.HashMap(u16, u64, max_entries=64)  # local port -> packed bits
MY_TGID = bpf.Const(u32, 0)


@bpf.tp_btf("inet_sock_set_state")
def on_state(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != MY_TGID.value or ctx.newstate != SYN_SENT:
        return 0
    sk = ctx.sk  # a trusted struct sock *: its bitfields are direct loads
    tp = bpf.kernel.tcp_sock(u64(sk))  # tcp_sock lies past struct sock: probe-read
    icsk = bpf.kernel.inet_connection_sock(u64(sk))
    bits = u64(sk.sk_no_check_tx) | u64(sk.sk_kern_sock) << 1 | u64(tp.nonagle) << 8 | \
        u64(icsk.icsk_ca_setsockopt) << 16 | u64(icsk.icsk_ca_state) << 24
    sock_bits[sk.__sk_common.skc_num] = bits
    return 0


SO_NO_CHECK = 11  # include/uapi/asm-generic/socket.h


def _connect(listener: socket.socket, *options: tuple[int, int, object]) -> int:
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for level, name, value in options:
        c.setsockopt(level, name, value)
    c.bind(("127.0.0.1", 0))
    port = c.getsockname()[1]
    c.connect(listener.getsockname())
    listener.accept()[0].close()
    c.close()
    return port


def test_socket_bitfields_set_by_setsockopt() -> None:
    on_state.load(constants={"MY_TGID": os.getpid()})
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    with on_state.attach():
        plain = _connect(listener)
        no_check = _connect(listener, (socket.SOL_SOCKET, SO_NO_CHECK, 1))
        nodelay = _connect(listener, (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1))
        corked = _connect(listener, (socket.IPPROTO_TCP, socket.TCP_CORK, 1))
        both = _connect(listener, (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
                        (socket.IPPROTO_TCP, socket.TCP_CORK, 1))
        reno = _connect(listener, (socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"reno"))
    listener.close()
    # include/net/tcp.h: TCP_NAGLE_OFF 1, TCP_NAGLE_CORK 2, TCP_NAGLE_PUSH 4
    assert sock_bits[plain] == 0
    assert sock_bits[no_check] == 1
    assert sock_bits[nodelay] == (1 | 4) << 8
    assert sock_bits[corked] == 2 << 8
    assert sock_bits[both] == (1 | 2 | 4) << 8
    assert sock_bits[reno] == 1 << 16
    on_state.close()


# ---------------------------------------------------------------- refusals


@bpf.struct_ops("tcp_congestion_ops", name="pyebpf_bits")
class WritesABitfield:
    def init(sk) -> None:
        bpf.kernel.inet_connection_sock(sk).icsk_ca_state = 1  # a bitfield

    def ssthresh(sk) -> u32:
        return 2

    def cong_avoid(sk, ack: u32, acked: u32) -> None:
        return

    def undo_cwnd(sk) -> u32:
        return 2


def test_a_store_to_a_bitfield_is_refused_at_its_line() -> None:
    with pytest.raises(CompileError) as e:
        WritesABitfield.compile()
    text = str(e.value)
    assert "test_kernel_bitfields.py" in text and "icsk_ca_state = 1" in text
    assert "5-bit bitfield" in text and "does not store" in text
    assert "llvmlite" not in text


def test_a_bitfield_has_no_address() -> None:
    def prog(ctx) -> int:
        task = bpf.get_current_task_btf()
        bpf.atomic_add(task.sched_reset_on_fork, 1)  # the line
        return 0

    with pytest.raises(CompileError, match="bitfield"):
        bpf.tracepoint("syscalls/sys_enter_getppid")(prog).compile()
