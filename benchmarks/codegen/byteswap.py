"""Byte swaps: addresses and ports to host order, combined, stored in an array."""

import pyebpf as bpf
from pyebpf import net, u32, u64

host_order = bpf.ArrayMap(u64, 4)


@bpf.tc
def byteswap(ctx) -> int:
    udp = ctx.header(net.UdpHdr, net.ETH_HLEN + 20)
    if udp is None:
        return bpf.TC_ACT_OK
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)  # covered by the check above
    if ip is None:
        return bpf.TC_ACT_OK
    s = bpf.ntohl(ip.saddr)
    d = bpf.ntohl(ip.daddr)
    ports = (u32(bpf.ntohs(udp.source)) << 16) | bpf.ntohs(udp.dest)
    v = host_order.lookup(0)
    if v is None:
        return bpf.TC_ACT_OK
    v[0] = (u64(s) << 32) | d
    ctx.mark = ports ^ bpf.ntohs(ip.tot_len)
    return bpf.TC_ACT_OK
