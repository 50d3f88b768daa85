"""cgroup socket hooks with enforced denies, netfilter links in a netns, and live replacement.

cgroup tests run a child process inside a fresh child cgroup of the v2
hierarchy; network tests use only the two namespaces of ``VethPair``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf import u64

from .netns import VethPair
from .udp_match import tc_udp_to, xdp_udp_to

PORT = 4343
DENIED_PORT = 9

counts = bpf.ArrayMap(u64, max_entries=8)


def reset() -> None:
    if not counts.loaded:
        counts.create()
    for i in range(8):
        counts[i] = 0




def run_in_cgroup(cg: Path, code: str) -> str:
    """Run Python ``code`` in a child process that first moves itself into ``cg``."""
    def enter() -> None:
        (cg / "cgroup.procs").write_text("0")

    done = subprocess.run([sys.executable, "-c", code], preexec_fn=enter, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


PROBE_SOCKETS = """
import socket
out = []
for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_DGRAM):
    try:
        socket.socket(socket.AF_INET, kind).close()
        out.append("ok")
    except PermissionError:
        out.append("EPERM")
print(" ".join(out))
"""


@bpf.cgroup_sock("sock_create")
def no_udp_sockets(ctx) -> int:
    counts.increment(0)
    if ctx.type == socket.SOCK_DGRAM:
        counts.increment(1)
        return 0
    return 1


def test_sock_create_denies_udp_sockets_in_the_cgroup(cgroup: Path) -> None:
    reset()
    with no_udp_sockets.attach(cgroup=str(cgroup)) as link:
        assert link.kind == "cgroup"
        assert run_in_cgroup(cgroup, PROBE_SOCKETS) == "ok EPERM EPERM"
    assert counts[0] == 3 and counts[1] == 2
    # detached: the same child may create them again
    assert run_in_cgroup(cgroup, PROBE_SOCKETS) == "ok ok ok"
    no_udp_sockets.close()


CONNECT = f"""
import socket
out = []
for port in ({DENIED_PORT}, {PORT}, {DENIED_PORT}):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("127.0.0.1", port))
        out.append("ok")
    except PermissionError:
        out.append("EPERM")
    try:
        s.sendto(b"x", ("127.0.0.1", port))
        out.append("sent")
    except PermissionError:
        out.append("EPERM")
    s.close()
