"""Stores through trusted kernel-struct pointers: a Python congestion control sets the window.

``FixedWindow`` writes ``tcp_sock.snd_cwnd`` / ``snd_ssthresh`` (fields the kernel
lets tcp_congestion_ops programs write, net/ipv4/bpf_tcp_ca.c); a bulk transfer
between two private namespaces (tests/kernel/netns.py, tcp_flows.py) shows the
kernel's own TCP_INFO for the socket reporting exactly those values.  Stores the
kernel would refuse are CompileErrors at the line, or VerifierErrors at the line
where pyebpf cannot know; struct_ops arguments the kernel may pass as NULL must be
checked for None.
"""

from __future__ import annotations

import ctypes
import struct
import uuid
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import u32, u64

from . import tcp_flows
from .netns import VethPair
from .tcp_flows import lossy, transfer

AVAILABLE = Path("/proc/sys/net/ipv4/tcp_available_congestion_control")
NAME = f"pyfixed_{uuid.uuid4().hex[:6]}"  # unique per run: the kernel's list is global
CWND = 37  # far from the initial window (10) and from what Reno reaches on this link
SSTHRESH_INIT = 23
SSTHRESH_LOSS = 19

INIT, CONG_AVOID, SSTHRESH, CWND_READ_BACK, PACING_RATE = range(5)
seen = bpf.ArrayMap(u64, max_entries=5)


@bpf.struct_ops("tcp_congestion_ops", name=NAME)
class FixedWindow:
    """A congestion control that holds the window at CWND segments."""

    def init(sk) -> None:
        seen.increment(INIT)
        tp = bpf.kernel.tcp_sock(sk)
        tp.snd_cwnd = CWND
        tp.snd_ssthresh = SSTHRESH_INIT
        tp.snd_cwnd_cnt += 1  # a read-modify-write of a writable field
        bpf.kernel.inet_connection_sock(sk).icsk_ca_priv[0] = 7  # private CC state
        sk.sk_pacing_rate = sk.sk_pacing_rate  # struct sock fields of the same socket

    def ssthresh(sk) -> u32:
        seen.increment(SSTHRESH)
        bpf.kernel.tcp_sock(sk).snd_ssthresh = SSTHRESH_LOSS
        return SSTHRESH_LOSS

    def cong_avoid(sk, ack: u32, acked: u32) -> None:
        seen.increment(CONG_AVOID)
        tp = bpf.kernel.tcp_sock(sk)
        tp.snd_cwnd = CWND
        seen[CWND_READ_BACK] = u64(tp.snd_cwnd)
        seen[PACING_RATE] = sk.sk_pacing_rate

    def undo_cwnd(sk) -> u32:
        return CWND


def available() -> list[str]:
    return AVAILABLE.read_text().split()


def reset() -> None:
    for slot in range(5):
        seen[slot] = 0
    tcp_flows.reset_drops()


def test_the_window_the_program_sets_is_the_sockets_window() -> None:
    with VethPair() as net:
        baseline = transfer(net, 5101, 4 << 20, b"reno")
        with FixedWindow.attach():
            reset()
            flow = transfer(net, 5102, 4 << 20, NAME.encode())
            counts = [seen[slot] for slot in range(5)]
    FixedWindow.close()
    assert (flow.received, flow.congestion) == (4 << 20, NAME.encode())
    assert counts[INIT] == 1
    assert counts[CONG_AVOID] > 0
    # What the kernel itself reports for the sender's socket (TCP_INFO):
    assert flow.snd_cwnd == CWND
    assert flow.snd_ssthresh == SSTHRESH_INIT  # no loss: the value init() stored stays
    assert counts[CWND_READ_BACK] == CWND
    # ... while the kernel's Reno on the same link opens the window much wider.
    assert baseline.congestion == b"reno" and baseline.snd_cwnd > 2 * CWND
    assert NAME not in available()


def test_loss_recovery_takes_the_threshold_the_program_stored() -> None:
    with VethPair() as net, FixedWindow.attach(), \
            lossy.attach(ifname=net.ifname, netns=net.ns_a):
        reset()
        flow = transfer(net, 5103, 4 << 20, NAME.encode())
        counts = [seen[slot] for slot in range(5)]
        dropped = tcp_flows.drops[0]
    lossy.close()
    FixedWindow.close()
    assert flow.received == 4 << 20
    assert dropped > 0
    assert counts[SSTHRESH] > 0
    assert flow.snd_ssthresh == SSTHRESH_LOSS


# --------------------------------------------------------------------------- bpf_dummy_ops


@bpf.struct_ops("bpf_dummy_ops")
class DummyWrites:
    def test_1(state) -> int:
        # The kernel's stub names this argument cb__nullable: it may be NULL.
        if state is None:
            return -1
        state.val = state.val * 2 + 1
        return 0

    def test_2(state, a1, a2, a3, a4) -> int:
        state.val += a1  # not nullable here: used directly
        return state.val


