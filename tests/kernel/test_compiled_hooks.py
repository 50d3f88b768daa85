"""Programs written in Python, compiled by pyebpf, attached to real hooks and triggered."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import time

import pyebpf as bpf
from pyebpf import net, u32, u64

from .netns import VethPair

PORT = 4242

# ---------------------------------------------------------------- XDP and TC

xdp_counts = bpf.ArrayMap(u64, max_entries=4)


@bpf.xdp
def count_udp_xdp(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    if eth is None:
        return bpf.XDP_PASS
    if eth.proto != bpf.htons(net.ETH_P_IP):
        return bpf.XDP_PASS
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.XDP_PASS
    if ip.protocol != net.IPPROTO_UDP:
        return bpf.XDP_PASS
    udp = ctx.header(net.UdpHdr, net.ETH_HLEN + 20)
    if udp is None:
        return bpf.XDP_PASS
    if udp.dest == bpf.htons(PORT):
        xdp_counts.increment(0)
        return bpf.XDP_PASS
    if udp.dest == bpf.htons(PORT + 1):
        xdp_counts.increment(1)
        return bpf.XDP_DROP
    return bpf.XDP_PASS


def test_xdp_counts_and_drops_between_namespaces() -> None:
    with VethPair() as net_, count_udp_xdp.attach(ifname="veth0", netns=net_.ns_b, mode="generic"):
        assert net_.send_udp(7, PORT) == 7
        assert net_.send_udp(3, PORT + 1) == 0  # dropped by the program
        assert xdp_counts[0] == 7
        assert xdp_counts[1] == 3
    count_udp_xdp.close()


tc_counts = bpf.HashMap(u32, u64, max_entries=16)


@bpf.tc(direction="ingress")
def count_tc(ctx) -> int:
    if ctx.protocol != bpf.htons(net.ETH_P_IP):
        return bpf.TC_ACT_OK
    ip = ctx.header(net.IPv4Hdr, net.ETH_HLEN)
    if ip is None:
        return bpf.TC_ACT_OK
    if ip.protocol == net.IPPROTO_UDP:
        tc_counts.increment(u32(ip.protocol), ctx.len)
        tc_counts.increment(0)
    return bpf.TC_ACT_OK


def test_tc_ingress_counts_packets_and_bytes() -> None:
    with VethPair() as net_, count_tc.attach(ifname="veth0", netns=net_.ns_b):
        payload = b"x" * 50
        assert net_.send_udp(5, PORT, payload=payload) == 5
    assert tc_counts[0] == 5
    # ctx.len is the L2 length: Ethernet 14 + IPv4 20 + UDP 8 + payload.
    assert tc_counts[net.IPPROTO_UDP] == 5 * (14 + 20 + 8 + len(payload))
    count_tc.close()


# ---------------------------------------------------------------- socket filter

sf_seen = bpf.ArrayMap(u64, max_entries=2)


@bpf.socket_filter
def keep_short(ctx) -> int:
    sf_seen.increment(0)
    if ctx.len > 100:
        sf_seen.increment(1)
        return 0  # drop long packets
    return ctx.len


def test_socket_filter_on_loopback_udp() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with rx, tx, keep_short.attach(sock=rx):
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(0.5)
        addr = rx.getsockname()
        for i in range(4):
            tx.sendto(b"short%d" % i, addr)
        tx.sendto(b"L" * 200, addr)
        got = []
        try:
            while True:
                got.append(rx.recv(1024))
        except TimeoutError:
            pass
    assert got == [b"short%d" % i for i in range(4)]
    assert sf_seen[0] == 5
    assert sf_seen[1] == 1
    keep_short.close()


# ---------------------------------------------------------------- tracepoints

close_calls = bpf.HashMap(u32, u64, max_entries=64)
MY_TGID = os.getpid()


@bpf.tracepoint("syscalls/sys_enter_close")
def on_close(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != MY_TGID:
        return 0
    close_calls.increment(0)
    close_calls.increment(1, u64(ctx.fd))
    return 0


def test_tracepoint_reads_format_fields() -> None:
    with on_close.attach():
        for fd in range(100_000, 100_010):
            with contextlib.suppress(OSError):
                os.close(fd)
    assert close_calls[0] >= 10
    # The bogus fds are all we closed that large; other closes add small fds only.
    assert close_calls[1] >= sum(range(100_000, 100_010))
    assert close_calls[1] < sum(range(100_000, 100_010)) + 100_000
    on_close.close()


raw_seen = bpf.ArrayMap(u64, max_entries=4)


@bpf.raw_tracepoint("sys_enter")
def on_sys_enter(ctx) -> int:
    if bpf.get_current_pid_tgid() >> 32 != MY_TGID:
        return 0
    if ctx.args[1] == 39:  # __NR_getpid on x86_64
        raw_seen.increment(0)
    return 0


def test_raw_tracepoint_counts_getpid() -> None:
    if os.uname().machine != "x86_64":
        return
    with on_sys_enter.attach():
        for _ in range(6):
            os.getpid()
        time.sleep(0.01)
    assert raw_seen[0] == 6
    on_sys_enter.close()


def test_raw_tracepoint_test_run_with_ctx_args() -> None:
    @bpf.raw_tracepoint("sys_enter")
    def sum_args(ctx) -> int:
        return u32(ctx.args[0] + ctx.args[1] * 2)

    r = sum_args.test_run(ctx=struct.pack("<QQ", 40, 1))
    assert r.retval == 42
    sum_args.close()


# ---------------------------------------------------------------- test_run on packets


def _udp_packet(dport: int, payload: bytes = b"hello") -> bytes:
    eth = b"\x02" * 6 + b"\x04" * 6 + struct.pack("!H", net.ETH_P_IP)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 1, 0, 64,
                     net.IPPROTO_UDP, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    udp = struct.pack("!HHHH", 1234, dport, 8 + len(payload), 0)
    return eth + ip + udp + payload


def test_xdp_test_run_verdicts() -> None:
    assert count_udp_xdp.test_run(_udp_packet(PORT)).retval == bpf.XDP_PASS
    assert count_udp_xdp.test_run(_udp_packet(PORT + 1)).retval == bpf.XDP_DROP
    truncated = _udp_packet(PORT)[: net.ETH_HLEN + 10]  # IPv4 header cut short
    assert count_udp_xdp.test_run(truncated).retval == bpf.XDP_PASS
    count_udp_xdp.close()
