"""Test helper: two private network namespaces joined by a veth pair.

::

    with VethPair() as net:
        # net.ns_a / net.ns_b: `ip netns` names; both ends are called "veth0"
        # net.addr_a / net.addr_b: 10.200.X.1 and 10.200.X.2 (/24, only between them)
        received = net.send_udp(5, port=4242)      # 5 datagrams from A to B

Only these two namespaces and their own addresses are ever used, and
everything is deleted on exit, even after a failure half-way through setup.
IPv6 is switched off on the veth ends so router solicitations and neighbour
discovery do not add packets a test would have to account for.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable
from typing import Any

from pyebpf.links import in_netns

IFNAME = "veth0"


def ip(*args: str, netns: str | None = None) -> str:
    """Run ``ip`` (inside ``netns`` if given); raise with its stderr on failure."""
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return done.stdout


def run_in(netns: str, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a command inside a network namespace (``ip netns exec``)."""
    return subprocess.run(["ip", "netns", "exec", netns, *cmd], **kwargs)


def call_in(netns: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn(*args)`` on a separate thread that has entered ``netns``; return its result."""
    box: dict[str, Any] = {}

    def body() -> None:
        try:
            with in_netns(netns):
                box["value"] = fn(*args)
        except BaseException as e:  # handed back to the caller's thread
            box["error"] = e

    t = threading.Thread(target=body)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class VethPair:
    """Two fresh namespaces ``ns_a`` and ``ns_b`` with ``veth0`` in each, linked together."""

    def __init__(self) -> None:
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.ns_a = f"pyebpf-a-{tag}"
        self.ns_b = f"pyebpf-b-{tag}"
        self.subnet = random.randrange(0, 256)
        self.addr_a = f"10.200.{self.subnet}.1"
        self.addr_b = f"10.200.{self.subnet}.2"
        self.ifname = IFNAME
        self._created: list[str] = []

    def __enter__(self) -> VethPair:
        try:
            self._setup()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def _setup(self) -> None:
        for ns in (self.ns_a, self.ns_b):
            ip("netns", "add", ns)
            self._created.append(ns)
        # Create the pair directly inside the namespaces: nothing touches the host's links.
        ip("link", "add", IFNAME, "netns", self.ns_a, "type", "veth",
           "peer", "name", IFNAME, "netns", self.ns_b)
        for ns, addr in ((self.ns_a, self.addr_a), (self.ns_b, self.addr_b)):
            run_in(ns, ["sysctl", "-qw", f"net.ipv6.conf.{IFNAME}.disable_ipv6=1"],
                   capture_output=True)
            ip("addr", "add", f"{addr}/24", "dev", IFNAME, netns=ns)
            ip("link", "set", IFNAME, "up", netns=ns)
            ip("link", "set", "lo", "up", netns=ns)
        # Static neighbours: no ARP exchange (and no queued first packets) during tests.
        mac_a, mac_b = self.mac(self.ns_a), self.mac(self.ns_b)
        ip("neigh", "replace", self.addr_b, "lladdr", mac_b, "dev", IFNAME, "nud", "permanent",
           netns=self.ns_a)
        ip("neigh", "replace", self.addr_a, "lladdr", mac_a, "dev", IFNAME, "nud", "permanent",
           netns=self.ns_b)

    def mac(self, netns: str) -> str:
        out = ip("-o", "link", "show", IFNAME, netns=netns)
        return out.split("link/ether", 1)[1].split()[0]

    def ifindex(self, netns: str) -> int:
        return call_in(netns, socket.if_nametoindex, IFNAME)

    def cleanup(self) -> None:
        for ns in reversed(self._created):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
        self._created.clear()

    def send_udp(self, count: int, port: int, *, payload: bytes = b"pyebpf",
                 timeout: float = 2.0, reverse: bool = False) -> int:
        """Send ``count`` datagrams from A to B (B to A with ``reverse``); return how many arrived.

        The receiving socket lives in the destination namespace, so the count
        shows whether a program dropped packets.
        """
        src_ns, dst_ns = (self.ns_b, self.ns_a) if reverse else (self.ns_a, self.ns_b)
        dst_addr = self.addr_a if reverse else self.addr_b
        with in_netns(dst_ns):
            rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with in_netns(src_ns):
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with rx, tx:
            rx.bind((dst_addr, port))
            rx.settimeout(timeout)
            for _ in range(count):
                tx.sendto(payload, (dst_addr, port))
            received = 0
            try:
                while received < count:
                    rx.recv(2048)
                    received += 1
                    rx.settimeout(0.2 if received < count else timeout)
            except TimeoutError:
                pass
            return received
