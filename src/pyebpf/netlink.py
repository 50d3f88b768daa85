"""rtnetlink over a raw ``AF_NETLINK`` socket: clsact qdiscs and cls_bpf filters.

Classic TC attachment (kernels before 6.6, which have no tcx links) is done
the way ``tc`` does it: add a ``clsact`` qdisc to the interface, then a
``cls_bpf`` filter in direct-action mode whose options carry the program fd.
:func:`pyebpf.links.attach_tc_classic` builds a :class:`~pyebpf.links.Link`
on top of this module; detaching deletes the filter (and the qdisc, when it
was created for the filter and nothing else uses it).

Messages are ``struct nlmsghdr`` + ``struct tcmsg`` + ``struct rtattr``
attributes, packed here with :mod:`struct`; every layout and constant is a
UAPI fact (``linux/netlink.h``, ``linux/rtnetlink.h``, ``linux/pkt_sched.h``,
``linux/pkt_cls.h``).  Packing and parsing are pure functions, so they are
tested without root; only :class:`RouteSocket` talks to the kernel.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import struct
from collections.abc import Iterator

from ._record import Record, record
from .tracefs import attach_error

__all__ = [
    "RouteSocket",
    "TcFilter",
    "TC_H_CLSACT",
    "TC_H_MIN_INGRESS",
    "TC_H_MIN_EGRESS",
    "tc_parent",
    "rtattr",
    "parse_attrs",
    "parse_messages",
    "tcmsg",
    "add_clsact",
    "del_clsact",
    "add_bpf_filter",
    "del_bpf_filter",
    "list_bpf_filters",
    "LWT_HOOKS",
    "rtmsg",
    "lwt_bpf_encap",
    "route_message",
    "add_route",
    "del_route",
]

# linux/netlink.h
NETLINK_ROUTE = 0
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLM_F_REQUEST = 0x01
NLM_F_ACK = 0x04
NLM_F_ECHO = 0x08
NLM_F_DUMP = 0x300  # NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # in an NLMSG_ERROR: the request is echoed as its header only
NLM_F_ACK_TLVS = 0x200  # in an NLMSG_ERROR: extended-ack attributes follow
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSGERR_ATTR_MSG = 1
# linux/rtnetlink.h
RTM_NEWQDISC = 36
RTM_DELQDISC = 37
RTM_NEWTFILTER = 44
RTM_DELTFILTER = 45
RTM_GETTFILTER = 46
TCA_KIND = 1
TCA_OPTIONS = 2
# linux/pkt_sched.h
TC_H_CLSACT = 0xFFFFFFF1  # == TC_H_INGRESS
TC_H_MIN_INGRESS = 0xFFF2
TC_H_MIN_EGRESS = 0xFFF3
# linux/pkt_cls.h: cls_bpf options
TCA_BPF_FD = 6
TCA_BPF_NAME = 7
TCA_BPF_FLAGS = 8
TCA_BPF_TAG = 10
TCA_BPF_ID = 11
TCA_BPF_FLAG_ACT_DIRECT = 1
# linux/if_ether.h
ETH_P_ALL = 0x0003
# linux/rtnetlink.h: routes
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_ENCAP_TYPE = 21
RTA_ENCAP = 22
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3  # what `ip route add` uses
RT_SCOPE_UNIVERSE = 0
RT_SCOPE_LINK = 253
RTN_UNICAST = 1
# linux/netlink.h
NLA_F_NESTED = 1 << 15
# linux/lwtunnel.h: enum lwtunnel_encap_types, the LWT_BPF_* attributes
LWTUNNEL_ENCAP_BPF = 6
LWT_BPF_PROG_FD = 1
LWT_BPF_PROG_NAME = 2
LWT_HOOKS = {"lwt_in": 1, "lwt_out": 2, "lwt_xmit": 3}  # LWT_BPF_IN, _OUT, _XMIT

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
TCMSG = struct.Struct("=BxxxiIII")  # family, (pad), ifindex, handle, parent, info
# struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags
RTMSG = struct.Struct("=BBBBBBBBI")
RTATTR = struct.Struct("=HH")  # len, type
NLMSGERR = struct.Struct("=i")  # error, followed by the request's nlmsghdr

_DIRECTIONS = {"ingress": TC_H_MIN_INGRESS, "egress": TC_H_MIN_EGRESS}


def _align4(n: int) -> int:
    return (n + 3) & ~3


def tc_h_make(major: int, minor: int) -> int:
    """``TC_H_MAKE``: a TC handle from a major (upper 16 bits) and minor (lower 16) part."""
    return (major & 0xFFFF0000) | (minor & 0x0000FFFF)


def tc_parent(direction: str) -> int:
    """The clsact parent handle of ``"ingress"`` or ``"egress"`` filters."""
    try:
        return tc_h_make(TC_H_CLSACT, _DIRECTIONS[direction])
    except KeyError:
        raise ValueError(f"direction must be 'ingress' or 'egress', not {direction!r}") from None


# --------------------------------------------------------------------------- packing


def rtattr(kind: int, payload: bytes | str | int) -> bytes:
    """One ``struct rtattr``: a str is NUL-terminated, an int is a u32; padded to 4 bytes."""
    if isinstance(payload, str):
        payload = payload.encode() + b"\0"
    elif isinstance(payload, int):
        payload = struct.pack("=I", payload)
    length = RTATTR.size + len(payload)
    return RTATTR.pack(length, kind) + payload + bytes(_align4(length) - length)


def tcmsg(ifindex: int, handle: int = 0, parent: int = 0, info: int = 0) -> bytes:
    """``struct tcmsg`` (family AF_UNSPEC)."""
    return TCMSG.pack(0, ifindex, handle, parent, info)


def nlmsg(msg_type: int, flags: int, seq: int, payload: bytes) -> bytes:
    """A whole netlink message: ``struct nlmsghdr`` + payload (port id 0: the kernel)."""
    return NLMSGHDR.pack(NLMSGHDR.size + len(payload), msg_type, flags, seq, 0) + payload


def parse_attrs(data: bytes) -> dict[int, bytes]:
    """``struct rtattr`` list -> {type: payload} (the nested flag bit is dropped)."""
    attrs: dict[int, bytes] = {}
    off = 0
    while off + RTATTR.size <= len(data):
        length, kind = RTATTR.unpack_from(data, off)
        if length < RTATTR.size or off + length > len(data):
            break
        attrs[kind & 0x3FFF] = data[off + RTATTR.size : off + length]
        off += _align4(length)
    return attrs


def parse_messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """A datagram of netlink messages -> ``(type, flags, seq, payload)`` each."""
    off = 0
    while off + NLMSGHDR.size <= len(data):
        length, msg_type, flags, seq, _pid = NLMSGHDR.unpack_from(data, off)
        if length < NLMSGHDR.size or off + length > len(data):
            break
        yield msg_type, flags, seq, data[off + NLMSGHDR.size : off + length]
        off += _align4(length)


def parse_error(flags: int, payload: bytes) -> tuple[int, str]:
    """An ``NLMSG_ERROR`` payload -> (errno, the kernel's extended-ack message or "")."""
    (code,) = NLMSGERR.unpack_from(payload)
    if not code or not flags & NLM_F_ACK_TLVS:
        return -code, ""
    (req_len,) = struct.unpack_from("=I", payload, NLMSGERR.size)
    start = NLMSGERR.size + (NLMSGHDR.size if flags & NLM_F_CAPPED else _align4(req_len))
    msg = parse_attrs(payload[start:]).get(NLMSGERR_ATTR_MSG, b"")
    return -code, msg.rstrip(b"\0").decode(errors="replace")


# --------------------------------------------------------------------------- the socket


class RouteSocket:
    """A ``NETLINK_ROUTE`` socket in the network namespace of the calling thread.

    :meth:`request` sends one message and returns the replies; a negative
    ack raises an :class:`~pyebpf.errors.AttachError` with the kernel's
    extended-ack text.
    """

    def __init__(self) -> None:
        import socket

        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                   NETLINK_ROUTE)
        try:
            self._sock.bind((0, 0))
            for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
                with contextlib.suppress(OSError):  # older kernels: plain acks
                    self._sock.setsockopt(SOL_NETLINK, opt, 1)
        except BaseException:
            self._sock.close()
            raise
        self._seq = itertools.count(int.from_bytes(os.urandom(2), "little") + 1)

    def request(self, msg_type: int, flags: int, payload: bytes, what: str,
                hints: dict[int, str] | None = None) -> list[bytes]:
        """Send a request (``NLM_F_REQUEST | NLM_F_ACK`` added); the payloads of the replies.

        A refusal raises an AttachError: "<what> failed: <kernel's text>
        (<strerror>)", plus ``hints[errno]`` when given.
        """
        seq = next(self._seq) & 0xFFFFFFFF
        self._sock.send(nlmsg(msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, payload))
        replies: list[bytes] = []
        while True:
            data = self._sock.recv(1 << 16)
            for rtype, rflags, rseq, body in parse_messages(data):
                if rseq != seq:
                    continue  # a late answer to an earlier request
                if rtype == NLMSG_ERROR:
                    err, text = parse_error(rflags, body)
                    if err:
                        detail = f"{text} " if text else ""
                        hint = f"; {hints[err]}" if hints and err in hints else ""
                        raise attach_error(f"{what} failed: {detail}({os.strerror(err)}){hint}",
                                           err, "netlink")
                    return replies
                if rtype == NLMSG_DONE:
                    return replies
                replies.append(body)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RouteSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- clsact + cls_bpf


