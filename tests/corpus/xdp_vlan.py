"""Ported from tools/testing/selftests/bpf/progs/test_xdp_vlan.c: VLAN tag rewrite and removal.

``xdp_prog_vlan_change`` parses Ethernet + 802.1Q and changes VLAN id 4011 to
4012 in place (other frames pass untouched); ``xdp_prog_vlan_remove_outer2``
moves the MAC addresses forward over the outer tag and calls
``bpf_xdp_adjust_head(+4)``.  Adapted: the TCI is rewritten keeping PCP/DEI bits;
the removal drops the single/outer tag of any 802.1Q/802.1AD frame.
"""

import pyebpf as bpf
from pyebpf import u8, u16
from pyebpf.net import ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, EthHdr, VlanHdr

TO_VLAN = 4012
FROM_VLAN = 4011
VLAN_VID_MASK = 0x0FFF


@bpf.xdp
def xdp_vlan_change(ctx) -> int:
    eth = ctx.header(EthHdr, 0)
    if eth is None:
        return bpf.XDP_ABORTED
    if eth.proto != bpf.htons(ETH_P_8021Q) and eth.proto != bpf.htons(ETH_P_8021AD):
        return bpf.XDP_PASS
    vlan = ctx.header(VlanHdr, ETH_HLEN)
    if vlan is None:
        return bpf.XDP_ABORTED
    tci = bpf.ntohs(vlan.tci)
    if tci & VLAN_VID_MASK == FROM_VLAN:
        vlan.tci = bpf.htons(u16((tci & ~VLAN_VID_MASK) | TO_VLAN))
    return bpf.XDP_PASS


@bpf.xdp
def xdp_vlan_remove_outer(ctx) -> int:
    eth = ctx.header(EthHdr, 0)
    if eth is None:
        return bpf.XDP_ABORTED
    if eth.proto != bpf.htons(ETH_P_8021Q) and eth.proto != bpf.htons(ETH_P_8021AD):
        return bpf.XDP_PASS
    macs = u8[12]()
    for i in range(6):
        macs[i] = eth.dst[i]
        macs[i + 6] = eth.src[i]
    if bpf.xdp_adjust_head(ctx, 4) != 0:
        return bpf.XDP_ABORTED
    moved = ctx.header(EthHdr, 0)
    if moved is None:
        return bpf.XDP_ABORTED
    for i in range(6):
        moved.dst[i] = macs[i]
        moved.src[i] = macs[i + 6]
    return bpf.XDP_PASS