print(" ".join(out))
"""


@bpf.cgroup_sock_addr("connect4")
def deny_connect_9(ctx) -> int:
    counts.increment(2)
    if ctx.user_port == bpf.htons(DENIED_PORT):
        return 0
    return 1


@bpf.cgroup_sock_addr("sendmsg4")
def deny_sendmsg_9(ctx) -> int:
    counts.increment(3)
    if ctx.user_port == bpf.htons(DENIED_PORT):
        return 0
    return 1


def test_connect4_and_sendmsg4_denies_are_enforced(cgroup: Path) -> None:
    reset()
    with deny_connect_9.attach(cgroup=str(cgroup)):
        # connect denied for port 9; sendto on an unconnected socket is not a connect
        assert run_in_cgroup(cgroup, CONNECT) == "EPERM sent ok sent EPERM sent"
    assert counts[2] == 3
    with deny_sendmsg_9.attach(cgroup=str(cgroup)):
        # connect works now; sendto() with an address goes through sendmsg4
        assert run_in_cgroup(cgroup, CONNECT) == "ok EPERM ok sent ok EPERM"
    assert counts[3] == 3
    deny_connect_9.close()
    deny_sendmsg_9.close()


def test_cgroup_hooks_need_a_cgroup() -> None:
    with pytest.raises(TypeError, match="attach to a cgroup"):
        deny_connect_9.attach()


# ---------------------------------------------------------------- netfilter


@bpf.netfilter
def nf_count(ctx) -> int:
    counts.increment(4)
    return 1  # NF_ACCEPT


@bpf.netfilter
def nf_drop(ctx) -> int:
    counts.increment(5)
    return 0  # NF_DROP


def test_netfilter_local_in_counts_and_drops_in_a_netns() -> None:
    reset()
    with VethPair() as pair:
        with nf_count.attach(hook="local_in", netns=pair.ns_b, priority=-100) as link:
            assert link.kind == "netfilter"
            assert pair.send_udp(6, PORT) == 6
        assert counts[4] == 6
        with nf_drop.attach(hook="local_in", netns=pair.ns_b, priority=-100):
            assert pair.send_udp(4, PORT, timeout=0.5) == 0
        assert counts[5] == 4
        # detached again: traffic flows
        assert pair.send_udp(2, PORT) == 2
    nf_count.close()
    nf_drop.close()


def test_netfilter_bad_arguments() -> None:
    with pytest.raises(ValueError, match="hook must be one of"):
        nf_count.attach(hook="nowhere")
    with pytest.raises(ValueError, match="family must be one of"):
        nf_count.attach(family="ipx")
    nf_count.close()


# ---------------------------------------------------------------- live replacement


@bpf.xdp
def xdp_old(ctx) -> int:
    if xdp_udp_to(ctx, PORT):
        counts.increment(0)
    return bpf.XDP_PASS


@bpf.xdp
def xdp_new(ctx) -> int:
    if xdp_udp_to(ctx, PORT):
        counts.increment(1)
    return bpf.XDP_PASS


@bpf.tc(direction="ingress")
def tc_old(ctx) -> int:
    if tc_udp_to(ctx, PORT):
        counts.increment(0)
    return bpf.TC_ACT_OK


@bpf.tc(direction="ingress")
def tc_new(ctx) -> int:
    if tc_udp_to(ctx, PORT):
        counts.increment(1)
    return bpf.TC_ACT_OK


TOTAL = 3000


class Generator:
    """A bounded UDP stream A -> B with a window, so no socket buffer overflows and drops."""

    WINDOW = 64

    def __init__(self, pair: VethPair, total: int) -> None:
        from pyebpf.links import in_netns

        self.total, self.sent, self.received = total, 0, 0
        with in_netns(pair.ns_b):
            self.rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with in_netns(pair.ns_a):
            self.tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rx.bind((pair.addr_b, PORT))
        self.rx.settimeout(1.0)
        self.dest = (pair.addr_b, PORT)
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while self.sent < self.total:
            while self.sent < self.total and self.sent - self.received < self.WINDOW:
                self.tx.sendto(b"pyebpf", self.dest)
                self.sent += 1
            try:
                self.rx.recv(2048)
                self.received += 1
            except TimeoutError:
                return
        with contextlib.suppress(TimeoutError):
            while self.received < self.total:
                self.rx.recv(2048)
                self.received += 1

    def __enter__(self) -> Generator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join()
        self.rx.close()
        self.tx.close()


def _replace_under_traffic(pair: VethPair, old, new, **attach) -> tuple[int, int, int]:
    """Send TOTAL datagrams A -> B; swap old -> new mid-stream. Returns (received, old, new)."""
    reset()
    new.load()
    with old.attach(netns=pair.ns_b, ifname=pair.ifname, **attach) as link, \
            Generator(pair, TOTAL) as gen:
        deadline = time.monotonic() + 5
        while gen.sent < TOTAL // 3 and time.monotonic() < deadline:
            time.sleep(0.0005)
        link.update(new)
    return gen.received, counts[0], counts[1]


def test_xdp_link_update_under_traffic_loses_nothing() -> None:
    with VethPair() as pair:
        received, seen_old, seen_new = _replace_under_traffic(pair, xdp_old, xdp_new,
                                                              mode="generic")
    assert received == TOTAL
    assert seen_old + seen_new == TOTAL
    assert seen_old > 0 and seen_new > 0  # the swap happened mid-stream
    xdp_old.close()
    xdp_new.close()


def test_tcx_link_update_under_traffic_loses_nothing() -> None:
    with VethPair() as pair:
        received, seen_old, seen_new = _replace_under_traffic(pair, tc_old, tc_new)
    assert received == TOTAL
    assert seen_old + seen_new == TOTAL
    assert seen_old > 0 and seen_new > 0
    tc_old.close()
    tc_new.close()


def test_pinned_link_survives_its_object_and_reopens(bpffs: str) -> None:
    reset()
    path = Path(bpffs) / f"pyebpf-link-{uuid.uuid4().hex[:8]}"
    with VethPair() as pair:
        link = xdp_old.attach(netns=pair.ns_b, ifname=pair.ifname, mode="generic")
        link.pin(path)
        link.close()  # pinned: still attached
        assert pair.send_udp(3, PORT) == 3
        assert counts[0] == 3
        again = bpf.Link.from_pinned(path)
        assert again.info()["prog_id"] == xdp_old.id
        again.update(xdp_new)
        assert pair.send_udp(2, PORT) == 2
        assert counts[1] == 2
        again.detach()  # really detaches, pin or not
        assert pair.send_udp(2, PORT) == 2
        assert counts[0] == 3 and counts[1] == 2
        os.unlink(path)
    xdp_old.close()
    xdp_new.close()


def test_xdp_default_mode_attaches_where_the_driver_has_no_xdp() -> None:
    """Without mode=, the kernel picks: loopback has no driver XDP, so generic."""
    reset()
    with VethPair() as pair:  # a private namespace; its loopback is ours
        with xdp_old.attach(netns=pair.ns_b, ifname="lo"):
            pass  # attached: with mode="native" this raises (no ndo_bpf on lo)
        with pytest.raises(bpf.AttachError, match='mode="generic"'):
            xdp_old.attach(netns=pair.ns_b, ifname="lo", mode="native")
    xdp_old.close()
