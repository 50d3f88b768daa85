"""Bytes per IP protocol in a per-CPU hash map: update in place, or insert."""

import pyebpf as bpf
from pyebpf import net, u32, u64

proto_pcpu = bpf.PerCpuHashMap(u32, u64, max_entries=256)


@bpf.tc
def count_percpu(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(net.ETH_P_IP):
        return bpf.TC_ACT_OK
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.TC_ACT_OK
    key = u32(ip.protocol)
    p = proto_pcpu.lookup(key)
    if p is not None:
        p[0] += ctx.len
    else:
        proto_pcpu[key] = u64(ctx.len)
    return bpf.TC_ACT_OK
