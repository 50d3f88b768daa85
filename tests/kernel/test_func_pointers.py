"""@bpf.func functions taking pointers: real BPF-to-BPF calls, static and global.

Each kind of pointer the language lets through is loaded and run (the kernel
verifies a static function at each call with the caller's pointer, and a
global one once from its BTF), and the functions' BTF is checked, since
global functions are verified from it.
"""

from __future__ import annotations

import pytest

import pyebpf as bpf
from pyebpf import btf, char, net, u8, u32, u64

LINKAGES = ("static", "global")


class Stats(bpf.Struct):
    packets: u64
    bytes: u64


class Event(bpf.Struct):
    pid: u32
    n: u32


stats = bpf.ArrayMap(Stats, max_entries=2)
out = bpf.ArrayMap(u64, max_entries=8)
events = bpf.RingBuf(4096, event=Event)


def new_stats(n):  # an inlined function's struct result, passed on by reference
    return Stats(packets=n, bytes=n * 2)


def build(linkage: str) -> tuple[bpf.Program, bpf.Program]:
    """An XDP and a socket-filter program calling functions of one linkage."""

    @bpf.func(linkage=linkage)
    def bump(s: Stats, n: u32) -> u32:  # a struct by reference: written through
        s.packets += 1
        s.bytes += n
        return u32(s.packets)

    @bpf.func(linkage=linkage)
    def fill(buf: u8[4], x: u32) -> u32:  # an array by reference
        for i in range(4):
            buf[i] = u8(x >> (8 * i))
        return 4

    @bpf.func(linkage=linkage)
    def ifindex_and_len(ctx) -> u32:  # no annotation: the program's context
        eth = ctx.header(net.EthHdr, 0)
        if eth is None:
            return 0
        return ctx.ingress_ifindex * 1000 + u32(ctx.data_end - ctx.data)

    @bpf.func(linkage=linkage)
    def swap_macs(eth: net.EthHdr) -> u32:  # a packet header from ctx.header()
        for i in range(6):
            t = eth.dst[i]
            eth.dst[i] = eth.src[i]
            eth.src[i] = t
        return u32(bpf.ntohs(eth.proto))

    @bpf.xdp
    def xdp_calls(ctx) -> int:
        local = Stats(packets=10)
        out[0] = bump(local, 5)  # a local struct (the caller's stack)
        out[1] = local.bytes
        p = stats.lookup(1)
        if p is None:
            return bpf.XDP_ABORTED
        out[2] = bump(p, 100)  # a map value, after the None check
        out[3] = ifindex_and_len(ctx)
        eth = ctx.header(net.EthHdr, 0)
        if eth is None:
            return bpf.XDP_ABORTED
        out[4] = swap_macs(eth)
        b = u8[4]()
        out[5] = fill(b, 0x01020304)
        out[6] = u64(b[0]) + u64(b[3]) * 256
        out[7] = bump(new_stats(u32(7)), 1)  # an inlined function's struct result
        return bpf.XDP_TX

    @bpf.func(linkage=linkage)
    def fill_event(e: Event, n: u32) -> u32:
        e.pid = 7
        e.n = n
        return 0

    @bpf.socket_filter
    def ring_calls(ctx) -> int:
        e = events.reserve()
        if e is None:
            return 0
        fill_event(e, ctx.len)  # a ring-buffer reservation
        events.submit(e)
        return 1

    return xdp_calls, ring_calls


PACKET = bytes(range(6)) + bytes(range(10, 16)) + b"\x08\x00" + b"x" * 50


