"""Ported from tools/testing/selftests/bpf/progs/bpf_flow.c: IPv6 extension-header walk.

The original flow dissector follows ``nexthdr`` through hop-by-hop, routing and
destination-options headers (length ``(hdrlen + 1) * 8``) and the fragment
header (8 bytes; only the first fragment carries ports), then reads the L4
ports.  Adapted: a tc program instead of a flow dissector (which pyebpf has no
decorator for); a bounded ``for`` loop of at most 6 headers instead of tail calls;
the dissected flow (L4 protocol, ports, header count, fragment flag) goes in a map.
"""

import pyebpf as bpf
from pyebpf import u8, u16, u32
from pyebpf.net import ETH_HLEN, ETH_P_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPv6Hdr, UdpHdr

NEXTHDR_HOP = 0
NEXTHDR_ROUTING = 43
NEXTHDR_FRAGMENT = 44
NEXTHDR_DEST = 60
MAX_EXT = 6


class OptHdr(bpf.Struct):
    nexthdr: u8
    hdrlen: u8


class FragHdr(bpf.Struct):
    nexthdr: u8
    reserved: u8
    frag_off: u16
    identification: u32


class Flow(bpf.Struct):
    ip_proto: u8
    n_ext: u8
    is_frag: u8
    is_first_frag: u8
    sport: u16
    dport: u16
    thoff: u32


flows = bpf.ArrayMap(Flow, max_entries=1)


@bpf.tc
def ipv6_exthdr(ctx) -> int:
    if ctx.protocol != bpf.htons(ETH_P_IPV6):
        return bpf.TC_ACT_OK
    ip6 = ctx.header(IPv6Hdr, ETH_HLEN)
    if ip6 is None:
        return bpf.TC_ACT_SHOT
    flow = Flow()
    nexthdr = ip6.nexthdr
    off: u32 = ETH_HLEN + 40
    for _ in range(MAX_EXT):
        if nexthdr == NEXTHDR_HOP or nexthdr == NEXTHDR_ROUTING or nexthdr == NEXTHDR_DEST:  # noqa: SIM109 (`in` is not in the language)
            opt = ctx.header(OptHdr, off)
            if opt is None:
                return bpf.TC_ACT_SHOT
            nexthdr = opt.nexthdr
            off += (u32(opt.hdrlen) + 1) * 8
            flow.n_ext += 1
        elif nexthdr == NEXTHDR_FRAGMENT:
            frag = ctx.header(FragHdr, off)
            if frag is None:
                return bpf.TC_ACT_SHOT
            nexthdr = frag.nexthdr
            off += 8
            flow.n_ext += 1
            flow.is_frag = 1
            if bpf.ntohs(frag.frag_off) & 0xFFF8 == 0:
                flow.is_first_frag = 1
        else:
            break
    flow.ip_proto = nexthdr
    flow.thoff = off
    if (nexthdr == IPPROTO_UDP or nexthdr == IPPROTO_TCP) and (flow.is_frag == 0 or flow.is_first_frag == 1):  # noqa: SIM109
        ports = ctx.header(UdpHdr, off)  # both start with source, dest
        if ports is None:
            return bpf.TC_ACT_SHOT
        flow.sport = bpf.ntohs(ports.source)
        flow.dport = bpf.ntohs(ports.dest)
    flows[0] = flow
    return bpf.TC_ACT_OK
