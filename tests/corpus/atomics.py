"""Ported from tools/testing/selftests/bpf/progs/atomics.c: atomic fetch ops on globals.

The original runs ``__sync_fetch_and_{add,sub,and,or,xor}``,
``__sync_val_compare_and_swap`` and ``__sync_lock_test_and_set`` on ``.data``
globals (32- and 64-bit) and stores each result in a ``*_result`` global the test
compares.  Adapted: ``bpf.atomic_*`` on ``bpf.Global`` variables; sub is an add of
the negated value (there is no ``atomic_sub``); a socket filter run by test_run
instead of an fentry (which this kernel refuses).
"""

import pyebpf as bpf
from pyebpf import i32, i64, u32, u64

add64_value = bpf.Global(u64, 1)
add64_result = bpf.Global(u64)
add32_value = bpf.Global(u32, 1)
add32_result = bpf.Global(u32)
sub64_value = bpf.Global(i64, 1)
sub64_result = bpf.Global(i64)
and64_value = bpf.Global(u64, 0x0110 << 32)
and64_result = bpf.Global(u64)
or32_value = bpf.Global(u32, 0x110)
or32_result = bpf.Global(u32)
xor64_value = bpf.Global(u64, 0x0110 << 32)
xor64_result = bpf.Global(u64)
cmpxchg64_value = bpf.Global(u64, 1)
cmpxchg64_result_fail = bpf.Global(u64)
cmpxchg64_result_succeed = bpf.Global(u64)
xchg32_value = bpf.Global(i32, 1)
xchg32_result = bpf.Global(i32)


@bpf.socket_filter
def atomics_prog(ctx) -> int:
    add64_result.value = bpf.atomic_add(add64_value, 2)
    add32_result.value = bpf.atomic_add(add32_value, 2)
    sub64_result.value = bpf.atomic_add(sub64_value, i64(-2))
    and64_result.value = bpf.atomic_and(and64_value, 0x011 << 32)
    or32_result.value = bpf.atomic_or(or32_value, 0x011)
    xor64_result.value = bpf.atomic_xor(xor64_value, 0x011 << 32)
    cmpxchg64_result_fail.value = bpf.atomic_cmpxchg(cmpxchg64_value, 0, 3)
    cmpxchg64_result_succeed.value = bpf.atomic_cmpxchg(cmpxchg64_value, 1, 2)
    xchg32_result.value = bpf.atomic_xchg(xchg32_value, 2)
    return 0
