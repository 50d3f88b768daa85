"""SockMap / SockHash from user space, and sockops + sk_msg + sk_skb on real TCP traffic.

The traffic is a child process in a fresh child cgroup talking TCP to itself
over 127.0.0.1: sockops programs only see the cgroup's sockets, so nothing
else on the machine is counted.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import u8, u32, u64
from pyebpf.sockmaps import socket_cookie

# UAPI linux/bpf.h: enum { BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB = 4, ..._PASSIVE_... = 5 }
ACTIVE_ESTABLISHED = 4
PASSIVE_ESTABLISHED = 5
SK_PASS = 1

socks = bpf.SockHash(u32, max_entries=16)
stats = bpf.ArrayMap(u64, max_entries=8)
# stats slots
INSERTED, INSERT_FAILED, MSGS, MSG_BYTES, SKB_CALLS, SKB_BYTES, MSG_M = range(7)


@bpf.sockops
def add_established(ctx) -> int:
    if ctx.op == ACTIVE_ESTABLISHED or ctx.op == PASSIVE_ESTABLISHED:
        key = u32[1]()
        key[0] = ctx.local_port
        if bpf.sock_hash_update(ctx, socks, key, bpf.BPF_NOEXIST) == 0:
            stats.increment(INSERTED)
        else:
            stats.increment(INSERT_FAILED)
    return 1


@bpf.sk_msg
def count_messages(ctx) -> int:
    stats.increment(MSGS)
    stats.increment(MSG_BYTES, ctx.size)
    first = ctx.header(u8[1], 0)  # message bytes, read directly (sk_msg_md.data)
    if first is not None and first[0] == ord("m"):
        stats.increment(MSG_M)
    return SK_PASS


@bpf.sk_skb(kind="stream_verdict")
def count_received(ctx) -> int:
    if ctx.len > 0:
        stats.increment(SKB_CALLS)
    stats.increment(SKB_BYTES, ctx.len)
    return SK_PASS


def reset() -> None:
    if not stats.loaded:
        stats.create()
    for i in range(8):
        stats[i] = 0




# The child: a TCP pair over loopback; prints its ports and cookies, waits for
# the parent to read the SockHash, then sends 3 messages of 12 bytes.
CHILD = """
import socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
cli = socket.create_connection(srv.getsockname()); peer, _ = srv.accept()
cookie = lambda s: int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 57, 8), "little")
print(cli.getsockname()[1], cookie(cli), peer.getsockname()[1], cookie(peer), flush=True)
sys.stdin.readline()
for i in range(3):
    cli.sendall(b"message %04d" % i)
got = b""
while len(got) < 36:
    got += peer.recv(100)
print(got.decode(), flush=True)
"""


def run_pair(cg: Path) -> tuple[dict[int, int], dict[int, int], str]:
    """Run CHILD in ``cg``: ({port: cookie} it reports, the SockHash meanwhile, what it received)."""
    def enter() -> None:
        (cg / "cgroup.procs").write_text("0")

    child = subprocess.Popen([sys.executable, "-c", CHILD], preexec_fn=enter, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdin is not None
        cport, ccookie, pport, pcookie = map(int, child.stdout.readline().split())
        in_map = dict(socks.items())
        child.stdin.write("go\n")
        child.stdin.flush()
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    return {cport: ccookie, pport: pcookie}, in_map, out.strip()


def test_user_side_insert_lookup_delete() -> None:
    m = bpf.SockHash(u32, max_entries=4, name="sockhash_user").create()
    ms = bpf.SockMap(4, name="sockmap_user").create()
    with socket.socket() as srv, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, \
            m, ms:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        udp.bind(("127.0.0.1", 0))  # an unbound UDP socket is refused (EOPNOTSUPP)
        m[1] = srv
        m[2] = udp.fileno()
        ms[3] = srv
        assert m[1] == socket_cookie(srv) and m[2] == socket_cookie(udp)
        assert dict(m.items()) == {1: socket_cookie(srv), 2: socket_cookie(udp)}
        assert list(ms) == [3] and ms.items() == [(3, socket_cookie(srv))] and len(ms) == 1
        del m[1]
        assert 1 not in m and len(m) == 1
        with pytest.raises(bpf.MapError):
            m.update(3, srv, bpf.BPF_EXIST)
        with pytest.raises(TypeError, match="holds sockets"):
            m[3] = "not a socket"
        assert bpf.Map.from_id(ms.id).__class__ is bpf.SockMap


def test_sockops_inserts_and_sk_msg_counts_messages(cgroup: Path) -> None:
    reset()
    with count_messages.attach(map=socks) as msg_link, \
            add_established.attach(cgroup=str(cgroup)):
        assert msg_link.kind == "sk_msg_verdict"
        reported, in_map, received = run_pair(cgroup)
    # both ends of the connection were inserted, under their local ports, as themselves
    assert stats[INSERTED] == 2 and stats[INSERT_FAILED] == 0
    assert in_map == reported
    # 3 sendall() calls of 12 bytes: 3 messages, 36 bytes, all delivered (SK_PASS)
    assert (stats[MSGS], stats[MSG_BYTES]) == (3, 36)
    assert stats[MSG_M] == 3  # every message starts with b"message"
    assert received == "message 0000message 0001message 0002"
    # the sockets closed with the child: the kernel dropped them from the map
    assert len(socks) == 0
    # detached: a new pair is inserted by nobody and counted by nobody
    reset()
    reported, in_map, received = run_pair(cgroup)
    assert in_map == {} and stats[MSGS] == 0 and received.startswith("message 0000")
    count_messages.close()
    add_established.close()


def test_sk_skb_stream_verdict_sees_every_received_byte(cgroup: Path) -> None:
    reset()
    with count_received.attach(map=socks) as link, add_established.attach(cgroup=str(cgroup)):
        assert link.kind == "sk_skb_stream_verdict"
        reported, in_map, received = run_pair(cgroup)
    assert stats[INSERTED] == 2 and in_map == reported
    assert received == "message 0000message 0001message 0002"
    # TCP may coalesce the 3 sends into fewer skbs: the bytes are exact, the calls with
    # data 1 to 3 (the FIN comes as one more, empty, call)
    assert stats[SKB_BYTES] == 36 and 1 <= stats[SKB_CALLS] <= 3
    count_received.close()
    add_established.close()


def test_sockmap_programs_need_a_map() -> None:
    with pytest.raises(TypeError, match="attach to a SockMap or SockHash"):
        count_messages.attach()
    with pytest.raises(ValueError, match="sk_skb kind must be one of"):
        bpf.sk_skb(kind="nope")
    count_messages.close()
