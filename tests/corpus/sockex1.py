"""Ported from samples/bpf/sockex1_kern.c: a socket filter summing bytes per IP protocol.

The original reads the protocol byte with ``load_byte(skb, ETH_HLEN +
offsetof(struct iphdr, protocol))``, adds ``skb->len`` for outgoing packets
(``skb->pkt_type == PACKET_OUTGOING``) into an array indexed by protocol, and keeps the
packet.  Adapted: ``bpf.skb_load_bytes`` replaces the legacy ``load_byte``, with
offsets from the network header (where an inet socket's, and test_run's, skb
data starts; the original sits on an AF_PACKET socket, which sees the MAC header); all
packets are counted (test_run packets are not outgoing), packet count and bytes
kept separately.
"""

import pyebpf as bpf
from pyebpf import u8, u64

my_map = bpf.ArrayMap(u64, max_entries=256)
pkts = bpf.ArrayMap(u64, max_entries=256)


@bpf.socket_filter
def sockex1(ctx) -> int:
    proto = u8[1]()
    if bpf.skb_load_bytes(ctx, 9, proto) != 0:
        return 0
    my_map.increment(proto[0], ctx.len)
    pkts.increment(proto[0])
    return ctx.len
