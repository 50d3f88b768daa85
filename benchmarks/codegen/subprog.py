"""A BPF-to-BPF call (not inlined), called twice: mixes addresses and ports into the mark."""

import pyebpf as bpf
from pyebpf import net, u32


@bpf.func
def mix(a: u32, b: u32) -> u32:
    a ^= b
    a *= 0x85EBCA6B
    a ^= a >> 13
    return a


@bpf.tc
def subprog(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(net.ETH_P_IP):
        return bpf.TC_ACT_OK
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.TC_ACT_OK
    udp = ctx.header(net.UdpHdr, net.ETH_HLEN + 20)
    if udp is None:
        return bpf.TC_ACT_OK
    h = mix(ip.saddr, ip.daddr)
    h = mix(h, (u32(udp.source) << 16) | udp.dest)
    ctx.mark = h
    return bpf.TC_ACT_OK
