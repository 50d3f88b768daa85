"""``@bpf.sk_reuseport`` + ``bpf.ReuseportSockArray``: a program picks which UDP socket of an
SO_REUSEPORT group on 127.0.0.1 gets each datagram."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

import pyebpf as bpf
from pyebpf import u32, u64
from pyebpf.sockmaps import socket_cookie

SK_PASS, SK_DROP = 1, 0

group = bpf.ReuseportSockArray(max_entries=2)
choice = bpf.ArrayMap(u32, max_entries=1)
runs = bpf.ArrayMap(u64, max_entries=2)


@bpf.sk_reuseport
def pick(ctx) -> int:
    runs.increment(0)
    runs.increment(1, ctx.len)
    if choice.get(0, 0) == 2:
        return SK_DROP
    if bpf.sk_select_reuseport(ctx, group, choice.get(0, 0), 0) != 0:
        return SK_DROP
    return SK_PASS


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            s.settimeout(0.3)
        socks[0].bind(("127.0.0.1", 0))
        socks[1].bind(socks[0].getsockname())
        yield socks
    finally:
        for s in socks:
            s.close()


def _deliver(socks: list[socket.socket], count: int) -> list[int]:
    """Send ``count`` datagrams to the group; how many each socket received."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for i in range(count):
            tx.sendto(b"datagram%d" % i, socks[0].getsockname())
    got = []
    for s in socks:
        n = 0
        try:
            while True:
                s.recv(64)
                n += 1
        except TimeoutError:
            pass
        got.append(n)
    return got


def test_sk_reuseport_selects_the_socket(sockets: list[socket.socket]) -> None:
    pick.load()
    runs[0] = runs[1] = 0
    group[0], group[1] = sockets
    assert group[1] == socket_cookie(sockets[1]) and len(group) == 2
    choice[0] = 1
    with pick.attach(sock=sockets[0]):
        assert _deliver(sockets, 5) == [0, 5]
        choice[0] = 0
        assert _deliver(sockets, 3) == [3, 0]
        choice[0] = 2  # the program drops
        assert _deliver(sockets, 2) == [0, 0]
    assert runs[0] == 10
    assert runs[1] == 10 * (8 + 9)  # ctx.len: the UDP header (8) + "datagramN" (9)
    # Detached: the kernel's hash spreads them again; the program no longer runs.
    choice[0] = 1
    assert sum(_deliver(sockets, 4)) == 4
    assert runs[0] == 10


def test_sk_reuseport_attach_arguments(sockets: list[socket.socket]) -> None:
    with pytest.raises(bpf.AttachError, match=r"attach\(sock=s\)"):
        pick.attach()
    with pytest.raises(bpf.AttachError, match="take no cgroup="):
        pick.attach(cgroup="/sys/fs/cgroup")
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with plain, pytest.raises(bpf.AttachError, match="SO_REUSEPORT"):
        pick.attach(sock=plain)
