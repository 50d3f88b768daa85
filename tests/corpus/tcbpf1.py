"""Ported from samples/bpf/tcbpf1_kern.c: rewrite the IPv4 TOS and the TCP destination port.

The original (``bpf_prog1``) sets ``skb->mark``, rewrites the IP TOS byte with
``bpf_skb_store_bytes`` + ``bpf_l3_csum_replace``, and its ``redirect_xmit``
companions rewrite the TCP destination port with ``bpf_l4_csum_replace``.
Adapted: one tc program does all three on IPv4/TCP packets (TOS := 8,
dport := 5555) and keeps the checksums right; other packets are left alone.
"""

import pyebpf as bpf
from pyebpf import u8, u16
from pyebpf.net import ETH_HLEN, ETH_P_IP, IPPROTO_TCP, IPv4Hdr, TcpHdr

IP_CSUM_OFF = ETH_HLEN + 10
TOS_OFF = ETH_HLEN + 1
TCP_CSUM_OFF = ETH_HLEN + 20 + 16
TCP_DPORT_OFF = ETH_HLEN + 20 + 2
NEW_TOS = 8
NEW_PORT = 5555
BPF_F_PSEUDO_HDR = 0x10


@bpf.tc(direction="egress")
def tcbpf1(ctx) -> int:
    ctx.mark = 0x1234
    if ctx.protocol != bpf.htons(ETH_P_IP):
        return bpf.TC_ACT_OK
    ip = ctx.header(IPv4Hdr, ETH_HLEN)
    if ip is None or ip.protocol != IPPROTO_TCP or ip.ver_ihl != 0x45:
        return bpf.TC_ACT_OK
    old_tos = u16(ip.tos)
    tcp = ctx.header(TcpHdr, ETH_HLEN + 20)
    if tcp is None:
        return bpf.TC_ACT_OK
    old_port = tcp.dest
    # set_ip_tos(): the checksum covers the 16-bit word holding version/ihl and tos.
    bpf.l3_csum_replace(ctx, IP_CSUM_OFF, bpf.htons(old_tos), bpf.htons(NEW_TOS), 2)
    tos = u8[1]()
    tos[0] = NEW_TOS
    bpf.skb_store_bytes(ctx, TOS_OFF, tos, 0)
    # set_tcp_dest_port()
    new_port = u16(bpf.htons(NEW_PORT))
    bpf.l4_csum_replace(ctx, TCP_CSUM_OFF, old_port, new_port, 2)
    port = u16[1]()
    port[0] = new_port
    bpf.skb_store_bytes(ctx, TCP_DPORT_OFF, port, 0)
    return bpf.TC_ACT_OK
