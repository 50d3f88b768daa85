"""Arithmetic-heavy: a murmur3-style hash of the 5-tuple picks one of 61 buckets."""

import pyebpf as bpf
from pyebpf import net, u32, u64

buckets = bpf.ArrayMap(u64, 64)


def rotl(x, r):
    return (x << r) | (x >> (32 - r))


def round_(h, k):
    k *= 0xCC9E2D51
    k = rotl(k, 15)
    k *= 0x1B873593
    h ^= k
    h = rotl(h, 13)
    return h * 5 + 0xE6546B64


@bpf.tc
def hash5(ctx) -> int:
    udp = ctx.header(net.UdpHdr, net.ETH_HLEN + 20)
    if udp is None:
        return bpf.TC_ACT_OK
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.TC_ACT_OK
    h = u32(42)
    h = round_(h, ip.saddr)
    h = round_(h, ip.daddr)
    h = round_(h, (u32(udp.source) << 16) | udp.dest)
    h = round_(h, u32(ip.protocol))
    h ^= 16
    h ^= h >> 16
    h *= 0x85EBCA6B
    h ^= h >> 13
    h *= 0xC2B2AE35
    h ^= h >> 16
    v = buckets.lookup(h % 61)
    if v is not None:
        v[0] += 1
    return bpf.TC_ACT_OK
