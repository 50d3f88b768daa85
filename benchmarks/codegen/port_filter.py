"""XDP: drop TCP/UDP to a few blocked ports and a port range."""

import pyebpf as bpf
from pyebpf import net, u16, u32


class Ports(bpf.Struct):
    source: u16
    dest: u16


def blocked(port):
    return port == 22 or port == 23 or port == 25 or port == 3389 or 6000 <= port < 6100


@bpf.xdp
def port_filter(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(net.ETH_P_IP):
        return bpf.XDP_PASS
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.XDP_PASS
    if ip.protocol != net.IPPROTO_TCP and ip.protocol != net.IPPROTO_UDP:
        return bpf.XDP_PASS
    # TCP and UDP both start with the source and destination ports
    l4 = ctx.header(Ports, net.ETH_HLEN + u32(ip.ver_ihl & 0x0F) * 4)
    if l4 is None:
        return bpf.XDP_DROP
    dport = bpf.ntohs(l4.dest)
    return bpf.XDP_DROP if blocked(dport) else bpf.XDP_PASS
