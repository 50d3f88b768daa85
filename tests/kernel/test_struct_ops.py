"""struct_ops: a TCP congestion control written in Python, registered with the real kernel.

The traffic runs between two private network namespaces joined by a veth
pair (tests/kernel/netns.py, tcp_flows.py), removed afterwards.  A tc
program on the sender's veth drops a few large segments so that loss
recovery, and with it ``ssthresh``, happens for real.
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
NAME = f"pyreno_{uuid.uuid4().hex[:6]}"  # unique per run: the kernel's list is global

# slots of `calls`
INIT, SSTHRESH, CONG_AVOID, UNDO, CWND_AT_SSTHRESH, PACING_RATE, INIT_V2 = range(7)
calls = bpf.ArrayMap(u64, max_entries=8)
inits = bpf.HashMap(u32, u64, max_entries=64)  # local port -> init() calls

reno_ssthresh = bpf.kfunc("tcp_reno_ssthresh")
reno_cong_avoid = bpf.kfunc("tcp_reno_cong_avoid")
reno_undo_cwnd = bpf.kfunc("tcp_reno_undo_cwnd")


@bpf.struct_ops("tcp_congestion_ops", name=NAME)
class Reno:
    """Reno through the kernel's own tcp_reno_* kfuncs, counting each call."""

    def init(sk) -> None:
        calls.increment(INIT)
        inits.increment(u32(sk.__sk_common.skc_num))  # the local port, host order

    def ssthresh(sk) -> u32:
        calls.increment(SSTHRESH)
        tp = bpf.kernel.tcp_sock(sk)  # the verifier knows sk is a tcp_sock here
        calls[CWND_AT_SSTHRESH] = u64(tp.snd_cwnd)
        return reno_ssthresh(sk)

    def cong_avoid(sk, ack: u32, acked: u32) -> None:
        calls.increment(CONG_AVOID)
        calls[PACING_RATE] = sk.sk_pacing_rate
        reno_cong_avoid(sk, ack, acked)

    def undo_cwnd(sk) -> u32:
        calls.increment(UNDO)
        return reno_undo_cwnd(sk)


@bpf.struct_ops("tcp_congestion_ops", name=NAME)
class RenoV2:
    """The same algorithm under the same name, counting init() in another slot."""

    def init(sk) -> None:
        calls.increment(INIT_V2)

    def ssthresh(sk) -> u32:
        return reno_ssthresh(sk)

    def cong_avoid(sk, ack, acked) -> None:
        reno_cong_avoid(sk, ack, acked)

    def undo_cwnd(sk) -> u32:
        return reno_undo_cwnd(sk)


def available() -> list[str]:
    return AVAILABLE.read_text().split()


def reset_counts() -> None:
    for slot in range(8):
        calls[slot] = 0
    tcp_flows.reset_drops()
    inits.clear()


def test_registered_while_the_link_is_open() -> None:
    assert NAME not in available()
    with Reno.attach() as link:
        assert isinstance(link, bpf.StructOpsLink)
        assert NAME in available()
        assert link.info()["id"] > 0
    assert NAME not in available()
    # The same table registers again after a detach.
    with Reno.attach():
        assert NAME in available()
    assert NAME not in available()
    Reno.close()


def test_congestion_control_runs_on_tcp_connections() -> None:
    with VethPair() as net, Reno.attach(), lossy.attach(ifname=net.ifname, netns=net.ns_a):
        reset_counts()
        first = transfer(net, 5001, 4 << 20, NAME.encode())
        second = transfer(net, 5002, 1 << 20, NAME.encode())
        counts = {slot: calls[slot] for slot in range(8)}
        dropped = tcp_flows.drops[0]
        per_socket = dict(inits.items())
    lossy.close()
    Reno.close()
    assert (first.received, first.congestion) == (4 << 20, NAME.encode())
    assert (second.received, second.congestion) == (1 << 20, NAME.encode())
    # init() ran once for each of the two sockets (the server side stays on the default)
    assert per_socket == {first.local_port: 1, second.local_port: 1}
    assert counts[INIT] == 2
    assert counts[CONG_AVOID] > 0
    assert dropped > 0
    assert counts[SSTHRESH] > 0  # loss recovery asked the Python code for a threshold
    assert counts[CWND_AT_SSTHRESH] > 0  # tcp_sock.snd_cwnd read through the cast
    assert counts[PACING_RATE] > 0  # sock.sk_pacing_rate read directly
    assert NAME not in available()


def test_update_swaps_the_table_in_place() -> None:
    with VethPair() as net, Reno.attach() as link:
        reset_counts()
        transfer(net, 5003, 64 << 10, NAME.encode())
        assert (calls[INIT], calls[INIT_V2]) == (1, 0)
        link.update(RenoV2)
        assert NAME in available()
        transfer(net, 5004, 64 << 10, NAME.encode())
        assert (calls[INIT], calls[INIT_V2]) == (1, 1)
    assert NAME not in available()
    Reno.close()
    RenoV2.close()


def test_a_name_already_registered_is_a_clear_error() -> None:
    @bpf.struct_ops("tcp_congestion_ops", name="reno")  # the kernel's own Reno
    class Clash:
        def ssthresh(sk) -> u32:
            return reno_ssthresh(sk)

        def cong_avoid(sk, ack, acked) -> None:
            reno_cong_avoid(sk, ack, acked)

        def undo_cwnd(sk) -> u32:
            return reno_undo_cwnd(sk)

    with pytest.raises(bpf.AttachError, match="already has a tcp_congestion_ops 'reno'"):
        Clash.attach()
    Clash.close()


