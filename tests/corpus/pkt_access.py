"""Ported from tools/testing/selftests/bpf/progs/test_pkt_access.c: direct packet access.

The original parses Ethernet, then IPv4 (with its IHL) or IPv6, finds the TCP
header and checks ``tcp->urg_ptr == 123`` (TC_ACT_OK) or else returns
TC_ACT_SHOT; non-TCP packets are TC_ACT_UNSPEC.  Adapted: it also records the
IP version and the TCP destination port seen last in an array (for the test),
the original compares ``urg_ptr`` in host order (its test packet stores it so),
here it is read with ``ntohs`` from a wire-order packet; the original's
static/global subprogram checks live in ``subprogs.py``.
"""

import pyebpf as bpf
from pyebpf import u8, u32, u64
from pyebpf.net import ETH_HLEN, ETH_P_IP, ETH_P_IPV6, IPPROTO_TCP, EthHdr, IPv4Hdr, IPv6Hdr, TcpHdr

TC_ACT_UNSPEC = -1
seen = bpf.ArrayMap(u64, max_entries=2)


@bpf.tc
def test_pkt_access(ctx) -> int:
    eth = ctx.header(EthHdr, 0)
    if eth is None:
        return bpf.TC_ACT_SHOT
    ihl_len: u32 = 0
    proto: u8 = 0
    version: u64 = 0
    if eth.proto == bpf.htons(ETH_P_IP):
        iph = ctx.header(IPv4Hdr, ETH_HLEN)
        if iph is None:
            return bpf.TC_ACT_SHOT
        ihl_len = u32(iph.ver_ihl & 0x0F) * 4
        proto = iph.protocol
        version = 4
    elif eth.proto == bpf.htons(ETH_P_IPV6):
        ip6h = ctx.header(IPv6Hdr, ETH_HLEN)
        if ip6h is None:
            return bpf.TC_ACT_SHOT
        ihl_len = 40
        proto = ip6h.nexthdr
        version = 6
    if proto != IPPROTO_TCP:
        return TC_ACT_UNSPEC
    if ihl_len < 20 or ihl_len > 60:
        return bpf.TC_ACT_SHOT
    tcp = ctx.header(TcpHdr, ETH_HLEN + ihl_len)
    if tcp is None:
        return bpf.TC_ACT_SHOT
    seen[0] = version
    seen[1] = bpf.ntohs(tcp.dest)
    if bpf.ntohs(tcp.urg_ptr) == 123:
        return bpf.TC_ACT_OK
    return bpf.TC_ACT_SHOT
