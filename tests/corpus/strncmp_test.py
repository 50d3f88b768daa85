"""Ported from tools/testing/selftests/bpf/progs/strncmp_test.c: the ``bpf_strncmp`` helper.

The original compares a writable global string ``str`` with a constant target
``"EEEEE"`` via ``bpf_strncmp(str, sizeof(str), target)`` and stores the sign of
the result.  Adapted: the string lives in a map value (pyebpf globals are
integers), the constant target is a ``bpf.Const(char[8])`` in ``.rodata`` (the
helper wants a read-only map value, so a bytes literal on the stack is refused), and the
same comparison is done with pyebpf's own ``==`` and ``startswith`` on char arrays.
"""

import pyebpf as bpf
from pyebpf import char, i64, u64


class Str(bpf.Struct):
    s: char[8]


strings = bpf.ArrayMap(Str, max_entries=1)
cmp_ret = bpf.ArrayMap(u64, max_entries=4)
TARGET = bpf.Const(char[8], b"EEEEE")


@bpf.socket_filter
def do_strncmp(ctx) -> int:
    v = strings.lookup(0)
    if v is None:
        return 0
    mine = char[8]()
    for i in range(8):
        mine[i] = v.s[i]
    r = i64(bpf.strncmp(mine, 8, TARGET))
    cmp_ret[0] = 0 if r == 0 else (1 if r > 0 else 2)
    cmp_ret[1] = 1 if mine == b"EEEEE" else 0
    cmp_ret[2] = 1 if mine.startswith(b"EE") else 0
    return 0