# --------------------------------------------------------------------------- bpf_dummy_ops


@bpf.struct_ops("bpf_dummy_ops")
class Dummy:
    def test_2(state, a1, a2, a3, a4) -> int:
        return state.val + a1 + bpf.i32(a2) + bpf.i32(a3) + bpf.i32(a4)


def test_dummy_ops_method_runs_with_test_run() -> None:
    """bpf_dummy_ops runs one method per BPF_PROG_TEST_RUN: args as u64 slots, args[0] a
    user pointer to the state the kernel copies in (net/bpf/bpf_dummy_struct_ops.c)."""
    state = ctypes.c_int(1000)
    ctx = struct.pack("<5Q", ctypes.addressof(state), 5, 7, 0xFE, 30)
    # a3 is the kernel's `char`: unsigned since Linux 6.2 builds with -funsigned-char
    assert Dummy.test_2.test_run(ctx=ctx).retval == 1000 + 5 + 7 + 254 + 30
    assert Dummy.test_2.info()["type"] == bpf.ProgramType.STRUCT_OPS
    Dummy.close()


def test_a_method_is_attached_through_its_table() -> None:
    with pytest.raises(bpf.AttachError, match=r"attach the table \(Dummy.attach\(\)\)"):
        Dummy.test_2.attach()


# --------------------------------------------------------------------------- errors


def compile_error(ops: bpf.StructOps) -> bpf.CompileError:
    with pytest.raises(bpf.CompileError) as info:
        ops.compile()
    err = info.value
    assert err.filename == __file__
    assert "structops.py" not in str(err) and "frontend.py" not in str(err)
    return err


def test_unknown_struct_is_reported_at_the_decorator() -> None:
    @bpf.struct_ops("no_such_ops")
    class Nope:
        def go(x) -> None:
            return

    err = compile_error(Nope)
    assert "no struct_ops type 'no_such_ops'" in err.message
    assert "tcp_congestion_ops" in err.message  # what the kernel does have
    assert '@bpf.struct_ops("no_such_ops")' in err.source_line


def test_unknown_member_is_reported_at_its_def() -> None:
    @bpf.struct_ops("bpf_dummy_ops")
    class Typo:
        def test_3(state) -> int:
            return 0

    err = compile_error(Typo)
    assert "bpf_dummy_ops has no member 'test_3'" in err.message
    assert "test_1, test_2" in err.message
    assert "def test_3(state)" in err.source_line


def test_missing_mandatory_member_is_reported_before_the_kernel() -> None:
    @bpf.struct_ops("tcp_congestion_ops", name="pyebpf_half")
    class Half:
        def ssthresh(sk) -> u32:
            return reno_ssthresh(sk)

        def undo_cwnd(sk) -> u32:
            return reno_undo_cwnd(sk)

    err = compile_error(Half)
    assert "needs a method cong_avoid or cong_control" in err.message
    assert "@bpf.struct_ops" in err.source_line


def test_wrong_arity_is_reported_at_its_def() -> None:
    @bpf.struct_ops("bpf_dummy_ops")
    class Short:
        def test_2(state, a1) -> int:
            return a1

    err = compile_error(Short)
    assert "bpf_dummy_ops.test_2 takes 5 argument(s)" in err.message
    assert "not 2" in err.message
    assert "def test_2(state, a1)" in err.source_line


def test_returns_follow_the_member_prototype() -> None:
    @bpf.struct_ops("tcp_congestion_ops", name="pyebpf_ret")
    class Returns:
        def ssthresh(sk) -> u32:
            return reno_ssthresh(sk)

        def cong_avoid(sk, ack, acked) -> None:
            return 1

        def undo_cwnd(sk) -> u32:
            return reno_undo_cwnd(sk)

    err = compile_error(Returns)
    assert "tcp_congestion_ops.cong_avoid returns nothing" in err.message
    assert "return 1" in err.source_line

    @bpf.struct_ops("bpf_dummy_ops")
    class FallsOff:
        def test_2(state, a1, a2, a3, a4) -> int:
            bpf.trace_printk(b"no return")

    err = compile_error(FallsOff)
    assert "can end here without returning" in err.message


def test_annotations_are_checked_against_the_prototype() -> None:
    @bpf.struct_ops("bpf_dummy_ops")
    class Wide:
        def test_2(state, a1, a2: u32, a3, a4) -> int:
            return a1

    err = compile_error(Wide)
    assert "parameter `a2` of bpf_dummy_ops.test_2 is a u16, not a u32" in err.message


def test_unknown_data_member_is_reported_at_the_decorator() -> None:
    @bpf.struct_ops("tcp_congestion_ops", nmae="typo")
    class Data:
        def ssthresh(sk) -> u32:
            return reno_ssthresh(sk)

        def cong_avoid(sk, ack, acked) -> None:
            reno_cong_avoid(sk, ack, acked)

        def undo_cwnd(sk) -> u32:
            return reno_undo_cwnd(sk)

    err = compile_error(Data)
    assert "no data member 'nmae'" in err.message
    assert "name" in err.hint and "flags" in err.hint
