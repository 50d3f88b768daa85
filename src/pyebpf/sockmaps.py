"""Maps of sockets: :class:`SockMap` (an array), :class:`SockHash` (a hash) and
:class:`ReuseportSockArray` (an ``SO_REUSEPORT`` group's sockets, for sk_reuseport).

Programs redirect messages and packets between the sockets these maps hold
(``bpf.msg_redirect_hash``, ``bpf.sk_redirect_map``), and sk_msg / sk_skb
programs attach to them (``prog.attach(map=m)``).  A sockops program inserts
sockets from the kernel side::

    socks = bpf.SockHash(u32, max_entries=64)

    @bpf.sockops
    def add_established(ctx) -> int:
        if ctx.op == 4 or ctx.op == 5:           # BPF_SOCK_OPS_{ACTIVE,PASSIVE}_ESTABLISHED_CB
            key = u32[1]()
            key[0] = ctx.local_port
            bpf.sock_hash_update(ctx, socks, key, bpf.BPF_ANY)
        return 1

User side, ``m[key] = sock`` inserts a Python socket object (or a raw fd),
``del m[key]`` removes it, and reads give the socket's cookie
(``getsockopt(SOL_SOCKET, SO_COOKIE)``), since the kernel hands out no fds
for sockets held in a map.  The kernel accepts TCP sockets that are
established or listening, UDP sockets and unix sockets.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .constants import MapType
from .maps import BPF_ANY, Map
from .types import u32, u64

__all__ = ["SockMap", "SockHash", "ReuseportSockArray", "socket_cookie"]

# UAPI asm-generic/socket.h
_SOL_SOCKET = 1
_SO_COOKIE = 57


def socket_cookie(sock: Any) -> int:
    """The kernel's cookie of ``sock`` (``SO_COOKIE``): what a SockMap/SockHash read gives."""
    import socket as _socket

    if isinstance(sock, int):
        with _socket.socket(fileno=sock) as s:
            try:
                return int.from_bytes(s.getsockopt(_SOL_SOCKET, _SO_COOKIE, 8), "little")
            finally:
                s.detach()
    return int.from_bytes(sock.getsockopt(_SOL_SOCKET, _SO_COOKIE, 8), "little")


def _socket_fd(sock: Any) -> int:
    fd = sock.fileno() if hasattr(sock, "fileno") else sock
    if isinstance(fd, bool) or not isinstance(fd, int) or fd < 0:
        raise TypeError(f"a SockMap/SockHash holds sockets: give a socket object or its fd, "
                        f"got {type(sock).__name__}")
    return fd


class _SocketMap(Map):
    """Shared by both kinds: values are sockets on write and cookies (u64) on read.

    The value is 8 bytes: with a 4-byte value the kernel refuses user-space
    lookups (``sock_map_lookup_sys`` wants room for the u64 cookie).
    """

    def __setitem__(self, key: Any, sock: Any) -> None:
        self.update(key, sock)

    def update(self, key: Any = None, value: Any = None, flags: int = BPF_ANY,  # type: ignore[override]
               **kwargs: Any) -> None:
        """Insert socket ``value`` (a socket object or fd) at ``key``; ``flags`` as for maps."""
        if value is None:
            raise TypeError("m.update(key, sock, flags=BPF_ANY): a socket is needed")
        super().update(key, _socket_fd(value), flags)


class _SocketArray(_SocketMap):
    """Sockets at u32 indexes ``0 .. max_entries - 1``; iteration yields the filled ones."""

    def __init__(self, max_entries: int, *, name: str | None = None,
                 pin: str | None = None) -> None:
        super().__init__(u32, u64, max_entries, name=name, pin=pin)

    def __iter__(self) -> Iterator[Any]:
        # BPF_MAP_GET_NEXT_KEY walks every index, filled or not.
        for i in range(self.max_entries):
            if self.lookup(i) is not None:
                yield i

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        """A snapshot of ``(index, cookie)`` pairs of the filled slots."""
        return [(i, c) for i in range(self.max_entries) if (c := self.lookup(i)) is not None]


class SockMap(_SocketArray):
    """``BPF_MAP_TYPE_SOCKMAP``: sockets at u32 indexes ``0 .. max_entries - 1``.

    ``m[i] = sock`` inserts; ``m[i]`` gives the cookie; iteration yields the
    filled indexes only.
    """

    map_type = MapType.SOCKMAP


class ReuseportSockArray(_SocketArray):
    """``BPF_MAP_TYPE_REUSEPORT_SOCKARRAY``: the sockets an sk_reuseport program picks from.

    ``m[i] = sock`` inserts a socket bound with ``SO_REUSEPORT`` (the
    sockets of one map belong to one reuseport group; Linux 4.19); ``m[i]``
    gives its cookie.  In a ``@bpf.sk_reuseport`` program,
    ``bpf.sk_select_reuseport(ctx, m, i, 0)`` sends the packet to socket
    ``i``.  A socket leaves the map by itself when it is closed.
    """

    map_type = MapType.REUSEPORT_SOCKARRAY


class SockHash(_SocketMap):
    """``BPF_MAP_TYPE_SOCKHASH``: sockets under keys of any type ``K``.

    ``SockHash(K, max_entries)``; ``m[k] = sock`` inserts, ``m[k]`` gives the
    socket's cookie.
    """

    map_type = MapType.SOCKHASH

    def __init__(self, key_type: Any, max_entries: int, *, name: str | None = None,
                 pin: str | None = None) -> None:
        super().__init__(key_type, u64, max_entries, name=name, pin=pin)

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        """A snapshot of ``(key, cookie)`` pairs (looked up one by one: no batch ops here)."""
        out = []
        for raw in self._raw_keys():
            key = self._key.unpack(raw)
            cookie = self.lookup(key)
            if cookie is not None:
                out.append((key, cookie))
        return out
