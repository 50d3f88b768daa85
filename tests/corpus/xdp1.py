"""Ported from samples/bpf/xdp1_kern.c: count packets per IP protocol, then drop them.

The original parses Ethernet, up to two VLAN tags (802.1Q / 802.1AD), then IPv4
or IPv6 and counts into a per-CPU array indexed by the L4 protocol number,
returning XDP_DROP.  Adapted: the VLAN walk is an explicit two-step loop over
``ctx.header(VlanHdr, off)``; the verdict is a ``bpf.Const`` (XDP_DROP by
default, as in the original) so a load can make it XDP_PASS.
"""

import pyebpf as bpf
from pyebpf import u32, u64
from pyebpf.net import (
    ETH_HLEN,
    ETH_P_8021AD,
    ETH_P_8021Q,
    ETH_P_IP,
    ETH_P_IPV6,
    EthHdr,
    IPv4Hdr,
    IPv6Hdr,
    VlanHdr,
)

rxcnt = bpf.PerCpuArrayMap(u64, max_entries=256)
VERDICT = bpf.Const(u32, bpf.XDP_DROP)


@bpf.xdp
def xdp1(ctx) -> int:
    eth = ctx.header(EthHdr, 0)
    if eth is None:
        return VERDICT
    off: u32 = ETH_HLEN
    proto = eth.proto
    for _ in range(2):
        if proto != bpf.htons(ETH_P_8021Q) and proto != bpf.htons(ETH_P_8021AD):
            break
        vh = ctx.header(VlanHdr, off)
        if vh is None:
            return VERDICT
        proto = vh.proto
        off += 4
    ipproto: u32 = 0
    if proto == bpf.htons(ETH_P_IP):
        ip = ctx.header(IPv4Hdr, off)
        if ip is None:
            return VERDICT
        ipproto = ip.protocol
    elif proto == bpf.htons(ETH_P_IPV6):
        ip6 = ctx.header(IPv6Hdr, off)
        if ip6 is None:
            return VERDICT
        ipproto = ip6.nexthdr
    rxcnt.increment(ipproto)
    return VERDICT
