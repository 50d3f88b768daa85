"""Ring buffer and perf buffer readers against real programs.

Every program runs on ``syscalls/sys_enter_getppid`` and ignores other
processes (the machine is shared: KERNEL.md), so the test's own ``getppid()``
calls are the only events.  Each program numbers its events with a counter
in an ArrayMap, so the tests can check the exact sequence.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

import pyebpf as bpf
from pyebpf import char, u32, u64
from pyebpf.events import EventReader

from .cpus import on_cpu

ME = os.getpid()


class Event(bpf.Struct):
    pid: u32
    cpu: u32
    comm: char[16]
    seq: u64


# ---------------------------------------------------------------- programs

seq_ring = bpf.RingBuf(256 * 1024, event=Event)
seq_perf = bpf.PerfEventArray(event=Event)
seq_count = bpf.ArrayMap(u64, 1)


@bpf.tracepoint("syscalls/sys_enter_getppid")
def emit_seq(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != ME:
        return 0
    c = seq_count.lookup(0)
    if c is None:
        return 0
    c[0] += 1
    pid = u32(bpf.get_current_pid_tgid() >> 32)
    cpu = bpf.get_smp_processor_id()
    ev = Event(pid=pid, cpu=cpu, seq=c[0])
    seq_perf.output(ctx, ev)
    e = seq_ring.reserve()
    if e is None:
        return 0
    e.pid = pid
    e.cpu = cpu
    e.seq = c[0]
    bpf.get_current_comm(e.comm)
    seq_ring.submit(e)
    return 0


small_ring = bpf.RingBuf(4096, event=Event)
small_perf = bpf.PerfEventArray(event=Event)
small_stats = bpf.ArrayMap(u64, 2)  # [0] produced, [1] failed reserves


@bpf.tracepoint("syscalls/sys_enter_getppid")
def emit_overload(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != ME:
        return 0
    small_stats.increment(0)
    e = small_ring.reserve()
    if e is None:
        small_stats.increment(1)
    else:
        e.seq = 1
        small_ring.submit(e)
    ev = Event(seq=2)
    small_perf.output(ctx, ev)
    return 0


ring_a = bpf.RingBuf(64 * 1024, event=u64)
ring_b = bpf.RingBuf(64 * 1024, event=u64)
ab_count = bpf.ArrayMap(u64, 1)


@bpf.tracepoint("syscalls/sys_enter_getppid")
def emit_two(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != ME:
        return 0
    c = ab_count.lookup(0)
    if c is None:
        return 0
    c[0] += 1
    if c[0] % 2 == 0:
        ring_a.output(c[0])
    else:
        ring_b.output(c[0])
    return 0


disc_ring = bpf.RingBuf(64 * 1024, event=Event)
disc_count = bpf.ArrayMap(u64, 1)


@bpf.tracepoint("syscalls/sys_enter_getppid")
def emit_discard(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != ME:
        return 0
    c = disc_count.lookup(0)
    if c is None:
        return 0
    c[0] += 1
    e = disc_ring.reserve()
    if e is None:
        return 0
    e.seq = c[0]
    if c[0] % 3 == 0:
        disc_ring.discard(e)
    else:
        disc_ring.submit(e)
    return 0


# ---------------------------------------------------------------- helpers



def trigger(n: int) -> None:
    for _ in range(n):
        os.getppid()


def collect(channel, want: int, timeout: float = 5.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got.extend(channel.poll(timeout=0.2))
    return got


def first_seq(counter) -> int:
    return counter[0] + 1


# ---------------------------------------------------------------- tests


def test_ring_buffer_delivers_the_exact_sequence_in_order():
    n = 3000  # several batches, and more than the 256 KiB ring holds at once: 40 B records
    with emit_seq.attach():
        seq_perf.open()
        start = first_seq(seq_count)
        got = []
        for _ in range(3):
            trigger(n // 3)
            got.extend(collect(seq_ring, n // 3))
    assert [e.seq for e in got] == list(range(start, start + n))
    assert all(e.pid == ME for e in got)
    with open("/proc/self/comm") as f:
        assert {e.comm for e in got} == {f.read().strip()[:15]}
    assert seq_ring.lost == 0
    seq_perf.read_numpy()  # drained, so the next test starts empty


def test_perf_buffer_delivers_the_sequence_in_order_per_cpu():
    n = 1000
    with emit_seq.attach():
        seq_perf.open()
        seq_perf.read_numpy()
        start = first_seq(seq_count)
        with on_cpu(0):
            trigger(n // 2)
        trigger(n - n // 2)  # free to run on any CPU
        got = collect(seq_perf, n)
    seq_ring.read_numpy()
    assert sorted(e.seq for e in got) == list(range(start, start + n))
    per_cpu: dict[int, list[int]] = {}
    for e in got:
        per_cpu.setdefault(e.cpu, []).append(e.seq)
    for seqs in per_cpu.values():
        assert seqs == sorted(seqs)
    assert [e.seq for e in got if e.seq < start + n // 2] == list(range(start, start + n // 2))
    assert seq_perf.lost == 0


def test_read_numpy_returns_the_sequence_as_a_structured_array():
    n = 500
    with emit_seq.attach():
        seq_perf.open()
        seq_ring.read_numpy()
        seq_perf.read_numpy()
        start = first_seq(seq_count)
        with on_cpu(1 % os.cpu_count()):
            trigger(n)
        arr = seq_ring.read_numpy()
        perf_arr = seq_perf.read_numpy()
    assert arr.dtype == Event.dtype
    assert arr["seq"].tolist() == list(range(start, start + n))
    assert (arr["pid"] == ME).all()
    assert perf_arr["seq"].tolist() == list(range(start, start + n))
    assert seq_ring.read_numpy().shape == (0,)


def test_stopping_a_poll_midway_keeps_the_rest_for_the_next_poll():
    with emit_seq.attach():
        seq_ring.read_numpy()
        start = first_seq(seq_count)
        trigger(10)
        first = []
        for ev in seq_ring.poll(timeout=1):
            first.append(ev.seq)
            if len(first) == 3:
                break
        rest = [e.seq for e in seq_ring.poll(timeout=1)]
        seq_perf.read_numpy()
    assert first + rest == list(range(start, start + 10))


def test_consume_calls_back_per_event():
    with emit_seq.attach():
        seq_ring.read_numpy()
        start = first_seq(seq_count)
        trigger(20)
        seen: list[int] = []
        count = seq_ring.consume(lambda ev: seen.append(ev.seq), timeout=1)
        seq_perf.read_numpy()
    assert count == 20 and seen == list(range(start, start + 20))


def test_ring_buffer_overload_produced_equals_received_plus_failed_reserves():
    n = 2000  # a 4 KiB ring holds about 100 records of 40 bytes
    with emit_overload.attach():
        small_perf.open(pages=1)
        small_stats[0] = 0
        small_stats[1] = 0
        with on_cpu(0):
            trigger(n)
        received = len(small_ring.read_numpy())
        produced, failed = small_stats[0], small_stats[1]
        perf_received = len(small_perf.read_numpy())
        # perf: the kernel reports what it dropped in a PERF_RECORD_LOST record written
        # with the next sample that fits, so emit one more once the ring has room.
        with on_cpu(0):
            trigger(1)
        perf_received += len(small_perf.read_numpy())
    assert produced == n
    assert failed > 0 and received > 0
    assert received + failed == produced
    assert small_perf.lost > 0
    assert perf_received + small_perf.lost == produced + 1


def test_several_ring_buffers_on_one_reader():
    n = 400
    with emit_two.attach():
        start = ab_count[0] + 1
        trigger(n)
        with EventReader(ring_a, ring_b) as reader:
            pairs: list = []
            deadline = time.monotonic() + 5
            while len(pairs) < n and time.monotonic() < deadline:
                pairs.extend(reader.poll(timeout=0.2))
            assert reader.lost == 0
    evens = [v for ch, v in pairs if ch is ring_a]
    odds = [v for ch, v in pairs if ch is ring_b]
    want = range(start, start + n)
    assert evens == [v for v in want if v % 2 == 0]
    assert odds == [v for v in want if v % 2 == 1]


def test_one_reader_wakes_up_for_events_from_either_ring():
    with emit_two.attach(), EventReader(ring_a, ring_b) as reader:
        list(reader.poll(timeout=0))
        got: list = []

        def later():
            time.sleep(0.1)
            trigger(1)

        t = threading.Thread(target=later)
        t0 = time.monotonic()
        t.start()
        got.extend(reader.poll(timeout=5))
        waited = time.monotonic() - t0
        t.join()
    assert len(got) == 1 and 0.05 < waited < 4


def test_discarded_records_are_skipped():
    n = 30
    with emit_discard.attach():
        disc_ring.read_numpy()
        start = disc_count[0] + 1
        trigger(n)
        got = [e.seq for e in collect(disc_ring, n - n // 3)]
        trigger(n)
        arr = disc_ring.read_numpy()
    want = [s for s in range(start, start + n) if s % 3]
    assert got == want
    assert arr["seq"].tolist() == [s for s in range(start + n, start + 2 * n) if s % 3]


def test_a_ring_reopened_by_id_yields_bytes():
    with emit_two.attach():
        raw = bpf.Map.from_id(ring_a.id)
        try:
            assert isinstance(raw, bpf.RingBuf) and raw.event_type is None
            list(raw.poll(timeout=0))
            start = ab_count[0] + 1
            trigger(4)
            got = collect(raw, 2)
            with pytest.raises(bpf.MapError, match="event=T"):
                raw.read_numpy()
        finally:
            raw.close()
        ring_b.read_numpy()
    evens = [v for v in range(start, start + 4) if v % 2 == 0]
    assert got == [v.to_bytes(8, "little") for v in evens]


def test_reader_thread_and_map_reads_in_another_thread():
    n = 3000
    received: list[int] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set() or len(received) < n:
            got = seq_ring.consume(lambda ev: received.append(ev.seq), timeout=0.05)
            if stop.is_set() and not got:
                break

    with emit_seq.attach():
        seq_ring.read_numpy()
        seq_perf.open()
        start = first_seq(seq_count)
        t = threading.Thread(target=reader)
        t.start()
        reads = []
        for _ in range(10):
            trigger(n // 10)
            reads.append(seq_count[0])  # map reads while the reader thread runs
        stop.set()
        t.join(10)
        seq_perf.read_numpy()
    assert not t.is_alive()
    assert reads == sorted(reads) and reads[-1] == start + n - 1
    assert received == list(range(start, start + n))


def test_reading_an_unloaded_channel_says_so():
    rb = bpf.RingBuf(4096, event=Event)
    with pytest.raises(bpf.MapError, match="not loaded"):
        list(rb.poll(timeout=0))
