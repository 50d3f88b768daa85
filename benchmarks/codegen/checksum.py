"""Ones'-complement sum of the first 64 payload bytes after eth+IPv4+UDP, folded."""

import pyebpf as bpf
from pyebpf import net, u16, u32


class Payload(bpf.Struct):
    w: u16[32]


@bpf.tc
def checksum(ctx) -> int:
    p = ctx.header(Payload, net.ETH_HLEN + 20 + 8)
    if p is None:
        return bpf.TC_ACT_OK
    s: u32 = 0
    for i in range(32):
        s += p.w[i]
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    ctx.mark = ~s & 0xFFFF
    return bpf.TC_ACT_OK
