"""eth -> IPv6 -> optional hop-by-hop header -> UDP; count by the last byte of daddr."""

import pyebpf as bpf
from pyebpf import net, u8, u32, u64

v6_dst = bpf.ArrayMap(u64, 256)

ETH_P_IPV6 = 0x86DD
IPPROTO_HOPOPTS = 0


class OptHdr(bpf.Struct):
    nexthdr: u8
    hdrlen: u8


@bpf.tc
def ipv6_parse(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(ETH_P_IPV6):
        return bpf.TC_ACT_OK
    ip6 = ctx.header(net.IPv6Hdr, net.ETH_HLEN)
    if ip6 is None:
        return bpf.TC_ACT_OK
    off = u32(net.ETH_HLEN + 40)
    nexthdr = ip6.nexthdr
    if nexthdr == IPPROTO_HOPOPTS:
        o = ctx.header(OptHdr, off)
        if o is None:
            return bpf.TC_ACT_SHOT
        nexthdr = o.nexthdr
        off += (u32(o.hdrlen) + 1) * 8
    if nexthdr != net.IPPROTO_UDP:
        return bpf.TC_ACT_OK
    udp = ctx.header(net.UdpHdr, off)
    if udp is None:
        return bpf.TC_ACT_SHOT
    v = v6_dst.lookup(u32(ip6.daddr[15]))
    if v is not None:
        v[0] += bpf.ntohs(udp.len)
    return bpf.TC_ACT_OK