@record
class TcFilter(Record):
    """One cls_bpf filter, as a dump lists it."""

    ifindex: int
    parent: int
    handle: int
    priority: int
    protocol: int
    name: str
    prog_id: int
    direct_action: bool


def _clsact_message(ifindex: int) -> bytes:
    return tcmsg(ifindex, tc_h_make(TC_H_CLSACT, 0), TC_H_CLSACT) + rtattr(TCA_KIND, "clsact")


def add_clsact(sock: RouteSocket, ifindex: int) -> bool:
    """Add a clsact qdisc to ``ifindex``; False when the interface already has one."""
    try:
        sock.request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, _clsact_message(ifindex),
                     f"adding a clsact qdisc to ifindex {ifindex}")
    except OSError as e:
        if e.errno == errno.EEXIST:
            return False
        raise
    return True


def del_clsact(sock: RouteSocket, ifindex: int) -> None:
    """Delete the clsact qdisc of ``ifindex`` (and every filter on it)."""
    sock.request(RTM_DELQDISC, 0, _clsact_message(ifindex),
                 f"deleting the clsact qdisc of ifindex {ifindex}")


def _filter_info(priority: int, protocol: int = ETH_P_ALL) -> int:
    # tcm_info = TC_H_MAKE(priority << 16, htons(protocol))
    return tc_h_make(priority << 16, int.from_bytes(protocol.to_bytes(2, "big"), "little"))


