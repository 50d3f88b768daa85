"""Ported from samples/bpf/xdp2_kern.c: swap source and destination MAC, bounce with XDP_TX.

The original counts per protocol like xdp1 and calls ``swap_src_dst_mac`` on
every IPv4/IPv6 packet before XDP_TX.  Adapted: the swap is a plain Python
loop over the six bytes written inline instead of three u16 stores;
non-IP packets pass.
"""

import pyebpf as bpf
from pyebpf import u64
from pyebpf.net import ETH_P_IP, ETH_P_IPV6, EthHdr

txcnt = bpf.ArrayMap(u64, max_entries=2)


@bpf.xdp
def xdp2(ctx) -> int:
    eth = ctx.header(EthHdr, 0)
    if eth is None:
        return bpf.XDP_DROP
    if eth.proto == bpf.htons(ETH_P_IP):
        txcnt.increment(0)
    elif eth.proto == bpf.htons(ETH_P_IPV6):
        txcnt.increment(1)
    else:
        return bpf.XDP_PASS
    for i in range(6):  # swap_src_dst_mac(), inline: functions cannot take pointers yet
        tmp = eth.dst[i]
        eth.dst[i] = eth.src[i]
        eth.src[i] = tmp
    return bpf.XDP_TX
