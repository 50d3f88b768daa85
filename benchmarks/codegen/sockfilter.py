"""Socket filter: skb_load_bytes for the protocol and ports; keep UDP to 4242 only."""

import pyebpf as bpf
from pyebpf import net, u8, u16


@bpf.socket_filter
def sockfilter(ctx) -> int:
    proto = u8[1]()
    if bpf.skb_load_bytes(ctx, net.ETH_HLEN + 9, proto) != 0 or proto[0] != net.IPPROTO_UDP:
        return 0
    ports = u16[2]()
    if bpf.skb_load_bytes(ctx, net.ETH_HLEN + 20, ports) != 0:
        return 0
    if bpf.ntohs(ports[1]) != 4242:
        return 0
    return -1
