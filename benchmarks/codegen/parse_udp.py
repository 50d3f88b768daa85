"""eth -> IPv4 (variable IHL) -> UDP; drop DNS/NTP, mark the rest with the source port."""

import pyebpf as bpf
from pyebpf import net, u32


@bpf.tc
def parse_udp(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(net.ETH_P_IP):
        return bpf.TC_ACT_OK
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None or ip.protocol != net.IPPROTO_UDP:
        return bpf.TC_ACT_OK
    ihl = u32(ip.ver_ihl & 0x0F)
    if ihl < 5:
        return bpf.TC_ACT_SHOT
    udp = ctx.header(net.UdpHdr, net.ETH_HLEN + ihl * 4)
    if udp is None:
        return bpf.TC_ACT_OK
    if udp.dest == bpf.htons(53) or udp.dest == bpf.htons(123):
        return bpf.TC_ACT_SHOT
    ctx.mark = bpf.ntohs(udp.source)
    return bpf.TC_ACT_OK
