"""``@bpf.flow_dissector``: flow keys written by the program, read back through test_run;
and a netns link on a private namespace."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import uuid
from collections.abc import Iterator

import pytest

import pyebpf as bpf
from pyebpf import u32, u64
from pyebpf.net import ETH_P_IP, IPPROTO_TCP, IPPROTO_UDP, IPv4Hdr, UdpHdr

from .netns import ip

BPF_OK, BPF_DROP = 0, 2  # UAPI enum bpf_ret_code
calls = bpf.ArrayMap(u64, max_entries=2)


@bpf.flow_dissector
def dissect(ctx) -> int:
    keys = ctx.flow_keys
    calls.increment(0)
    if keys.n_proto != bpf.htons(ETH_P_IP):
        return BPF_DROP
    nhoff = keys.nhoff
    if nhoff > 256:  # the verifier wants a variable packet offset bounded well below 64 KiB
        return BPF_DROP
    iph = ctx.header(IPv4Hdr, nhoff)
    if iph is None:
        return BPF_DROP
    keys.addr_proto = bpf.htons(ETH_P_IP)
    keys.ip_proto = iph.protocol
    keys.ipv4_src = iph.saddr
    keys.ipv4_dst = iph.daddr
    thoff = nhoff + u32(iph.ver_ihl & 0xF) * 4
    keys.thoff = thoff
    if iph.protocol == IPPROTO_UDP or iph.protocol == IPPROTO_TCP:
        ports = ctx.header(UdpHdr, thoff)  # the ports lead both headers
        if ports is None:
            return BPF_DROP
        keys.sport = ports.source
        keys.dport = ports.dest
    keys.flow_label = 0x12345
    return BPF_OK


def _udp_frame(src: str, dst: str, sport: int, dport: int, proto: int = IPPROTO_UDP,
               ethertype: int = ETH_P_IP) -> bytes:
    eth = b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", ethertype)
    payload = b"flow"
    l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip4 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return eth + ip4 + l4


def test_flow_dissector_fills_the_flow_keys() -> None:
    r = dissect.test_run(_udp_frame("10.1.2.3", "10.4.5.6", 1234, 53))
    assert r.retval == BPF_OK
    keys = bpf.FlowKeys.from_buffer(r.data[: bpf.sizeof(bpf.FlowKeys)])
    assert keys.nhoff == 14 and keys.thoff == 34
    assert keys.ip_proto == IPPROTO_UDP
    assert keys.n_proto == socket.htons(ETH_P_IP) == keys.addr_proto
    assert (keys.sport, keys.dport) == (socket.htons(1234), socket.htons(53))
    assert keys.ipv4_src == int.from_bytes(socket.inet_aton("10.1.2.3"), "little")
    assert keys.ipv4_dst == int.from_bytes(socket.inet_aton("10.4.5.6"), "little")
    assert keys.flow_label == 0x12345


def test_flow_dissector_verdict_for_other_protocols() -> None:
    dissect.load()
    calls[0] = 0
    r = dissect.test_run(_udp_frame("10.1.2.3", "10.4.5.6", 1, 2, ethertype=0x86DD))
    assert r.retval == BPF_DROP
    r = dissect.test_run(_udp_frame("10.1.2.3", "10.4.5.6", 7, 8, proto=IPPROTO_TCP))
    assert r.retval == BPF_OK
    assert calls[0] == 2


def test_flow_dissector_needs_flow_keys_not_skb_fields() -> None:
    @bpf.flow_dissector
    def bad(ctx) -> int:
        return ctx.len

    with pytest.raises(bpf.CompileError) as ei:
        bad.compile()
    assert "test_hooks_more_flow_dissector.py:" in str(ei.value)
    assert "flow_keys" in str(ei.value)


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"pyebpf-fd-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    ip("netns", "add", name)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def test_flow_dissector_attaches_to_a_network_namespace(netns: str) -> None:
    with dissect.attach(netns=netns) as link:
        info = link.info()
        assert info["type"] == 5  # BPF_LINK_TYPE_NETNS
        assert info["attach_type"] == bpf.AttachType.FLOW_DISSECTOR
        assert info["netns_ino"] == os.stat(f"/var/run/netns/{netns}").st_ino
        # One flow dissector per namespace: a second is refused, with the reason.
        with pytest.raises(bpf.AttachError, match="flow dissector"):
            bpf.links.attach_netns(dissect, "flow_dissector", netns)
    with pytest.raises(bpf.AttachError, match="netns="):
        dissect.attach(ifname="lo")
