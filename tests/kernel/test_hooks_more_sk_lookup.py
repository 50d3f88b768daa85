"""``@bpf.sk_lookup``: steering connections in a private network namespace, and test_run.

Everything runs inside a fresh network namespace with only its own ``lo``:
a TCP listener bound to port Y is put in a SockMap, and the program hands
connections to port X (where nothing listens) to it.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import uuid
from collections.abc import Iterator

import pytest

import pyebpf as bpf
from pyebpf import u64
from pyebpf.links import in_netns
from pyebpf.net import IPPROTO_TCP

from .netns import ip

STEER_FROM, STEER_TO = 7001, 7002
SK_PASS, SK_DROP = 1, 0

listeners = bpf.SockMap(max_entries=2)
lookups = bpf.ArrayMap(u64, max_entries=4)
LOOKED_UP, ASSIGNED, ASSIGN_FAILED = range(3)


@bpf.sk_lookup
def steer(ctx) -> int:
    if ctx.protocol != IPPROTO_TCP or ctx.local_port != STEER_FROM:
        return SK_PASS
    lookups.increment(LOOKED_UP)
    sk = listeners.lookup(0)
    if sk is None:
        return SK_PASS
    if bpf.sk_assign(ctx, sk, 0) == 0:
        lookups.increment(ASSIGNED)
    else:
        lookups.increment(ASSIGN_FAILED)
    bpf.sk_release(sk)
    return SK_PASS


@bpf.sk_lookup
def drop_port(ctx) -> int:
    if ctx.local_port == STEER_FROM and ctx.remote_port == bpf.htons(4000):
        return SK_DROP
    return SK_PASS


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"pyebpf-skl-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    ip("netns", "add", name)
    try:
        ip("link", "set", "lo", "up", netns=name)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=2)


def test_sk_lookup_steers_a_connection_to_another_port(netns: str) -> None:
    steer.load()
    for k in range(4):
        lookups[k] = 0
    with in_netns(netns):
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.bind(("127.0.0.1", STEER_TO))
        srv.listen(4)
        srv.settimeout(2)
        # Nothing listens on STEER_FROM yet: refused.
        with pytest.raises(ConnectionRefusedError):
            _connect(STEER_FROM)
    listeners[0] = srv
    try:
        with steer.attach(netns=netns) as link, in_netns(netns):
            info = link.info()
            assert info["type"] == 5  # BPF_LINK_TYPE_NETNS
            assert info["netns_ino"] == os.stat(f"/var/run/netns/{netns}").st_ino
            assert info["attach_type"] == bpf.AttachType.SK_LOOKUP
            client = _connect(STEER_FROM)
            conn, peer = srv.accept()
            with client, conn:
                # The accepted socket keeps the address the client asked for.
                assert conn.getsockname() == ("127.0.0.1", STEER_FROM)
                assert peer == client.getsockname()
                client.sendall(b"steered")
                assert conn.recv(16) == b"steered"
            # Connections to the listener's own port are untouched.
            direct = _connect(STEER_TO)
            conn2, _ = srv.accept()
            direct.close()
            conn2.close()
        assert [lookups[k] for k in range(3)] == [1, 1, 0]
        # Detached: refused again.
        with in_netns(netns), pytest.raises(ConnectionRefusedError):
            _connect(STEER_FROM)
        assert lookups[LOOKED_UP] == 1
    finally:
        srv.close()


def _sk_lookup_ctx(local_port: int, remote_port: int) -> bytes:
    # struct bpf_sk_lookup: cookie, family, protocol, remote_ip4, remote_ip6[4],
    # remote_port (__be16) + pad, local_ip4, local_ip6[4], local_port, ingress_ifindex
    # (the kernel wants everything after local_port zero in a test_run context)
    lo = int.from_bytes(socket.inet_aton("127.0.0.1"), "little")
    return struct.pack("<QIII16sH2xI16sII4x", 0, socket.AF_INET, IPPROTO_TCP, lo, bytes(16),
                       socket.htons(remote_port), lo, bytes(16), local_port, 0)


def test_sk_lookup_test_run_gives_the_verdict() -> None:
    assert len(_sk_lookup_ctx(1, 1)) == 72
    assert drop_port.test_run(ctx=_sk_lookup_ctx(STEER_FROM, 4000)).retval == SK_DROP
    assert drop_port.test_run(ctx=_sk_lookup_ctx(STEER_FROM, 4001)).retval == SK_PASS
    assert drop_port.test_run(ctx=_sk_lookup_ctx(STEER_TO, 4000)).retval == SK_PASS


def test_sk_lookup_attach_arguments(netns: str) -> None:
    with pytest.raises(bpf.AttachError, match=r"netns="):
        drop_port.attach(ifname="lo")
    with pytest.raises(bpf.AttachError, match="no network namespace"):
        drop_port.attach(netns="pyebpf-no-such-netns")
    with drop_port.attach(netns=f"/var/run/netns/{netns}") as link:
        assert link.kind == "sk_lookup"
