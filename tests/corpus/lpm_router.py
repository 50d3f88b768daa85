"""Ported from samples/bpf/xdp_router_ipv4_kern.c (and selftests test_lpm_trie): an LPM route lookup.

The original looks up the destination IPv4 address in a ``BPF_MAP_TYPE_LPM_TRIE``
keyed by ``{prefixlen, addr}`` to find the next hop, rewrites the MACs and
redirects.  Adapted: the route value is a small struct (an action and an ifindex
to count); XDP_DROP for a "blackhole" route, XDP_PASS otherwise; per-route hit
counters instead of the redirect.
"""

import pyebpf as bpf
from pyebpf import u8, u32, u64
from pyebpf.net import ETH_HLEN, ETH_P_IP, EthHdr, IPv4Hdr

ACTION_FORWARD = 1
ACTION_BLACKHOLE = 2


class V4Key(bpf.Struct):
    prefixlen: u32
    addr: u8[4]


class Route(bpf.Struct):
    action: u32
    ifindex: u32


routes = bpf.LpmTrieMap(V4Key, Route, max_entries=64)
hits = bpf.HashMap(u32, u64, max_entries=64)


@bpf.xdp
def lpm_router(ctx) -> int:
    eth = ctx.header(EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(ETH_P_IP):
        return bpf.XDP_PASS
    ip = ctx.header(IPv4Hdr, ETH_HLEN)
    if ip is None:
        return bpf.XDP_DROP
    key = V4Key(prefixlen=32)
    daddr = ip.daddr  # network order: the bytes of the address in memory order
    for i in range(4):
        key.addr[i] = u8(daddr >> (8 * i))
    route = routes.lookup(key)
    if route is None:
        hits.increment(0)
        return bpf.XDP_PASS
    hits.increment(route.ifindex)
    if route.action == ACTION_BLACKHOLE:
        return bpf.XDP_DROP
    return bpf.XDP_PASS
