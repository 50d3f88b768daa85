"""Ported from tools/testing/selftests/bpf/progs/test_global_data.c: .rodata/.data/.bss globals.

The original declares numbers and a struct in ``.bss``, ``.data`` and
``.rodata`` (``const volatile``), and a tc program copies each into result
arrays for the test to compare.  Adapted: integer ``bpf.Const`` globals (set per
load) and ``bpf.Global`` (.data with a default, .bss without), copied into an
array map; the program also bumps a global counter read back from Python.
"""

import pyebpf as bpf
from pyebpf import u8, u16, u32, u64

num0 = bpf.Global(u64)                    # .bss
num1 = bpf.Global(u64, 42)                # .data
num2 = bpf.Global(u64, 0xFFFF0000FFFF0000)
num3 = bpf.Global(u8, 0xE)
num4 = bpf.Global(u16, 0xBEEF)
num5 = bpf.Const(u32, 0xAB)               # .rodata
num6 = bpf.Const(u64, 1234)
runs = bpf.Global(u64)

result_number = bpf.ArrayMap(u64, max_entries=8)


@bpf.tc
def load_static_data(ctx) -> int:
    result_number[0] = num0.value
    result_number[1] = num1.value
    result_number[2] = num2.value
    result_number[3] = num3.value
    result_number[4] = num4.value
    result_number[5] = num5
    result_number[6] = num6
    runs.value += 1
    return 0
