"""Packet programs: variable header offsets, in-place rewrites, adjust_head, skb helpers."""

from __future__ import annotations

import struct

import pyebpf as bpf
from pyebpf import net, u8, u16, u32

PORT = 4242


def _packet(ihl: int = 5, dport: int = PORT, payload: bytes = b"hello") -> bytes:
    eth = bytes([2] * 6) + bytes([4] * 6) + struct.pack("!H", net.ETH_P_IP)
    options = b"\x01" * ((ihl - 5) * 4)  # NOP options
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + 8 + len(payload), 1, 0, 64,
                     net.IPPROTO_UDP, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + options
    udp = struct.pack("!HHHH", 1234, dport, 8 + len(payload), 0)
    return eth + ip + udp + payload


@bpf.xdp
def reflect(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None or eth.proto != bpf.htons(net.ETH_P_IP):
        return bpf.XDP_PASS
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None or ip.protocol != net.IPPROTO_UDP:
        return bpf.XDP_PASS
    ihl = u32(ip.ver_ihl & 0x0F)
    if ihl < 5:
        return bpf.XDP_DROP
    udp = ctx.header(net.UdpHdr, net.ETH_HLEN + ihl * 4)  # options make the offset variable
    if udp is None:
        return bpf.XDP_PASS
    if udp.dest != bpf.htons(PORT):
        return bpf.XDP_PASS
    for i in range(6):  # swap the MAC addresses in place
        tmp = eth.dst[i]
        eth.dst[i] = eth.src[i]
        eth.src[i] = tmp
    saddr = ip.saddr
    ip.saddr = ip.daddr
    ip.daddr = saddr
    udp.dest = udp.source
    udp.source = bpf.htons(PORT)
    return bpf.XDP_TX


def test_rewrite_in_place_with_variable_ip_header_length() -> None:
    for ihl in (5, 6, 15):
        pkt = _packet(ihl)
        r = reflect.test_run(pkt)
        assert r.retval == bpf.XDP_TX, ihl
        out = r.data
        assert out[0:6] == bytes([4] * 6) and out[6:12] == bytes([2] * 6)
        ip_len = ihl * 4
        assert out[14 + 12:14 + 16] == bytes([10, 0, 0, 2])  # addresses swapped
        udp = out[14 + ip_len:14 + ip_len + 8]
        assert struct.unpack("!HH", udp[:4]) == (PORT, 1234)
        assert out[14 + ip_len + 8:] == b"hello"
    assert reflect.test_run(_packet(5, dport=80)).retval == bpf.XDP_PASS
    reflect.close()


@bpf.xdp
def strip_vlan_like(ctx) -> int:
    # Drop 4 bytes after the MAC addresses (as when removing a VLAN tag).
    eth = ctx.header(net.EthHdr, 0)
    if eth is None:
        return bpf.XDP_PASS
    dst = u8[12]()
    for i in range(6):
        dst[i] = eth.dst[i]
        dst[i + 6] = eth.src[i]
    if bpf.xdp_adjust_head(ctx, 4) != 0:
        return bpf.XDP_ABORTED
    moved = ctx.header(net.EthHdr, 0)
    if moved is None:
        return bpf.XDP_ABORTED
    for i in range(6):
        moved.dst[i] = dst[i]
        moved.src[i] = dst[i + 6]
    return bpf.XDP_PASS


def test_adjust_head_shrinks_the_packet() -> None:
    pkt = bytes(range(12)) + b"\x81\x00\x00\x07" + struct.pack("!H", 0x0800) + b"payload!!"
    r = strip_vlan_like.test_run(pkt)
    assert r.retval == bpf.XDP_PASS
    assert r.data == bytes(range(12)) + struct.pack("!H", 0x0800) + b"payload!!"
    strip_vlan_like.close()


seen = bpf.ArrayMap(u32, max_entries=2)


@bpf.tc
def load_bytes(ctx) -> int:
    buf = u8[4]()
    if bpf.skb_load_bytes(ctx, 14 + 12, buf) != 0:  # the IPv4 source address
        return bpf.TC_ACT_OK
    seen[0] = (u32(buf[0]) << 24) | (u32(buf[1]) << 16) | (u32(buf[2]) << 8) | u32(buf[3])
    new_port = u16(bpf.htons(9999))
    port = u16[1]()
    port[0] = new_port
    bpf.skb_store_bytes(ctx, 14 + 20 + 2, port, 0)  # the UDP destination port
    return bpf.TC_ACT_OK


def test_skb_load_and_store_bytes() -> None:
    r = load_bytes.test_run(_packet())
    assert seen[0] == 0x0A000001
    assert struct.unpack("!H", r.data[14 + 20 + 2:14 + 20 + 4])[0] == 9999
    load_bytes.close()