@pytest.mark.parametrize("linkage", LINKAGES)
def test_pointer_parameters_run(linkage: str) -> None:
    xdp_calls, ring_calls = build(linkage)
    xdp_calls.load()
    stats[1] = Stats(packets=0, bytes=0)
    r = xdp_calls.test_run(PACKET)
    assert r.retval == bpf.XDP_TX
    assert r.data[:12] == bytes(range(10, 16)) + bytes(range(6))  # swapped in place
    assert [out[i] for i in range(8)] == [
        11, 5,  # bump() on a local: its result, and the local it changed
        1,  # bump() on the map value
        1 * 1000 + len(PACKET),  # test runs come in on lo (ifindex 1)
        0x0800, 4, 0x04 + 0x01 * 256, 8]
    assert stats[1] == Stats(packets=1, bytes=100)
    assert ring_calls.test_run(b"\0" * 64).retval == 1
    assert [(e.pid, e.n) for e in events.poll(timeout=0.5)] == [(7, 50)]
    xdp_calls.close()
    ring_calls.close()


def _signature(prog: bpf.Program, name: str) -> tuple[int, list[str], set[str]]:
    """A function's BTF linkage, parameter types (as text) and decl tags."""
    types = btf.BTF(prog.compile().spec.btf)
    func = types.find(name, "func")
    proto = types.type(func.type)

    def describe(type_id: int) -> str:
        t = types.type(type_id)
        if t.kind == "ptr":
            return "*" + (describe(t.type) if t.type else "void")
        if t.kind == "array":
            return f"{describe(t.type)}[{t.nelems}]"
        return t.name

    tags = {f"{t.name}@{t.component_idx}" for t in types.types
            if t.kind == "decl_tag" and t.type == func.id}
    return func.linkage, [describe(p.type) for p in proto.params], tags


def test_btf_of_pointer_parameters() -> None:
    static, _ = build("static")
    glob, _ = build("global")
    assert _signature(static, "bump") == (btf.FUNC_STATIC, ["*Stats", "unsigned int"], set())
    # A global function is verified from this: memory of the pointee's size, not NULL
    # (the caller passes a checked pointer), and the context as `void *` tagged arg:ctx.
    assert _signature(glob, "bump") == (btf.FUNC_GLOBAL, ["*Stats", "unsigned int"],
                                        {"arg:nonnull@0"})
    assert _signature(glob, "fill") == (btf.FUNC_GLOBAL, ["*unsigned char[4]", "unsigned int"],
                                        {"arg:nonnull@0"})
    assert _signature(glob, "ifindex_and_len") == (btf.FUNC_GLOBAL, ["*void"], {"arg:ctx@0"})
    assert _signature(glob, "swap_macs") == (btf.FUNC_GLOBAL, ["*EthHdr"], {"arg:nonnull@0"})


class Limits(bpf.Struct):
    lo: u32
    hi: u32


LIMITS = bpf.Const(Limits, Limits(lo=3, hi=9))


@bpf.func
def width(lim: Limits) -> u32:  # reads only: a bpf.Const may go to a static function
    return lim.hi - lim.lo


@bpf.func
def clear(lim: Limits) -> u32:
    lim.lo = 0  # the verifier refuses this write into .rodata, at this line
    return 0


@bpf.socket_filter
def reads_const(ctx) -> int:
    out[0] = width(LIMITS)
    return 1


@bpf.socket_filter
def writes_const(ctx) -> int:
    out[0] = clear(LIMITS)
    return 1


def test_a_static_function_reading_a_const_runs_and_one_writing_it_is_refused_at_its_line(
) -> None:
    assert reads_const.test_run(b"\0" * 64).retval == 1
    assert out[0] == 6
    reads_const.close()
    with pytest.raises(bpf.VerifierError) as info:
        writes_const.load()
    err = info.value
    assert err.filename == __file__
    assert "lim.lo = 0" in err.source_line
    assert "write into map forbidden" in err.reason


names = bpf.ArrayMap(char[8], max_entries=1)


@bpf.func(linkage="global")
def first_byte(s: char[8]) -> u32:
    return u32(s[0])


@bpf.socket_filter
def global_reads_a_local_array(ctx) -> int:
    s = char[8]()
    s[0] = 65
    return first_byte(s)


def test_global_function_reads_a_local_array() -> None:
    assert global_reads_a_local_array.test_run(b"\0" * 64).retval == 65
    global_reads_a_local_array.close()
