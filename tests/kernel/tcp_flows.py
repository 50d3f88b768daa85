"""Test helper: one TCP bulk transfer across a VethPair, with what the sender's kernel reports.

::

    with VethPair() as net:
        flow = transfer(net, 5001, 1 << 20, b"reno")
        flow.received, flow.congestion, flow.snd_cwnd

The client lives in namespace A, the server in B; only their own addresses
are used.  ``lossy`` is a tc program for A's veth that drops a few large
segments, so that loss recovery runs for real.
"""

from __future__ import annotations

import socket
import struct
import threading
from dataclasses import dataclass

import pyebpf as bpf
from pyebpf import u64
from pyebpf.links import in_netns

from .netns import VethPair

MAX_DROPS = 6
drops = bpf.ArrayMap(u64, max_entries=1)  # segments `lossy` dropped


@bpf.tc(direction="egress")
def lossy(ctx) -> int:
    """Drop a few large segments (at most MAX_DROPS) so that the sender recovers from loss."""
    if ctx.len > 1000 and bpf.get_prandom_u32() % 8 == 0 and drops.get(0, 0) < MAX_DROPS:
        drops.increment(0)
        return bpf.TC_ACT_SHOT
    return bpf.TC_ACT_OK


def reset_drops() -> None:
    if drops.loaded:  # before `lossy` first loads, nothing has been dropped
        drops[0] = 0


# struct tcp_info (include/uapi/linux/tcp.h): 8 bytes of u8 fields, then u32s from tcpi_rto;
# tcpi_snd_ssthresh and tcpi_snd_cwnd are the 18th and 19th of them.
_TCP_INFO_SNDSSTHRESH = 8 + 4 * 17


@dataclass
class Flow:
    received: int  # bytes the server read
    congestion: bytes  # getsockopt(TCP_CONGESTION) on the client
    local_port: int  # the client's port
    snd_ssthresh: int  # getsockopt(TCP_INFO) on the client once everything was sent
    snd_cwnd: int


def transfer(net: VethPair, port: int, size: int, cc: bytes) -> Flow:
    """Send ``size`` bytes from A to B with congestion control ``cc``."""
    with in_netns(net.ns_b):
        server = socket.socket()
    with in_netns(net.ns_a):
        client = socket.socket()
    received: list[int] = []

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            n = 0
            while chunk := conn.recv(1 << 16):
                n += len(chunk)
            received.append(n)

    with server, client:
        server.bind((net.addr_b, port))
        server.listen()
        thread = threading.Thread(target=serve)
        thread.start()
        try:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, cc)
            client.settimeout(20)
            client.connect((net.addr_b, port))
            reported = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16)
            local_port = client.getsockname()[1]
            client.sendall(b"x" * size)
            info = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
            client.shutdown(socket.SHUT_WR)
        finally:
            thread.join(timeout=20)
    ssthresh, cwnd = struct.unpack_from("<II", info, _TCP_INFO_SNDSSTHRESH)
    return Flow(received[0], reported.rstrip(b"\0"), local_port, ssthresh, cwnd)
