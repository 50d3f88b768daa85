"""Packets per IPv4 source address in a hash map (atomic add, or insert)."""

import pyebpf as bpf
from pyebpf import net, u32, u64

by_source = bpf.HashMap(u32, u64, max_entries=1024)


@bpf.tc
def count_hash(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(net.ETH_P_IP):
        return bpf.TC_ACT_OK
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.TC_ACT_OK
    by_source.increment(ip.saddr)
    return bpf.TC_ACT_OK
