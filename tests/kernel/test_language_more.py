"""Tail calls, atomics and string comparisons, run in the kernel."""

from __future__ import annotations

import os

import pytest

import pyebpf as bpf
from pyebpf import char, i32, u8, u16, u32, u64


class Counter(bpf.Struct):
    hits: u64
    flags: u64
    small: u32
    pad: u32


counters = bpf.ArrayMap(Counter, max_entries=1)
results = bpf.ArrayMap(u64, max_entries=8)


@bpf.socket_filter
def atomics(ctx) -> int:
    c = counters.lookup(0)
    if c is None:
        return 0
    results[0] = bpf.atomic_add(c.hits, 5)  # old value
    bpf.atomic_or(c.flags, 0b1010)
    bpf.atomic_and(c.flags, 0b0110)
    bpf.atomic_xor(c.flags, 0b0001)
    results[1] = bpf.atomic_xchg(c.small, 77)
    results[2] = bpf.atomic_cmpxchg(c.small, 77, 99)  # succeeds: old 77
    results[3] = bpf.atomic_cmpxchg(c.small, 1, 5)  # fails: old 99, unchanged
    return 0


def test_atomics_on_a_map_value() -> None:
    atomics.load()
    counters[0] = Counter(hits=10, flags=0, small=3)
    atomics.test_run(b"\0" * 64)
    c = counters[0]
    assert c.hits == 15 and results[0] == 10
    assert c.flags == ((0b1010 & 0b0110) ^ 0b0001)
    assert results[1] == 3 and results[2] == 77 and results[3] == 99
    assert c.small == 99
    atomics.close()


progs = bpf.ProgArray(4)
tail_seen = bpf.ArrayMap(u64, max_entries=4)


@bpf.socket_filter
def tail_target(ctx) -> int:
    tail_seen.increment(1)
    return 7


@bpf.socket_filter
def tail_entry(ctx) -> int:
    tail_seen.increment(0)
    progs.tail_call(ctx, 2)
    return 1  # reached only when the slot is empty


def test_tail_call_through_prog_array() -> None:
    with bpf.load(tail_entry, tail_target):
        assert tail_entry.test_run(b"\0" * 64).retval == 1  # empty slot: falls through
        progs[2] = tail_target
        assert tail_entry.test_run(b"\0" * 64).retval == 7
        assert tail_seen[0] == 2 and tail_seen[1] == 1
    tail_entry.close()
    tail_target.close()


comm_hits = bpf.ArrayMap(u64, max_entries=4)
MY_TGID = os.getpid()


