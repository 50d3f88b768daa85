"""Ported from tools/testing/selftests/bpf/progs/bpf_loop.c: the ``bpf_loop`` helper.

The original's ``test_prog`` calls ``bpf_loop(nr_loops, callback, &data, 0)``
where the callback adds its index to ``output`` and stops early when asked; the
test checks ``nr_loops_returned`` and the sum.  Adapted: state lives in
``bpf.Global`` variables (pyebpf callbacks share state through globals); the
program runs under socket-filter test_run instead of a getpid tracepoint.
"""

import pyebpf as bpf
from pyebpf import i64, u32, u64

nr_loops = bpf.Global(u32, 10)
stop_index = bpf.Global(u64, 0xFFFFFFFF)
output = bpf.Global(u64)
nr_loops_returned = bpf.Global(u64)


@bpf.func
def callback(index: u64, ctx) -> i64:
    output.value += index
    if index == stop_index.value:
        return 1
    return 0


@bpf.socket_filter
def bpf_loop_prog(ctx) -> int:
    output.value = 0
    nr_loops_returned.value = u64(bpf.loop(nr_loops.value, callback))
    return 0
