"""Ported from tools/testing/selftests/bpf/progs/test_ringbuf.c: reserve/submit/discard/output.

The original, on ``sys_enter_getpgid`` of the test's pid, reserves a sample,
fills pid/seq/value, and submits or discards it by a ``flags`` input; it also
copies a sample with ``bpf_ringbuf_output``, and keeps ``total``/``discarded``
counters.  Adapted: inputs (the value, "discard every Nth") live in an array map
instead of ``.bss`` globals; the sequence counter is a ``bpf.Global``.
"""

import pyebpf as bpf
from pyebpf import u32, u64

PID = bpf.Const(u32, 0)


class Sample(bpf.Struct):
    pid: u32
    seq: u32
    value: u64


ringbuf = bpf.RingBuf(64 * 1024, event=Sample)
inputs = bpf.ArrayMap(u64, max_entries=2)  # [0] value, [1] discard when seq % this == 0
seq = bpf.Global(u64)
total = bpf.Global(u64)
discarded = bpf.Global(u64)
copied = bpf.Global(u64)


@bpf.tracepoint("syscalls/sys_enter_getpgid")
def test_ringbuf(ctx) -> int:
    if u32(bpf.get_current_pid_tgid() >> 32) != PID:
        return 0
    s = ringbuf.reserve()
    if s is None:
        return 0
    n = bpf.atomic_add(seq, 1)
    s.pid = PID
    s.seq = u32(n)
    s.value = inputs.get(0, 0)
    every = inputs.get(1, 0)
    total.value += 1
    if every != 0 and n % every == 0:
        discarded.value += 1
        ringbuf.discard(s)
        copy = Sample(pid=PID, seq=u32(n), value=0xDEAD)  # the copying path instead
        if ringbuf.output(copy) == 0:
            copied.value += 1
        return 0
    ringbuf.submit(s)
    return 0