@bpf.tracepoint("syscalls/sys_enter_getppid")
def by_comm(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != MY_TGID:
        return 0
    comm = char[16]()
    bpf.get_current_comm(comm)
    if comm == COMM:
        comm_hits.increment(0)
    if comm.startswith(PREFIX):
        comm_hits.increment(1)
    if comm == b"no-such-comm":
        comm_hits.increment(2)
    if comm != b"no-such-comm":
        comm_hits.increment(3)
    return 0


with open("/proc/self/comm", "rb") as _f:
    COMM = _f.read().strip()[:15]
PREFIX = COMM[:3]


def test_string_compare_and_startswith() -> None:
    with by_comm.attach():
        for _ in range(3):
            os.getppid()
    assert [comm_hits[i] for i in range(4)] == [3, 3, 0, 3]
    by_comm.close()


LIMIT = bpf.Const(u32, 100)
packets = bpf.Global(u64)
budget = bpf.Global(u64, 1000)


@bpf.socket_filter
def with_globals(ctx) -> int:
    packets.value += 1
    budget.value = budget.value - LIMIT
    return 1 if ctx.len > LIMIT else 0


def test_const_set_per_load_and_globals_shared_with_python() -> None:
    with pytest.raises(bpf.BPFError, match="not a bpf.Const"):
        with_globals.load(constants={"NOPE": 1})
    with_globals.load(constants={"LIMIT": 7})
    assert LIMIT.value == 7
    assert with_globals.test_run(b"\0" * 64).retval == 1  # 50 > 7
    assert packets.value == 1 and budget.value == 993
    packets.value = 40  # written from Python through the mmap, seen by the program
    with_globals.test_run(b"\0" * 64)
    assert packets.value == 41 and budget.value == 986
    with pytest.raises(bpf.BPFError, match="bpf.Const"):
        LIMIT.value = 3
    with_globals.close()


@bpf.socket_filter
def writes_const(ctx) -> int:
    LIMIT.value = 3
    return 0


def test_writing_a_const_in_a_program_is_refused() -> None:
    with pytest.raises(bpf.CompileError, match="read-only"):
        writes_const.compile()


idx_in = bpf.ArrayMap(u64, max_entries=4)
idx_out = bpf.ArrayMap(u64, max_entries=8)


class Slot(bpf.Struct):
    key: u32
    val: u32


@bpf.socket_filter
def variable_index(ctx) -> int:
    squares = u64[8]()
    for i in range(8):
        squares[i] = u64(i) * u64(i)
    j = idx_in.get(0, 0)
    idx_out[0] = squares[j]  # in range: the square
    idx_out[1] = squares[j + 100]  # out of range: 0
    slots = Slot[4]()
    slots[j % 4].val = 9
    slots[j % 4].val += 1
    idx_out[2] = slots[j % 4].val
    idx_out[3] = squares[-1]
    k = i32(idx_in.get(1, 0))  # a negative variable index is out of range too
    idx_out[4] = squares[k] + 1
    return 0


def test_variable_indexes_are_bounds_checked() -> None:
    variable_index.load()
    idx_in[0] = 5
    idx_in[1] = u64(-1 & 0xFFFFFFFFFFFFFFFF)
    variable_index.test_run(b"\0" * 64)
    assert [idx_out[i] for i in range(5)] == [25, 0, 10, 49, 1]
    variable_index.close()


log_in = bpf.ArrayMap(u64, max_entries=8)
log_out = bpf.ArrayMap(u64, max_entries=8)


@bpf.socket_filter
def log2_slots(ctx) -> int:
    for i in range(8):
        log_out[i] = bpf.log2(log_in.get(i, 0))
    return 0


def test_log2_is_the_histogram_slot() -> None:
    log2_slots.load()
    values = [0, 1, 2, 3, 4, 1000, 2**63, 2**64 - 1]
    for i, v in enumerate(values):
        log_in[i] = v
    log2_slots.test_run(b"\0" * 64)
    assert [log_out[i] for i in range(8)] == [v.bit_length() for v in values]
    log2_slots.close()


from pyebpf import net  # noqa: E402

misc = bpf.ArrayMap(u64, max_entries=8)


def swap_macs(eth):  # an inlined function taking a header pointer
    for i in range(6):
        t = eth.dst[i]
        eth.dst[i] = eth.src[i]
        eth.src[i] = t


@bpf.xdp
def language_bits(ctx) -> int:
    misc[0] = u64(ctx.data_end - ctx.data)  # pointer difference
    total = misc.lookup(5)
    if total is not None:
        total[0] += ctx.data_end - ctx.data  # accumulated: LLVM must not fold it into pkt_end
    eth = ctx.header(net.EthHdr, 0)
    if eth is None:
        return bpf.XDP_PASS
    swap_macs(eth)
    words = ctx.header(u16[7], 0)  # an array as a header
    if words is None:
        return bpf.XDP_PASS
    misc[1] = words[6]
    proto = bpf.ntohs(eth.proto)
    misc[2] = 1 if proto in (0x0800, 0x86DD) else 0
    misc[3] = 1 if proto not in (0x0806,) else 0
    name = char[8]()
    name[0] = 69  # "E"
    misc[4] = u64(bpf.strncmp(name, 8, b"E"))  # a string literal goes to .rodata
    return bpf.XDP_TX


def test_pointer_difference_inline_pointer_params_array_headers_in_and_strings() -> None:
    pkt = bytes(range(6)) + bytes(range(10, 16)) + b"\x08\x00" + b"x" * 50
    language_bits.load()
    misc[5] = 1000
    r = language_bits.test_run(pkt)
    assert r.retval == bpf.XDP_TX
    assert r.data[:12] == bytes(range(10, 16)) + bytes(range(6))
    assert [misc[i] for i in range(6)] == [len(pkt), 8, 1, 1, 0, 1000 + len(pkt)]
    language_bits.close()


raw_keys = bpf.HashMap(u32, u64, max_entries=4)


@bpf.socket_filter
def helper_with_int_key(ctx) -> int:
    p = bpf.map_lookup_elem(raw_keys, 3)  # the key is copied to the stack for the helper
    return 0 if p is None else 1


def test_int_key_for_a_map_helper_goes_by_reference() -> None:
    helper_with_int_key.load()
    assert helper_with_int_key.test_run(b"\0" * 64).retval == 0
    raw_keys[3] = 9
    assert helper_with_int_key.test_run(b"\0" * 64).retval == 1
    helper_with_int_key.close()


fifo = bpf.QueueMap(u32, max_entries=8)
lifo = bpf.StackMap(u32, max_entries=8)
seen_ids = bpf.BloomFilterMap(u32, max_entries=64, hashes=3)
qs_out = bpf.ArrayMap(u64, max_entries=8)


@bpf.socket_filter
def queues(ctx) -> int:
    for v in range(3):
        fifo.push(u32(v + 10))
        lifo.push(u32(v + 10))
        seen_ids.push(u32(v + 10))
    qs_out[0] = fifo.pop()  # 10: first in, first out
    qs_out[1] = lifo.pop()  # 12: last in, first out
    qs_out[2] = fifo.peek()  # 11, still queued
    qs_out[3] = 1 if seen_ids.peek(u32(11)) else 0
    qs_out[4] = 1 if seen_ids.peek(u32(99)) else 0  # a bloom filter may say maybe; 99 was not pushed
    qs_out[5] = fifo.pop(7)
    qs_out[6] = fifo.pop(7)
    qs_out[7] = fifo.pop(7)  # empty now: the default
    return 0


def test_queue_stack_and_bloom_filter_kernel_side() -> None:
    queues.test_run(b"\0" * 64)
    assert [qs_out[i] for i in range(4)] == [10, 12, 11, 1]
    assert qs_out[4] in (0, 1)
    assert [qs_out[5], qs_out[6], qs_out[7]] == [11, 12, 7]
    assert 12 in seen_ids  # and Python sees what the program pushed
    assert lifo.pop() == 11  # the user side continues the program's stack
    queues.close()


inner_shape = bpf.ArrayMap(u64, max_entries=4)
tables = bpf.ArrayOfMaps(inner_shape, max_entries=4)
via_inner = bpf.ArrayMap(u64, max_entries=2)


@bpf.socket_filter
def map_in_map(ctx) -> int:
    table = tables.lookup(1)
    if table is None:
        via_inner[0] = 99
        return 0
    v = table.lookup(2)
    if v is not None:
        via_inner[0] = v[0]
    table.increment(3, 5)
    return 0


def test_maps_of_maps_kernel_side_with_inner_maps_swapped_from_python() -> None:
    map_in_map.load()
    map_in_map.test_run(b"\0" * 64)
    assert via_inner[0] == 99  # slot 1 is empty
    first = bpf.ArrayMap(u64, max_entries=4, name="mim_first").create()
    second = bpf.ArrayMap(u64, max_entries=4, name="mim_second").create()
    first[2], second[2] = 42, 7
    tables[1] = first
    map_in_map.test_run(b"\0" * 64)
    assert via_inner[0] == 42 and first[3] == 5
    tables[1] = second  # swap the inner map live
    map_in_map.test_run(b"\0" * 64)
    assert via_inner[0] == 7 and second[3] == 5 and first[3] == 5
    map_in_map.close()
    first.close()
    second.close()


class Addr(bpf.Struct, union=True):
    v4: u32
    v6: u8[16]


class Flow(bpf.Struct):
    family: u16
    addr: Addr


flows = bpf.ArrayMap(Flow, max_entries=2)


@bpf.socket_filter
def unions(ctx) -> int:
    f = Flow(family=2)
    f.addr.v4 = 0x0A000001
    flows[0] = f
    g = Flow(family=10)
    g.addr.v6[15] = 1
    g.addr.v6[0] = 0xFE
    flows[1] = g
    return 0


def test_unions_share_their_bytes() -> None:
    unions.test_run(b"\0" * 64)
    a, b = flows[0], flows[1]
    assert a.family == 2 and a.addr.v4 == 0x0A000001
    assert bytes(a.addr)[:4] == (0x0A000001).to_bytes(4, "little")
    assert b.family == 10 and b.addr.v6[0] == 0xFE and b.addr.v6[15] == 1
    assert Flow.__bpf_type__.size == 20  # u16 + padding + a 16-byte union (align 4)
    unions.close()
