"""Packet tests' shared matchers: plain functions the compiler inlines into each program."""

from __future__ import annotations

import pyebpf as bpf
from pyebpf import net


def tc_udp_to(ctx, port):  # noqa: ANN001, ANN201 - typed by each call when inlined
    """1 when a TC program's packet is IPv4 UDP to ``port`` (no IP options), else 0."""
    if ctx.protocol != bpf.htons(net.ETH_P_IP):
        return 0
    udp = ctx.header(net.UdpHdr, net.ETH_HLEN + 20)
    if udp is None:
        return 0
    return 1 if udp.dest == bpf.htons(port) else 0


def xdp_udp_to(ctx, port):  # noqa: ANN001, ANN201
    """1 when an XDP program's packet is IPv4 UDP to ``port`` (no IP options), else 0."""
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(net.ETH_P_IP):
        return 0
    udp = ctx.header(net.UdpHdr, net.ETH_HLEN + 20)
    if udp is None:
        return 0
    return 1 if udp.dest == bpf.htons(port) else 0
