"""log2 histogram of packet lengths (branch-free shifts and compares)."""

import pyebpf as bpf
from pyebpf import u32, u64

hist = bpf.ArrayMap(u64, 32)


def log2_u32(v):
    r = u32(v > 0xFFFF) << 4
    v >>= r
    shift = u32(v > 0xFF) << 3
    v >>= shift
    r |= shift
    shift = u32(v > 0xF) << 2
    v >>= shift
    r |= shift
    shift = u32(v > 0x3) << 1
    v >>= shift
    r |= shift
    r |= v >> 1
    return r


@bpf.tc
def histogram(ctx) -> int:
    hist.increment(log2_u32(ctx.len))
    return bpf.TC_ACT_OK