def add_bpf_filter(sock: RouteSocket, ifindex: int, parent: int, prog_fd: int, name: str, *,
                   priority: int = 0, handle: int = 0, replace: bool = False) -> tuple[int, int]:
    """Add (or, with ``replace``, swap the program of) a direct-action cls_bpf filter.

    ``priority``/``handle`` 0 let the kernel choose; returns the ``(handle,
    priority)`` the filter got (the kernel echoes the new filter back).
    """
    options = (rtattr(TCA_BPF_FD, prog_fd) + rtattr(TCA_BPF_NAME, name)
               + rtattr(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT))
    payload = (tcmsg(ifindex, handle, parent, _filter_info(priority))
               + rtattr(TCA_KIND, "bpf") + rtattr(TCA_OPTIONS, options))
    flags = NLM_F_ECHO | NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
    what = f"{'replacing' if replace else 'adding'} a cls_bpf filter on ifindex {ifindex}"
    hints = {errno.EINVAL: "is it a TC (sched_cls) program?",
             errno.EEXIST: "another filter has this handle and priority"}
    for reply in sock.request(RTM_NEWTFILTER, flags, payload, what, hints):
        _family, _ifindex, got_handle, _parent, info = TCMSG.unpack_from(reply)
        if got_handle:
            return got_handle, info >> 16
    if handle and priority:
        return handle, priority
    raise attach_error(f"{what}: the kernel did not echo the new filter", errno.EPROTO, "netlink")


def del_bpf_filter(sock: RouteSocket, ifindex: int, parent: int, handle: int,
                   priority: int) -> None:
    """Delete one cls_bpf filter."""
    payload = tcmsg(ifindex, handle, parent, _filter_info(priority)) + rtattr(TCA_KIND, "bpf")
    sock.request(RTM_DELTFILTER, 0, payload,
                 f"deleting cls_bpf filter {handle:#x} priority {priority} on ifindex {ifindex}")


