"""Overloaded event channels: every produced event is received or counted lost, exactly.

The program runs on ``syscalls/sys_enter_getppid`` for this process only and
counts what it produced (and, for the ring buffer, its failed reserves), so
the tests compare the reader's figures with the program's.  Nothing is
emitted after the producer stops: the final drain alone must account for
the perf rings' pending losses, which the kernel reports only in a
``PERF_RECORD_LOST`` record written ahead of a later record.
"""

from __future__ import annotations

import os
import threading

import pyebpf as bpf
from pyebpf import u32, u64

from .cpus import on_cpu

ME = os.getpid()
CPUS = sorted(os.sched_getaffinity(0))


class Event(bpf.Struct):
    seq: u64
    cpu: u32
    pad: u32
    ts: u64
    arg: u64


perf = bpf.PerfEventArray(event=Event)
ring = bpf.RingBuf(4096, event=Event)  # about 100 records of 40 bytes
stats = bpf.ArrayMap(u64, 3)  # [0] perf samples produced, [1] ring produced, [2] failed reserves


@bpf.tracepoint("syscalls/sys_enter_getppid")
def to_perf(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != ME:
        return 0
    stats.increment(0)
    perf.output(ctx, Event(seq=1, cpu=bpf.get_smp_processor_id(), ts=bpf.ktime_get_ns()))
    return 0


@bpf.tracepoint("syscalls/sys_enter_getppid")
def to_ring(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != ME:
        return 0
    stats.increment(1)
    e = ring.reserve()
    if e is None:
        stats.increment(2)
        return 0
    e.seq = 1
    e.cpu = bpf.get_smp_processor_id()
    ring.submit(e)
    return 0



def produce_on_every_cpu(calls: int) -> None:
    for cpu in CPUS:
        with on_cpu(cpu):
            for _ in range(calls):
                os.getppid()


def reset() -> None:
    for i in range(3):
        stats[i] = 0


def test_perf_overload_with_wakeup_batches_accounts_every_sample_after_one_drain():
    # 4 KiB per CPU holds about 85 samples of 48 bytes: 3000 per CPU overflow every ring,
    # and wakeup_events=16 leaves rings the reader is never woken for.
    with to_perf.attach():
        perf.open(pages=1, wakeup_events=16)
        perf.read_numpy()
        reset()
        lost0 = perf.lost
        produce_on_every_cpu(3000)
        produced = stats[0]
        received = len(perf.read_numpy())  # one drain; no sample emitted after the producer
        lost = perf.lost - lost0
    assert produced == 3000 * len(CPUS)
    assert received > 0 and lost > 0
    assert received + lost == produced


def test_perf_overload_read_while_producing_then_drained_is_exact():
    with to_perf.attach():
        perf.open(pages=1, wakeup_events=16)
        perf.read_numpy()
        reset()
        lost0 = perf.lost
        received = 0
        for _ in range(5):
            produce_on_every_cpu(500)
            received += sum(1 for _ in perf.poll(timeout=0))
        produced = stats[0]
        received += len(perf.read_numpy())
        lost = perf.lost - lost0
    assert produced == 2500 * len(CPUS)
    assert lost > 0
    assert received + lost == produced


def test_small_ring_read_by_a_thread_while_producing_is_exact():
    received = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal received
        while not stop.is_set():
            received += len(ring.read_numpy(timeout=0.01))

    with to_ring.attach():
        ring.read_numpy()
        reset()
        t = threading.Thread(target=reader)
        t.start()
        try:
            produce_on_every_cpu(5000)
        finally:
            stop.set()
            t.join(10)
        received += len(ring.read_numpy())
        produced, failed = stats[1], stats[2]
    assert not t.is_alive()
    assert produced == 5000 * len(CPUS)
    assert received > 0
    assert received + failed == produced
