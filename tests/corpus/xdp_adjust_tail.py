"""Ported from tools/testing/selftests/bpf/progs/test_xdp_adjust_tail_shrink.c and _grow.c.

shrink: a 54-byte packet loses 20 bytes, any other loses 4096 (which fails on short
packets: XDP_DROP).  grow: as in the original a 54-byte packet grows a little and an
oversized request fails; adapted: fixed steps per length (54: +10, 74: +4096 which
must fail, 128: -64) instead of the original's frag-size arithmetic.  The packet length
is ``u64(ctx.data_end) - u64(ctx.data)``.  Verdicts as in the selftest: XDP_TX on
success, XDP_DROP on failure.
"""

import pyebpf as bpf
from pyebpf import u64


@bpf.xdp
def xdp_adjust_tail_shrink(ctx) -> int:
    length = u64(ctx.data_end) - u64(ctx.data)  # pointer - pointer is refused today
    offset = 20 if length == 54 else 4096
    if bpf.xdp_adjust_tail(ctx, -offset) != 0:
        return bpf.XDP_DROP
    return bpf.XDP_TX


@bpf.xdp
def xdp_adjust_tail_grow(ctx) -> int:
    length = u64(ctx.data_end) - u64(ctx.data)  # pointer - pointer is refused today
    offset = 0
    if length == 54:
        offset = 10
    elif length == 74:
        offset = 4096   # far beyond the tailroom: must fail
    elif length == 128:
        offset = -64
    if bpf.xdp_adjust_tail(ctx, offset) != 0:
        return bpf.XDP_DROP
    return bpf.XDP_TX