def test_stores_reach_the_state_the_kernel_copies_back() -> None:
    """bpf_dummy_ops test runs copy the state in and, after the program, back out
    (net/bpf/bpf_dummy_struct_ops.c), so the store is seen from Python."""
    state = ctypes.c_int(20)
    ctx = struct.pack("<Q", ctypes.addressof(state))
    assert DummyWrites.test_1.test_run(ctx=ctx).retval == 0
    assert state.value == 41
    assert DummyWrites.test_1.test_run(ctx=struct.pack("<Q", 0)).retval == 2**32 - 1
    ctx = struct.pack("<5Q", ctypes.addressof(state), 9, 0, 0, 0)
    assert DummyWrites.test_2.test_run(ctx=ctx).retval == 50
    assert state.value == 50
    DummyWrites.close()


# --------------------------------------------------------------------------- refusals


def compile_error(ops: bpf.StructOps | bpf.Program) -> bpf.CompileError:
    with pytest.raises(bpf.CompileError) as info:
        ops.compile()
    err = info.value
    assert err.filename == __file__
    assert "frontend.py" not in str(err) and "llvmlite" not in str(err)
    return err


def test_a_field_the_kernel_does_not_let_programs_write() -> None:
    @bpf.struct_ops("tcp_congestion_ops", name="pyebpf_clamp")
    class Clamp:
        def ssthresh(sk) -> u32:
            return 2

        def cong_avoid(sk, ack: u32, acked: u32) -> None:
            bpf.kernel.tcp_sock(sk).snd_cwnd_clamp = 100

        def undo_cwnd(sk) -> u32:
            return 2

    err = compile_error(Clamp)
    assert "cannot store to struct tcp_sock in tcp_congestion_ops.cong_avoid" in err.message
    assert "bpf_tcp_ca_btf_struct_access" in err.message
    assert "snd_cwnd, snd_cwnd_cnt" in err.message  # what it may write
    assert "kfuncs" in err.hint and "bpf_probe_write_user writes user memory" in err.hint
    assert "snd_cwnd_clamp = 100" in err.source_line


def test_a_struct_other_than_the_socket_is_read_only() -> None:
    @bpf.struct_ops("tcp_congestion_ops", name="pyebpf_rs")
    class Rate:
        def ssthresh(sk) -> u32:
            return 2

        def cong_control(sk, ack: u32, flag, rs) -> None:
            rs.delivered = 0

        def undo_cwnd(sk) -> u32:
            return 2

    err = compile_error(Rate)
    assert "store only to struct tcp_sock, not to struct rate_sample" in err.message
    assert "rs.delivered = 0" in err.source_line


def test_tracing_programs_cannot_store_to_kernel_structs() -> None:
    @bpf.fentry("tcp_rcv_established")
    def pace(ctx) -> int:
        ctx.sk.sk_pacing_rate = 5
        return 0

    err = compile_error(pace)
    assert "may only read kernel structs" in err.message
    assert "only read is supported" in err.message
    assert "ctx.sk.sk_pacing_rate = 5" in err.source_line


def test_a_plain_address_is_never_written() -> None:
    @bpf.kprobe("tcp_rcv_established")
    def poke(ctx) -> int:
        task = bpf.kernel.task_struct(bpf.get_current_task())
        task.pid = 5
        return 0

    err = compile_error(poke)
    assert "plain address, read with bpf_probe_read_kernel" in err.message
    assert "bpf_probe_write_user writes user memory, never kernel memory" in err.hint
    assert "task.pid = 5" in err.source_line


def test_a_refusal_pyebpf_cannot_foresee_is_a_verifier_error_at_the_line() -> None:
    """`sk.sk_socket.sk` is a struct sock to pyebpf, but not the tcp_sock the verifier
    lets the program write: bpf_tcp_ca_btf_struct_access refuses it at load time."""

    @bpf.struct_ops("tcp_congestion_ops", name="pyebpf_deep")
    class Deep:
        def ssthresh(sk) -> u32:
            return 2

        def cong_avoid(sk, ack: u32, acked: u32) -> None:
            sk.sk_socket.sk.sk_pacing_rate = 1

        def undo_cwnd(sk) -> u32:
            return 2

    with pytest.raises(bpf.VerifierError) as info:
        Deep.load()
    err = info.value
    assert err.filename == __file__
    assert "only read is supported" in str(err)
    assert "sk.sk_socket.sk.sk_pacing_rate = 1" in str(err)
    Deep.close()


def test_a_nullable_argument_must_be_checked_for_none() -> None:
    @bpf.struct_ops("bpf_dummy_ops")
    class Unchecked:
        def test_1(state) -> int:
            return state.val

    err = compile_error(Unchecked)
    assert "`state` may be None here" in err.message
    assert "bpf_dummy_ops.test_1" in err.hint and "__nullable" in err.hint
    assert "return state.val" in err.source_line


def test_a_nullable_argument_is_read_only() -> None:
    @bpf.struct_ops("bpf_dummy_ops")
    class Reassign:
        def test_1(state) -> int:
            state = None  # noqa: F841 (the compiler refuses it)
            return 0

    err = compile_error(Reassign)
    assert "parameter `state` is read-only" in err.message
