"""Packet headers, byte order and protocol constants for networking programs.

The header structs have the wire layout (multi-byte fields are in network
byte order, as in the packet: compare them with ``bpf.htons(...)`` or
convert with ``bpf.ntohs(...)``).  The byte-order functions work both in
Python and inside programs (where they compile to a byte swap)::

    eth = ctx.header(net.EthHdr, 0)
    if eth is None:
        return bpf.XDP_PASS
    if eth.proto == bpf.htons(net.ETH_P_IP): ...
"""

from __future__ import annotations

import sys

from .types import Struct, u8, u16, u32

__all__ = [
    "EthHdr", "VlanHdr", "IPv4Hdr", "IPv6Hdr", "TcpHdr", "UdpHdr", "IcmpHdr",
    "htons", "htonl", "ntohs", "ntohl",
    "ETH_P_IP", "ETH_P_IPV6", "ETH_P_ARP", "ETH_P_8021Q", "ETH_P_8021AD", "ETH_HLEN",
    "IPPROTO_ICMP", "IPPROTO_TCP", "IPPROTO_UDP", "IPPROTO_ICMPV6", "IPPROTO_SCTP",
]

# include/uapi/linux/if_ether.h
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_8021Q = 0x8100
ETH_P_IPV6 = 0x86DD
ETH_P_8021AD = 0x88A8
ETH_HLEN = 14
# include/uapi/linux/in.h, in6.h
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58
IPPROTO_SCTP = 132


class EthHdr(Struct):
    """``struct ethhdr``: destination and source MAC, EtherType (network order)."""

    dst: u8[6]
    src: u8[6]
    proto: u16


class VlanHdr(Struct):
    """802.1Q tag following the MAC addresses: TCI and the inner EtherType."""

    tci: u16
    proto: u16


class IPv4Hdr(Struct):
    """``struct iphdr`` without options; ``ver_ihl`` holds version << 4 | IHL (words)."""

    ver_ihl: u8
    tos: u8
    tot_len: u16
    id: u16
    frag_off: u16
    ttl: u8
    protocol: u8
    check: u16
    saddr: u32
    daddr: u32


class IPv6Hdr(Struct):
    """``struct ipv6hdr``."""

    ver_tc_flow: u32
    payload_len: u16
    nexthdr: u8
    hop_limit: u8
    saddr: u8[16]
    daddr: u8[16]


class TcpHdr(Struct):
    """``struct tcphdr``; ``doff_flags`` holds data offset << 12 | flags (network order)."""

    source: u16
    dest: u16
    seq: u32
    ack_seq: u32
    doff_flags: u16
    window: u16
    check: u16
    urg_ptr: u16


class UdpHdr(Struct):
    """``struct udphdr``."""

    source: u16
    dest: u16
    len: u16
    check: u16


class IcmpHdr(Struct):
    """``struct icmphdr`` (echo form)."""

    type: u8
    code: u8
    checksum: u16
    id: u16
    sequence: u16


_LITTLE = sys.byteorder == "little"


def _swap(bits: int):  # type: ignore[no-untyped-def]
    nbytes = bits // 8

    def swap(x: int) -> int:
        x &= (1 << bits) - 1
        return int.from_bytes(x.to_bytes(nbytes, "little"), "big") if _LITTLE else x

    swap.__pyebpf_intrinsic__ = f"bswap{bits}"  # type: ignore[attr-defined]
    return swap


htons = _swap(16)
htons.__name__ = "htons"
htons.__doc__ = "Host to network byte order, 16 bits (a byte swap on little-endian machines)."
ntohs = _swap(16)
ntohs.__name__ = "ntohs"
ntohs.__doc__ = "Network to host byte order, 16 bits."
htonl = _swap(32)
htonl.__name__ = "htonl"
htonl.__doc__ = "Host to network byte order, 32 bits."
ntohl = _swap(32)
ntohl.__name__ = "ntohl"
ntohl.__doc__ = "Network to host byte order, 32 bits."
