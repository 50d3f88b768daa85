"""Per-destination flow stats in a hash map of structs, updated in place."""

import pyebpf as bpf
from pyebpf import net, u8, u32, u64


class Flow(bpf.Struct):
    packets: u64
    bytes: u64
    last_len: u32
    max_len: u32
    last_ttl: u8
    pad: u8[7]


flows = bpf.HashMap(u32, Flow, max_entries=1024)


@bpf.tc
def struct_update(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(net.ETH_P_IP):
        return bpf.TC_ACT_OK
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.TC_ACT_OK
    key = ip.daddr
    n = ctx.len
    f = flows.lookup(key)
    if f is None:
        flows.update(key, Flow(packets=1, bytes=n, last_len=n, max_len=n, last_ttl=ip.ttl),
                     bpf.BPF_NOEXIST)
        return bpf.TC_ACT_OK
    f.packets += 1
    f.bytes += n
    f.last_len = n
    if n > f.max_len:
        f.max_len = n
    f.last_ttl = ip.ttl
    return bpf.TC_ACT_OK
