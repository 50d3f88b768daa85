"""``@bpf.lwt_in/lwt_out/lwt_xmit``: programs on a route's lightweight tunnel (``encap bpf``).

A VethPair joins two private namespaces; in A, the route to 10.201.X.0/24
goes through B and carries the program; B owns 10.201.X.5.  Datagrams sent
from A to that address are counted (and dropped on demand) by the program.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

import pyebpf as bpf
from pyebpf import u32, u64
from pyebpf.links import in_netns
from pyebpf.net import IPPROTO_UDP, IPv4Hdr

from .netns import VethPair, ip

BPF_OK, BPF_DROP = 0, 2  # UAPI enum bpf_ret_code
PORT = 4321

stats = bpf.ArrayMap(u64, max_entries=4)
settings = bpf.ArrayMap(u32, max_entries=1)
PACKETS, UDP_TO_PORT, DROPPED = range(3)


@bpf.lwt_xmit
def count_xmit(ctx) -> int:
    stats.increment(PACKETS)
    iph = ctx.header(IPv4Hdr, 0)  # an lwt program's packet starts at the IP header
    if iph is None:
        return BPF_OK
    if iph.protocol == IPPROTO_UDP:
        ports = ctx.header(u32, 20)
        if ports is not None and (ports[0] >> 16) == bpf.htons(PORT):
            stats.increment(UDP_TO_PORT)
    if settings.get(0, 0) == 1:
        stats.increment(DROPPED)
        return BPF_DROP
    return BPF_OK


@bpf.lwt_in
def lwt_in_verdict(ctx) -> int:
    return BPF_DROP if ctx.len > 100 else BPF_OK


@bpf.lwt_out
def lwt_out_proto(ctx) -> int:
    iph = ctx.header(IPv4Hdr, 0)
    if iph is None:
        return BPF_DROP
    return BPF_OK if iph.protocol == IPPROTO_UDP else BPF_DROP


@pytest.fixture
def net() -> Iterator[tuple[VethPair, str, str]]:
    with VethPair() as pair:
        route = f"10.201.{pair.subnet}.0/24"
        target = f"10.201.{pair.subnet}.5"
        ip("addr", "add", f"{target}/32", "dev", "lo", netns=pair.ns_b)
        yield pair, route, target


def _send(pair: VethPair, target: str, count: int) -> tuple[int, int]:
    """Send ``count`` datagrams from A to ``target`` in B; (send errors, datagrams received)."""
    with in_netns(pair.ns_b):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with in_netns(pair.ns_a):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    errors = received = 0
    with rx, tx:
        rx.bind((target, PORT))
        rx.settimeout(0.5)
        for _ in range(count):
            try:
                tx.sendto(b"lwt", (target, PORT))
            except OSError:
                errors += 1
        try:
            while received < count:
                rx.recv(64)
                received += 1
        except TimeoutError:
            pass
    return errors, received


def test_lwt_xmit_counts_and_drops_packets_to_the_route(net: tuple[VethPair, str, str]) -> None:
    pair, route, target = net
    count_xmit.load()
    for k in range(3):
        stats[k] = 0
    settings[0] = 0
    with count_xmit.attach(route=route, dev="veth0", via=pair.addr_b, netns=pair.ns_a) as link:
        assert route in ip("route", "show", route, netns=pair.ns_a)
        assert "encap bpf" in ip("route", "show", route, netns=pair.ns_a)
        assert _send(pair, target, 5) == (0, 5)
        assert [stats[k] for k in range(3)] == [5, 5, 0]
        settings[0] = 1
        _, received = _send(pair, target, 3)  # (sendto may or may not report the drop)
        assert received == 0
        assert [stats[k] for k in range(3)] == [8, 8, 3]
        # Traffic to the peer's own subnet does not take the route.
        assert pair.send_udp(2, port=PORT + 1) == 2
        assert stats[PACKETS] == 8
        # link.update swaps the program in the route: this one drops nothing.
        link.update(_pass_all_xmit())
        assert _send(pair, target, 2) == (0, 2)
        assert stats[PACKETS] == 8
    assert ip("route", "show", route, netns=pair.ns_a).strip() == ""
    settings[0] = 0


def _pass_all_xmit() -> bpf.Program:
    @bpf.lwt_xmit
    def pass_all(ctx) -> int:
        return BPF_OK

    return pass_all.load()


def _frame(length: int, proto: int = IPPROTO_UDP) -> bytes:
    """An Ethernet frame holding an IPv4 packet of ``length`` bytes.  test_run strips the
    Ethernet header for lwt programs: they see the packet from its IP header on."""
    payload = b"x" * (length - 28)
    udp = struct.pack("!HHHH", 1, PORT, 8 + len(payload), 0) + payload
    eth = b"\x02" * 12 + struct.pack("!H", 0x0800)
    return eth + struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 0, 0, 64, proto, 0,
                             socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2")) + udp


def test_lwt_test_run() -> None:
    assert lwt_in_verdict.test_run(_frame(100)).retval == BPF_OK  # ctx.len: the IP packet
    assert lwt_in_verdict.test_run(_frame(101)).retval == BPF_DROP
    assert lwt_out_proto.test_run(_frame(60)).retval == BPF_OK
    assert lwt_out_proto.test_run(_frame(60, proto=6)).retval == BPF_DROP


def test_lwt_attach_arguments(net: tuple[VethPair, str, str]) -> None:
    pair, route, _ = net
    with pytest.raises(bpf.AttachError, match=r"route='10.1.2.0/24', dev="):
        lwt_in_verdict.attach(netns=pair.ns_a)
    with pytest.raises(bpf.AttachError, match=r"take no ifname="):
        lwt_in_verdict.attach(ifname="veth0", route=route)
    with pytest.raises(bpf.AttachError, match="no network interface"):
        lwt_in_verdict.attach(route=route, dev="nope0", netns=pair.ns_a)
    with lwt_in_verdict.attach(route=route, dev="veth0", netns=pair.ns_a), \
            pytest.raises(bpf.AttachError, match="exists already"):
        lwt_out_proto.attach(route=route, dev="veth0", netns=pair.ns_a)


def test_route_message_layout() -> None:
    from pyebpf import netlink

    payload = netlink.route_message("10.1.2.9/24", 7, "10.0.0.2",
                                    netlink.lwt_bpf_encap("lwt_out", 5, "p:1"))
    family, dst_len, _, _, table, proto, scope, rtype, _ = netlink.RTMSG.unpack_from(payload)
    assert (family, dst_len, table, proto, scope, rtype) == (socket.AF_INET, 24, 254, 3, 0, 1)
    attrs = netlink.parse_attrs(payload[netlink.RTMSG.size:])
    assert attrs[netlink.RTA_DST] == socket.inet_aton("10.1.2.0")
    assert attrs[netlink.RTA_OIF] == struct.pack("=I", 7)
    assert attrs[netlink.RTA_GATEWAY] == socket.inet_aton("10.0.0.2")
    assert attrs[netlink.RTA_ENCAP_TYPE][:2] == struct.pack("=H", 6)  # LWTUNNEL_ENCAP_BPF
    hook = netlink.parse_attrs(attrs[netlink.RTA_ENCAP])
    prog = netlink.parse_attrs(hook[2])  # LWT_BPF_OUT
    assert prog == {1: struct.pack("=I", 5), 2: b"p:1\0"}
