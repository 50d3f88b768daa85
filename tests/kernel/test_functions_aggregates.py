"""Plain (inlined) functions that return structs and arrays, run in the kernel."""

from __future__ import annotations

import struct

import pyebpf as bpf
from pyebpf import char, net, u8, u32, u64


class FlowKey(bpf.Struct):
    saddr: u32
    daddr: u32
    proto: u8
    tag: u8[3]  # a struct containing an array


class Inner(bpf.Struct):
    lo: u32
    hi: u32


class Outer(bpf.Struct):
    id: u32
    inner: Inner


flows = bpf.HashMap(FlowKey, u64, max_entries=16)
seen = bpf.ArrayMap(u64, max_entries=8)
tags = bpf.ArrayMap(u8[3], max_entries=2)
outers = bpf.ArrayMap(Outer, max_entries=1)
inners = bpf.ArrayMap(Inner, max_entries=4)
calls = bpf.ArrayMap(u64, max_entries=1)


def make_key(ip) -> FlowKey:  # the annotation is checked against every return
    k = FlowKey()
    k.saddr = bpf.ntohl(ip.saddr)
    k.daddr = bpf.ntohl(ip.daddr)
    k.proto = ip.protocol
    k.tag[0] = 0xAB
    return k


def reversed_key(k):  # takes a struct (by address), returns a new one
    r = FlowKey(saddr=k.daddr, daddr=k.saddr, proto=k.proto)
    r.tag[0] = k.tag[0] + 1
    return r


def key_sum(k):
    return k.saddr + k.daddr + k.proto


def tag_of(x):  # an array result
    t = u8[3]()
    t[0] = u8(x)
    t[2] = u8(x >> 8)
    return t


def pick(x):  # several returns: a constructor, a local, a parameter's struct field
    if x == 1:
        return Inner(lo=10, hi=11)
    if x == 2:
        local = Inner(lo=20)
        local.hi = 21
        return local
    o = outers.lookup(0)
    if o is None:
        return Inner()
    return o.inner


def counted(x):  # a side effect, to see when the call runs
    calls.increment(0)
    return Inner(lo=x, hi=x + 1)


@bpf.xdp
def flow_keys(ctx) -> int:
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.XDP_ABORTED
    flows[make_key(ip)] = 1  # a map key straight from the call
    key = make_key(ip)  # a local
    p = flows.lookup(make_key(ip))
    if p is not None:
        p[0] += 10
    flows[reversed_key(key)] = 2  # passed on to another inlined function
    seen[0] = key_sum(make_key(ip))
    seen[1] = reversed_key(make_key(ip)).tag[0]  # a field of a result
    tags[0] = tag_of(0x1234)
    return bpf.XDP_PASS


@bpf.socket_filter
def several_returns(ctx) -> int:
    for i in range(3):
        inners[i + 1] = pick(u32(i + 1))
    c = pick(u32(2))
    inners[0] = c
    n = ctx.len  # 50 for a 64-byte test packet
    seen[2] = counted(n).hi if n > 100 else 7  # the call runs only when its branch does
    seen[3] = counted(n).hi if n < 100 else 7
    return 0


def test_struct_results_as_keys_locals_and_arguments() -> None:
    eth = b"\x00" * 12 + b"\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20, 0, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    assert flow_keys.test_run(eth + ip + b"\0" * 16).retval == bpf.XDP_PASS
    fwd = FlowKey(saddr=0x0A000001, daddr=0x0A000002, proto=17, tag=[0xAB, 0, 0])
    back = FlowKey(saddr=0x0A000002, daddr=0x0A000001, proto=17, tag=[0xAC, 0, 0])
    assert dict(flows.items()) == {fwd: 11, back: 2}
    assert seen[0] == 0x0A000001 + 0x0A000002 + 17
    assert seen[1] == 0xAC
    assert list(tags[0]) == [0x34, 0, 0x12]
    flow_keys.close()


def test_several_returns_and_a_parameters_struct_field() -> None:
    several_returns.load()
    outers[0] = Outer(id=1, inner=Inner(lo=30, hi=31))
    several_returns.test_run(b"\0" * 64)
    assert [(inners[i].lo, inners[i].hi) for i in range(4)] == [
        (20, 21), (10, 11), (20, 21), (30, 31)]
    assert (seen[2], seen[3]) == (7, 51)
    assert calls[0] == 1  # counted() ran once: in the taken branch only
    several_returns.close()


def name_of(x) -> char[8]:
    if x:
        return b"yes"  # a bytes literal fills the declared char array
    return b"no"


names = bpf.ArrayMap(char[8], max_entries=2)


@bpf.socket_filter
def char_results(ctx) -> int:
    names[0] = name_of(ctx.len)
    names[1] = name_of(ctx.len * 0)
    return 0


def test_char_array_result_from_bytes_literals() -> None:
    char_results.test_run(b"\0" * 64)
    assert (names[0], names[1]) == ("yes", "no")
    char_results.close()
