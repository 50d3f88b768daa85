"""cgroup_skb ingress and egress programs on a child cgroup, with real loopback traffic."""

from __future__ import annotations

import pyebpf as bpf
from pyebpf import net, u64

from .test_hooks_net import run_in_cgroup

seen = bpf.ArrayMap(u64, max_entries=4)
PORT = 4747
BLOCKED = 4748


def _udp_dest(ctx):  # inlined: cgroup_skb data starts at the IP header
    ip = ctx.header(net.IPv4Hdr, 0)
    if ip is None or ip.protocol != net.IPPROTO_UDP:
        return 0
    udp = ctx.header(net.UdpHdr, 20)
    if udp is None:
        return 0
    return bpf.ntohs(udp.dest)


@bpf.cgroup_skb(direction="egress")
def egress(ctx) -> int:
    port = _udp_dest(ctx)
    if port == PORT:
        seen.increment(0)
    if port == BLOCKED:
        seen.increment(1)
        return 0  # drop: the sender gets EPERM
    return 1


@bpf.cgroup_skb(direction="ingress")
def ingress(ctx) -> int:
    if _udp_dest(ctx) == PORT:
        seen.increment(2)
    return 1


TRAFFIC = f"""
import socket
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(("127.0.0.1", {PORT}))
rx.settimeout(1)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(5):
    tx.sendto(b"x", ("127.0.0.1", {PORT}))
got = 0
try:
    while got < 5:
        rx.recv(16)
        got += 1
except TimeoutError:
    pass
out = [str(got)]
for _ in range(3):
    try:
        tx.sendto(b"x", ("127.0.0.1", {BLOCKED}))
        out.append("sent")
    except PermissionError:
        out.append("EPERM")
print(" ".join(out))
"""


def test_cgroup_skb_counts_both_directions_and_drops_egress(cgroup) -> None:
    with egress.attach(cgroup=str(cgroup)), ingress.attach(cgroup=str(cgroup)):
        assert run_in_cgroup(cgroup, TRAFFIC) == "5 EPERM EPERM EPERM"
    assert seen[0] == 5  # egress to PORT
    assert seen[1] == 3  # egress to BLOCKED, dropped
    assert seen[2] == 5  # ingress to PORT (the receiver is in the cgroup too)
    # Detached: the same traffic is neither counted nor dropped.
    assert run_in_cgroup(cgroup, TRAFFIC) == "5 sent sent sent"
    assert seen[0] == 5
    egress.close()
    ingress.close()
