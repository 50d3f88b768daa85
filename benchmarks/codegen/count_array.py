"""Packets and bytes per IP protocol in an array map, updated in place."""

import pyebpf as bpf
from pyebpf import net, u32, u64

proto_bytes = bpf.ArrayMap(u64, 256)


@bpf.tc
def count_array(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(net.ETH_P_IP):
        return bpf.TC_ACT_OK
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.TC_ACT_OK
    p = proto_bytes.lookup(u32(ip.protocol))
    if p is not None:
        p[0] += ctx.len
    return bpf.TC_ACT_OK
