"""Ported from BCC examples/networking/http_filter/http-parse-simple.c: keep only HTTP packets.

The original socket filter checks Ethernet type IPv4 and protocol TCP, computes
the TCP payload offset from the IP IHL and the TCP data offset, loads the first
bytes of the payload and keeps the packet (-1) when they start with ``HTTP``,
``GET``, ``POST``, ``PUT``, ``DELETE`` or ``HEAD``; anything else is dropped (0).
Adapted: ``bpf.skb_load_bytes`` into a 7-byte local and ``startswith`` instead of
byte-by-byte ``load_byte`` comparisons; offsets count from the network header
(where test_run's and an inet socket's skb data start; the original on an
AF_PACKET socket counts from the MAC header); a kept packet returns ``ctx.len``.
"""

import pyebpf as bpf
from pyebpf import u8, u32
from pyebpf.net import ETH_P_IP, IPPROTO_TCP


@bpf.socket_filter
def http_filter(ctx) -> int:
    if ctx.protocol != bpf.htons(ETH_P_IP):
        return 0
    hdr = u8[20]()
    if bpf.skb_load_bytes(ctx, 0, hdr) != 0:
        return 0
    if hdr[9] != IPPROTO_TCP:
        return 0
    ip_len = u32(hdr[0] & 0x0F) << 2
    doff = u8[1]()
    if bpf.skb_load_bytes(ctx, ip_len + 12, doff) != 0:
        return 0
    tcp_len = u32(doff[0] >> 4) << 2
    payload_off = ip_len + tcp_len
    if payload_off + 7 > ctx.len:
        return 0
    p = u8[7]()
    if bpf.skb_load_bytes(ctx, payload_off, p) != 0:
        return 0
    if p.startswith(b"HTTP") or p.startswith(b"GET") or p.startswith(b"POST"):
        return ctx.len
    if p.startswith(b"PUT") or p.startswith(b"DELETE") or p.startswith(b"HEAD"):
        return ctx.len
    return 0