def parse_filter(body: bytes) -> TcFilter | None:
    """One ``RTM_NEWTFILTER`` payload -> :class:`TcFilter` (None for non-bpf or chain heads)."""
    _family, ifindex, handle, parent, info = TCMSG.unpack_from(body)
    attrs = parse_attrs(body[TCMSG.size :])
    if attrs.get(TCA_KIND, b"").rstrip(b"\0") != b"bpf" or not handle:
        return None
    opts = parse_attrs(attrs.get(TCA_OPTIONS, b""))
    u32 = lambda kind: struct.unpack("=I", opts[kind])[0] if kind in opts else 0  # noqa: E731
    protocol = int.from_bytes((info & 0xFFFF).to_bytes(2, "little"), "big")
    return TcFilter(ifindex, parent, handle, info >> 16, protocol,
                    opts.get(TCA_BPF_NAME, b"").rstrip(b"\0").decode(errors="replace"),
                    u32(TCA_BPF_ID), bool(u32(TCA_BPF_FLAGS) & TCA_BPF_FLAG_ACT_DIRECT))


def list_bpf_filters(sock: RouteSocket, ifindex: int, parent: int) -> list[TcFilter]:
    """The cls_bpf filters under ``parent`` (:func:`tc_parent`) of ``ifindex``."""
    replies = sock.request(RTM_GETTFILTER, NLM_F_DUMP, tcmsg(ifindex, 0, parent),
                           f"listing the filters of ifindex {ifindex}")
    return [f for f in map(parse_filter, replies) if f is not None]


# --------------------------------------------------------------------------- routes with BPF encap


def rtmsg(family: int, dst_len: int, scope: int) -> bytes:
    """``struct rtmsg`` of a unicast route in the main table (as ``ip route add`` makes)."""
    return RTMSG.pack(family, dst_len, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0)


def lwt_bpf_encap(hook: str, prog_fd: int, name: str) -> bytes:
    """``RTA_ENCAP_TYPE`` + ``RTA_ENCAP`` attributes running ``prog_fd`` at ``hook`` of a route.

    ``hook`` is ``"lwt_in"``, ``"lwt_out"`` or ``"lwt_xmit"``; the kernel
    wants both the program fd and a name (``LWT_BPF_PROG_FD``/``_NAME``).
    """
    prog = rtattr(LWT_BPF_PROG_FD, prog_fd) + rtattr(LWT_BPF_PROG_NAME, name)
    return (rtattr(RTA_ENCAP_TYPE, struct.pack("=H", LWTUNNEL_ENCAP_BPF))
            + rtattr(RTA_ENCAP | NLA_F_NESTED, rtattr(LWT_HOOKS[hook] | NLA_F_NESTED, prog)))


def route_message(network: str, ifindex: int, gateway: str | None = None,
                  encap: bytes = b"") -> bytes:
    """An ``RTM_NEWROUTE``/``RTM_DELROUTE`` payload for ``network`` (``"10.1.2.0/24"``) on
    ``ifindex``, through ``gateway`` if given, with extra attributes ``encap``."""
    import ipaddress
    import socket

    net = ipaddress.ip_network(network, strict=False)
    family = socket.AF_INET if net.version == 4 else socket.AF_INET6
    payload = rtmsg(family, net.prefixlen, RT_SCOPE_UNIVERSE if gateway else RT_SCOPE_LINK)
    payload += rtattr(RTA_DST, net.network_address.packed) + rtattr(RTA_OIF, ifindex)
    if gateway:
        gw = ipaddress.ip_address(gateway)
        if gw.version != net.version:
            raise ValueError(f"gateway {gateway} is not of the route's family ({network})")
        payload += rtattr(RTA_GATEWAY, gw.packed)
    return payload + encap


def add_route(sock: RouteSocket, network: str, ifindex: int, *, gateway: str | None = None,
              encap: bytes = b"", replace: bool = False) -> None:
    """Add a route (``NLM_F_EXCL``), or with ``replace`` swap an existing one's attributes."""
    flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
    hints = {errno.EEXIST: f"a route to {network} exists already: delete it or pick another",
             errno.EINVAL: "is the program of the matching lwt type, and the gateway on the "
                           "device's subnet?",
             errno.ENETUNREACH: "the gateway is not reachable through this device"}
    sock.request(RTM_NEWROUTE, flags, route_message(network, ifindex, gateway, encap),
                 f"{'replacing' if replace else 'adding'} the route to {network}", hints)


def del_route(sock: RouteSocket, network: str, ifindex: int,
              gateway: str | None = None) -> None:
    """Delete the route to ``network`` on ``ifindex``."""
    sock.request(RTM_DELROUTE, 0, route_message(network, ifindex, gateway),
                 f"deleting the route to {network}")
