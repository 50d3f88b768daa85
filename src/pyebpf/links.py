"""Attaching loaded programs to hooks: one function per hook kind, each returning a :class:`Link`.

A :class:`Link` owns whatever keeps the program attached: a BPF link fd
(``BPF_LINK_CREATE``, ``BPF_RAW_TRACEPOINT_OPEN``), plus a perf event fd for
tracepoints, or a socket for socket filters.  Closing it (``close()``, the
end of a ``with`` block, garbage collection, process exit) detaches the
program, unless the link was pinned on the bpffs, which keeps it attached
until the pin is removed or :meth:`Link.detach` is called.

Every function takes a program fd, or any object with an ``fd`` attribute (a
loaded :class:`~pyebpf.programs.Program`).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import constants, tracefs
from .constants import XDP_FLAGS_DRV_MODE, XDP_FLAGS_HW_MODE, XDP_FLAGS_SKB_MODE
from .errors import AttachError, SyscallError
from .tracefs import attach_error

if TYPE_CHECKING:
    import socket

# socket (~5 ms) and ctypes (~3 ms) are imported by the functions that use
# them, and the enums are looked up at call time: this module is imported
# whenever a program is declared.

__all__ = [
    "Link",
    "attach_xdp",
    "attach_tcx",
    "attach_socket_filter",
    "attach_tracepoint",
    "attach_raw_tracepoint",
    "attach_cgroup",
    "in_netns",
    "NETNS_DIR",
]

NETNS_DIR = Path("/var/run/netns")

# UAPI asm-generic/socket.h
SOL_SOCKET = 1
SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27
# UAPI linux/sched.h
CLONE_NEWNET = 0x40000000
# UAPI linux/bpf.h: BPF_F_BEFORE / BPF_F_AFTER for tcx ordering
BPF_F_BEFORE = 1 << 3
BPF_F_AFTER = 1 << 4
# the kernel's ENOTSUPP (include/linux/errno.h), absent from the errno module
_ENOTSUPP = 524

_XDP_MODES = {
    None: 0,
    "native": XDP_FLAGS_DRV_MODE,
    "driver": XDP_FLAGS_DRV_MODE,
    "generic": XDP_FLAGS_SKB_MODE,
    "skb": XDP_FLAGS_SKB_MODE,
    "offload": XDP_FLAGS_HW_MODE,
}
_TCX_DIRECTIONS = {"ingress": "TCX_INGRESS", "egress": "TCX_EGRESS"}  # AttachType names


def _sys() -> Any:
    from ._native import syscalls

    return syscalls


def _fd_of(obj: Any, what: str = "program") -> int:
    fd = getattr(obj, "fd", obj)
    if isinstance(fd, bool) or not isinstance(fd, int) or fd < 0:
        raise TypeError(f"needs a loaded {what} or its fd, got {type(obj).__name__}")
    return fd


class Link:
    """An attached program; detached when closed (unless pinned).

    ``kind`` names the hook (``"xdp"``, ``"tcx"``, ``"tracepoint"``, ...),
    ``target`` what it is attached to (``"veth0"``, ``"syscalls/sys_enter_getpid"``).
    ``fd`` is the BPF link fd, or None for attachments that have none
    (socket filters, tracepoints attached with the older ioctl).
    """

    def __init__(
        self,
        fd: int | None,
        *,
        kind: str,
        target: str = "",
        perf_fd: int | None = None,
        sock: socket.socket | None = None,
        prog_fd: int | None = None,
    ) -> None:
        self._fd = fd
        self._perf_fd = perf_fd
        self._sock = sock
        self._prog_fd = prog_fd
        self.kind = kind
        self.target = target
        self.pinned: Path | None = None

    @property
    def fd(self) -> int:
        """The BPF link fd (an :class:`AttachError` for fd-less attachments or after close)."""
        if self._fd is None:
            raise attach_error(
                f"this {self.kind} attachment ({self.target}) has no BPF link fd"
                + (" (it is closed)" if self.closed else ""),
                errno.EBADF,
            )
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd is None and self._perf_fd is None and self._sock is None

    @property
    def id(self) -> int:
        """The kernel's id of the link."""
        return int(self.info()["id"])

    def info(self) -> dict[str, Any]:
        """``bpf_link_info`` as a dict (``type``, ``id``, ``prog_id`` and per-type fields)."""
        return _sys().link_info(self.fd)

    def update(self, new_prog: Any) -> None:
        """Replace the attached program live (``BPF_LINK_UPDATE``); no event is missed."""
        new_fd = _fd_of(new_prog)
        if self._sock is not None:
            _set_socket_filter(self._sock, new_fd)
            self._prog_fd = new_fd
            return
        try:
            _sys().link_update(self.fd, new_fd)
        except SyscallError as e:
            if e.errno in (errno.EINVAL, errno.EOPNOTSUPP, _ENOTSUPP):
                raise attach_error(
                    f"the kernel cannot replace the program of a {self.kind} link "
                    f"({self.target}) in place; detach and attach the new program instead",
                    e.errno, "BPF_LINK_UPDATE",
                ) from None
            raise
        self._prog_fd = new_fd

    def pin(self, path: str | Path) -> Path:
        """Pin the link on the bpffs (relative paths are under it); it then outlives this object."""
        p = Path(path)
        if not p.is_absolute():
            p = tracefs.bpffs_root() / p
        else:
            tracefs.bpffs_root()
        _sys().obj_pin(self.fd, str(p))
        self.pinned = p
        return p

    @classmethod
    def from_pinned(cls, path: str | Path) -> Link:
        """Open a link pinned at ``path``; ``detach()`` on it really detaches."""
        p = Path(path)
        if not p.is_absolute():
            p = tracefs.bpffs_root() / p
        try:
            fd = _sys().obj_get(str(p))
        except SyscallError as e:
            raise attach_error(f"cannot open the pinned link {p}: {e.strerror}", e.errno) from None
        link = cls(fd, kind="pinned", target=str(p))
        link.pinned = p
        return link

    def detach(self) -> None:
        """Detach the program now, even if the link is pinned, and release everything."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(SOL_SOCKET, SO_DETACH_BPF, 0)
        if self._fd is not None:
            try:
                _sys().link_detach(self._fd)
            except SyscallError as e:
                # Links without a detach operation go away with their last fd.
                if e.errno not in (errno.EINVAL, errno.EOPNOTSUPP, _ENOTSUPP):
                    raise
        if self._perf_fd is not None and self._fd is None:
            with contextlib.suppress(OSError):
                _sys().perf_event_ioc_disable(self._perf_fd)
        self.close()

    def close(self) -> None:
        """Release the fds: detaches, unless the link is pinned."""
        fd, self._fd = self._fd, None
        perf_fd, self._perf_fd = self._perf_fd, None
        sock, self._sock = self._sock, None
        if sock is not None and sock.fileno() != -1:
            with contextlib.suppress(OSError):
                sock.setsockopt(SOL_SOCKET, SO_DETACH_BPF, 0)
        for f in (fd, perf_fd):
            if f is not None:
                with contextlib.suppress(OSError, ImportError):
                    _sys().close(f)

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}" if self._fd is not None else "open"
        pin = f", pinned={str(self.pinned)!r}" if self.pinned else ""
        return f"Link({self.kind} {self.target!r}, {state}{pin})"


# --------------------------------------------------------------------------- network namespaces


@contextlib.contextmanager
def in_netns(name: str | os.PathLike[str] | None) -> Iterator[None]:
    """Run the block with this thread in network namespace ``name`` (``ip netns`` names).

    ``name`` may also be a path to a netns file; None does nothing.  Sockets
    and links created inside stay bound to that namespace after the block.
    """
    if name is None:
        yield
        return
    path = Path(name) if os.sep in str(name) else NETNS_DIR / str(name)
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise attach_error(f"no network namespace {name!r} ({path} does not exist)",
                           errno.ENOENT) from None
    try:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except BaseException:
        os.close(target)
        raise
    try:
        _setns(target, f"entering network namespace {name!r}")
        try:
            yield
        finally:
            _setns(own, "returning to the original network namespace")
    finally:
        os.close(target)
        os.close(own)


def _setns(fd: int, what: str) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise attach_error(f"{what} failed: {os.strerror(err)}", err, "setns")


def _ifindex(ifname: str | None, ifindex: int | None, netns: str | None) -> tuple[int, str]:
    if ifindex is not None:
        return ifindex, ifname or f"ifindex {ifindex}"
    if not ifname:
        raise TypeError("give ifname= or ifindex=")
    import socket

    try:
        return socket.if_nametoindex(ifname), ifname
    except OSError:
        where = f" in network namespace {netns!r}" if netns else ""
        raise attach_error(f"no network interface {ifname!r}{where}", errno.ENODEV) from None


def _link_create_error(e: SyscallError, hook: str, hint: str = "") -> AttachError:
    reasons = {
        errno.EBUSY: "another program is already attached there",
        errno.EEXIST: "another program is already attached there",
        errno.EOPNOTSUPP: "the device or kernel does not support this attach mode",
        errno.ENODEV: "the interface went away",
        errno.EPERM: "this needs root (CAP_BPF and CAP_NET_ADMIN / CAP_PERFMON)",
        errno.EINVAL: "the kernel refused the attachment (wrong program type for this hook?)",
    }
    text = f"attaching to {hook} failed: {reasons.get(e.errno, e.strerror)}"
    if hint:
        text += f"; {hint}"
    return attach_error(text, e.errno, "BPF_LINK_CREATE")


# --------------------------------------------------------------------------- attach functions


def attach_xdp(
    prog: Any,
    ifname: str | None = None,
    ifindex: int | None = None,
    mode: str | None = "native",
    netns: str | None = None,
) -> Link:
    """Attach an XDP program to an interface with a BPF link (``BPF_XDP``).

    ``mode``: ``"native"`` (driver), ``"generic"`` (any device, slower),
    ``"offload"`` (NIC) or None (let the kernel choose).  ``netns`` names a
    network namespace (``ip netns``) where the interface lives.
    """
    if mode not in _XDP_MODES:
        raise ValueError(f"XDP mode must be one of native, generic, offload or None, not {mode!r}")
    prog_fd = _fd_of(prog)
    with in_netns(netns):
        index, label = _ifindex(ifname, ifindex, netns)
        try:
            fd = _sys().link_create(prog_fd, index, constants.AttachType.XDP,
                                    flags=_XDP_MODES[mode])
        except SyscallError as e:
            hint = 'try mode="generic"' if mode == "native" and e.errno in (
                errno.EOPNOTSUPP, errno.EINVAL) else ""
            raise _link_create_error(e, f"XDP on {label} ({mode or 'any'} mode)", hint) from None
    return Link(fd, kind="xdp", target=label, prog_fd=prog_fd)


def attach_tcx(
    prog: Any,
    ifname: str | None = None,
    ifindex: int | None = None,
    direction: str = "ingress",
    netns: str | None = None,
    before: Any = None,
    after: Any = None,
) -> Link:
    """Attach a TC (sched_cls) program with a tcx link (Linux 6.6+).

    ``before``/``after``: a program or link (or fd) to order against, or
    True for the very first / last position.
    """
    if direction not in _TCX_DIRECTIONS:
        raise ValueError(f"direction must be 'ingress' or 'egress', not {direction!r}")
    if before is not None and after is not None:
        raise ValueError("give before= or after=, not both")
    flags, relative = 0, None
    for anchor, flag in ((before, BPF_F_BEFORE), (after, BPF_F_AFTER)):
        if anchor is not None:
            flags |= flag
            relative = (0 if anchor is True else _fd_of(anchor, "program or link"), 0)
    prog_fd = _fd_of(prog)
    with in_netns(netns):
        index, label = _ifindex(ifname, ifindex, netns)
        try:
            attach_type = constants.AttachType[_TCX_DIRECTIONS[direction]]
            fd = _sys().link_create(
                prog_fd, index, attach_type, flags=flags, tcx_relative=relative
            )
        except SyscallError as e:
            raise _link_create_error(e, f"tcx {direction} on {label}") from None
    return Link(fd, kind=f"tcx-{direction}", target=label, prog_fd=prog_fd)


def _set_socket_filter(sock: socket.socket, prog_fd: int) -> None:
    try:
        sock.setsockopt(SOL_SOCKET, SO_ATTACH_BPF, prog_fd)
    except OSError as e:
        raise attach_error(
            f"attaching a socket filter failed: {e.strerror} (is it a socket_filter program?)",
            e.errno or 0, "SO_ATTACH_BPF",
        ) from None


def attach_socket_filter(prog: Any, sock: socket.socket) -> Link:
    """Attach a socket filter to ``sock`` (``SO_ATTACH_BPF``); detaching uses ``SO_DETACH_BPF``.

    The program sees each packet the socket receives; it returns how many
    bytes to keep (0 drops the packet).
    """
    prog_fd = _fd_of(prog)
    _set_socket_filter(sock, prog_fd)
    return Link(None, kind="socket_filter", target=f"socket fd {sock.fileno()}", sock=sock,
                prog_fd=prog_fd)


def attach_tracepoint(
    prog: Any, category: str, name: str | None = None, pid: int = -1, cpu: int = 0
) -> Link:
    """Attach a tracepoint program to ``category/name`` (also ``attach_tracepoint(p, "cat/name")``).

    Opens the tracepoint as a perf event and links the program to it
    (``BPF_LINK_CREATE`` with ``BPF_PERF_EVENT``), falling back to
    ``PERF_EVENT_IOC_SET_BPF`` on kernels without perf links.  The program
    runs for the tracepoint on every CPU and process: filter by tgid inside.
    """
    if name is None:
        category, _, name = category.partition("/")
    if not category or not name:
        raise ValueError("tracepoints are named 'category/name', e.g. 'syscalls/sys_enter_openat'")
    prog_fd = _fd_of(prog)
    label = f"{category}/{name}"
    config = tracefs.event_id(category, name)
    try:
        perf_fd = _sys().perf_event_open(constants.PerfType.TRACEPOINT, config, pid=pid, cpu=cpu)
    except SyscallError as e:
        raise attach_error(f"opening tracepoint {label} failed: {e.strerror}", e.errno,
                           "perf_event_open") from None
    try:
        try:
            fd = _sys().link_create(prog_fd, perf_fd, constants.AttachType.PERF_EVENT)
        except SyscallError as e:
            if e.errno != errno.EINVAL:
                raise _link_create_error(e, f"tracepoint {label}",
                                         "is it a tracepoint program?") from None
            fd = None  # kernels before 5.15: no perf links
            try:
                _sys().perf_event_ioc_set_bpf(perf_fd, prog_fd)
                _sys().perf_event_ioc_enable(perf_fd)
            except SyscallError as e2:
                raise attach_error(
                    f"attaching to tracepoint {label} failed: {e2.strerror} "
                    "(is it a tracepoint program?)", e2.errno, e2.op,
                ) from None
    except BaseException:
        _sys().close(perf_fd)
        raise
    return Link(fd, kind="tracepoint", target=label, perf_fd=perf_fd, prog_fd=prog_fd)


def attach_raw_tracepoint(prog: Any, name: str) -> Link:
    """Attach a raw tracepoint program to ``name`` (``sched_switch``, ``sys_enter``, ...)."""
    prog_fd = _fd_of(prog)
    try:
        fd = _sys().raw_tracepoint_open(name, prog_fd)
    except SyscallError as e:
        why = {errno.ENOENT: "no such raw tracepoint"}.get(e.errno, e.strerror)
        raise attach_error(f"attaching to raw tracepoint {name!r} failed: {why}", e.errno,
                           "BPF_RAW_TRACEPOINT_OPEN") from None
    return Link(fd, kind="raw_tracepoint", target=name, prog_fd=prog_fd)


def attach_cgroup(prog: Any, cgroup_path: str | os.PathLike[str], attach_type: int) -> Link:
    """Attach a cgroup program (``AttachType.CGROUP_INET_INGRESS``, ...) to a cgroup v2 directory."""
    prog_fd = _fd_of(prog)
    try:
        cg = os.open(cgroup_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise attach_error(f"cannot open cgroup {str(cgroup_path)!r}: {e.strerror}",
                           e.errno or errno.ENOENT) from None
    try:
        fd = _sys().link_create(prog_fd, cg, int(attach_type))
    except SyscallError as e:
        raise _link_create_error(e, f"cgroup {cgroup_path} ({constants.AttachType(attach_type).name})") from None
    finally:
        os.close(cg)
    return Link(fd, kind="cgroup", target=str(cgroup_path), prog_fd=prog_fd)
