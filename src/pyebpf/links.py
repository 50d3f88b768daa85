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
from collections.abc import Callable, Iterator
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
    "attach_tc_classic",
    "attach_socket_filter",
    "attach_tracepoint",
    "attach_raw_tracepoint",
    "attach_cgroup",
    "attach_tracing",
    "attach_iter",
    "attach_perf_event",
    "attach_netfilter",
    "attach_sockmap",
    "attach_netns",
    "attach_lwt",
    "attach_reuseport",
    "link_perf_event",
    "IterLink",
    "online_cpus",
    "in_netns",
    "NETNS_DIR",
]

NETNS_DIR = Path("/var/run/netns")

# UAPI asm-generic/socket.h
SOL_SOCKET = 1
SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27
SO_ATTACH_REUSEPORT_EBPF = 52
SO_DETACH_REUSEPORT_BPF = 68
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
        cleanup: Callable[[], None] | None = None,
        replace: Callable[[int], None] | None = None,
        children: list[Link] | None = None,
    ) -> None:
        self._fd = fd
        self._perf_fd = perf_fd
        self._sock = sock
        self._prog_fd = prog_fd
        # undoes what no fd owns: a tracefs probe to remove, a BPF_PROG_ATTACH to detach
        self._cleanup = cleanup
        # swaps the program of an attachment without a link fd (a cls_bpf filter)
        self._replace = replace
        # one attachment made of several (perf events on every CPU)
        self._children = list(children or ())
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
        return (self._fd is None and self._perf_fd is None and self._sock is None
                and self._cleanup is None and not self._children)

    @property
    def links(self) -> list[Link]:
        """The per-CPU links of a multi-part attachment (perf events), else ``[self]``."""
        return list(self._children) or [self]

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
        if self._children:
            for child in self._children:
                child.update(new_fd)
            self._prog_fd = new_fd
            return
        if self._sock is not None:
            _set_socket_filter(self._sock, new_fd)
            self._prog_fd = new_fd
            return
        if self._replace is not None and self._fd is None:
            self._replace(new_fd)
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
        for child in self._children:
            child.detach()
        self.close()

    def close(self) -> None:
        """Release the fds: detaches, unless the link is pinned."""
        fd, self._fd = self._fd, None
        perf_fd, self._perf_fd = self._perf_fd, None
        sock, self._sock = self._sock, None
        cleanup, self._cleanup = self._cleanup, None
        self._replace = None
        children, self._children = self._children, []
        for child in children:
            child.close()
        if sock is not None and sock.fileno() != -1:
            with contextlib.suppress(OSError):
                sock.setsockopt(SOL_SOCKET, SO_DETACH_BPF, 0)
        for f in (fd, perf_fd):
            if f is not None:
                with contextlib.suppress(OSError, ImportError):
                    _sys().close(f)
        if cleanup is not None:
            with contextlib.suppress(Exception):
                cleanup()

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
    target = _open_netns(name)
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


def _open_netns(name: str | os.PathLike[str] | None) -> int:
    """An fd of network namespace ``name`` (an ``ip netns`` name or a path; None: this thread's)."""
    if name is None:
        name = "/proc/thread-self/ns/net"
    path = Path(name) if os.sep in str(name) else NETNS_DIR / str(name)
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise attach_error(f"no network namespace {str(name)!r} ({path} does not exist)",
                           errno.ENOENT) from None


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
    mode: str | None = None,
    netns: str | None = None,
) -> Link:
    """Attach an XDP program to an interface with a BPF link (``BPF_XDP``).

    ``mode``: None (the default: the kernel takes the driver's native XDP where
    the device has it, else generic), ``"native"`` (driver only: fails on a
    device without it), ``"generic"`` (any device, slower) or ``"offload"`` (NIC).  ``netns`` names a
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


def attach_tc_classic(
    prog: Any,
    ifname: str | None = None,
    ifindex: int | None = None,
    direction: str = "ingress",
    netns: str | None = None,
    priority: int = 0,
    handle: int = 0,
) -> Link:
    """Attach a TC program the pre-tcx way: a clsact qdisc plus a direct-action cls_bpf filter.

    Works on every kernel with clsact (4.5+); :func:`attach_tcx` is preferred
    where tcx links exist (6.6+).  ``priority``/``handle`` 0 let the kernel
    pick.  Closing the Link deletes the filter, and the clsact qdisc too when
    this attachment created it and no other filter is left on it.
    ``link.update(new_prog)`` swaps the filter's program in place
    (``NLM_F_REPLACE``), so no packet goes unfiltered.  The filter has no
    link fd, so it cannot be pinned.
    """
    from . import netlink

    parent = netlink.tc_parent(direction)
    prog_fd = _fd_of(prog)
    name = f"{_sys().prog_info(prog_fd).get('name') or 'pyebpf'}"
    with in_netns(netns):
        index, label = _ifindex(ifname, ifindex, netns)
        sock = netlink.RouteSocket()  # bound to this namespace for the detach as well
    try:
        created = netlink.add_clsact(sock, index)
        try:
            handle, priority = netlink.add_bpf_filter(sock, index, parent, prog_fd, name,
                                                      priority=priority, handle=handle)
        except BaseException:
            if created:
                netlink.del_clsact(sock, index)
            raise
    except BaseException:
        sock.close()
        raise

    def replace(new_fd: int) -> None:
        netlink.add_bpf_filter(sock, index, parent, new_fd, name, priority=priority,
                               handle=handle, replace=True)

    def detach() -> None:
        try:
            with contextlib.suppress(OSError):
                netlink.del_bpf_filter(sock, index, parent, handle, priority)
            if created and not any(netlink.list_bpf_filters(sock, index, netlink.tc_parent(d))
                                   for d in ("ingress", "egress")):
                with contextlib.suppress(OSError):
                    netlink.del_clsact(sock, index)
        finally:
            sock.close()

    return Link(None, kind=f"tc-classic-{direction}",
                target=f"{label} handle {handle:#x} priority {priority}", prog_fd=prog_fd,
                cleanup=detach, replace=replace)


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


def link_perf_event(prog_fd: int, perf_fd: int, label: str, *, cookie: int = 0) -> int | None:
    """Run ``prog_fd`` on the events of ``perf_fd``: a BPF perf link, or the older ioctl.

    Returns the link fd, or None when the kernel has no perf links (before
    5.15) and the program was set with ``PERF_EVENT_IOC_SET_BPF`` instead.
    """
    try:
        return _sys().link_create(prog_fd, perf_fd, constants.AttachType.PERF_EVENT,
                                  perf_event_cookie=cookie)
    except SyscallError as e:
        if e.errno != errno.EINVAL:
            raise _link_create_error(e, label, "is the program of the right type?") from None
    try:
        _sys().perf_event_ioc_set_bpf(perf_fd, prog_fd)
        _sys().perf_event_ioc_enable(perf_fd)
    except SyscallError as e2:
        raise attach_error(f"attaching to {label} failed: {e2.strerror} "
                           "(is the program of the right type?)", e2.errno, e2.op) from None
    return None


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
        fd = link_perf_event(prog_fd, perf_fd, f"tracepoint {label}")
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


# --------------------------------------------------------------------------- BTF-typed tracing

# What the kernel lacks when it refuses a trampoline program (see features.trampolines_allowed).
_TRACING_LINK_TYPES = {"tp_btf": "TRACE_RAW_TP", "fentry": "TRACE_FENTRY",
                       "fexit": "TRACE_FEXIT", "fmod_ret": "MODIFY_RETURN", "lsm": "LSM_MAC"}


def attach_tracing(prog: Any, kind: str, target: str = "") -> Link:
    """Attach a loaded tp_btf / fentry / fexit / fmod_ret / lsm program.

    The target was fixed at load (``attach_btf_id``), so the link needs no
    more: ``BPF_LINK_CREATE`` with the program's attach type, or
    ``BPF_RAW_TRACEPOINT_OPEN`` without a name on kernels before 5.11.
    """
    if kind not in _TRACING_LINK_TYPES:
        raise ValueError(f"not a BTF tracing kind: {kind!r}")
    prog_fd = _fd_of(prog)
    attach_type = constants.AttachType[_TRACING_LINK_TYPES[kind]]
    label = f"{kind} {target}".strip()
    try:
        fd = _sys().link_create(prog_fd, 0, attach_type)
    except SyscallError as e:
        if e.errno != errno.EINVAL:
            raise _link_create_error(e, label) from None
        try:
            fd = _sys().raw_tracepoint_open(None, prog_fd)
        except SyscallError as e2:
            raise attach_error(f"attaching {label} failed: {e2.strerror}", e2.errno,
                               "BPF_RAW_TRACEPOINT_OPEN") from None
    return Link(fd, kind=kind, target=target, prog_fd=prog_fd)


# --------------------------------------------------------------------------- iterators


class IterLink(Link):
    """A BPF iterator link: each :meth:`open` starts a new pass; :meth:`read` reads one whole."""

    def open(self) -> Any:
        """A new binary file object reading one pass of the iterator (``BPF_ITER_CREATE``)."""
        try:
            fd = _sys().iter_create(self.fd)
        except SyscallError as e:
            raise attach_error(f"starting iterator {self.target} failed: {e.strerror}",
                               e.errno, "BPF_ITER_CREATE") from None
        return os.fdopen(fd, "rb", buffering=0)

    def read(self) -> bytes:
        """Run the iterator once and return everything it wrote (``bpf_seq_printf`` output)."""
        chunks = []
        with self.open() as f:
            while chunk := f.read(1 << 16):
                chunks.append(chunk)
        return b"".join(chunks)


def attach_iter(prog: Any, target: str = "", *, map_fd: int | None = None) -> IterLink:
    """Attach an iterator program (``iter/task``, ``iter/bpf_map_elem`` with ``map_fd=``)."""
    import struct

    prog_fd = _fd_of(prog)
    # union bpf_iter_link_info { struct { __u32 map_fd; } map; ... }
    info = struct.pack("<I", map_fd) + bytes(12) if map_fd is not None else None
    try:
        fd = _sys().link_create(prog_fd, 0, constants.AttachType.TRACE_ITER, iter_info=info)
    except SyscallError as e:
        raise _link_create_error(e, f"iterator {target}") from None
    return IterLink(fd, kind="iter", target=target, prog_fd=prog_fd)


# --------------------------------------------------------------------------- perf event sampling

# event name -> (enum perf_type_id member, config member name)
PERF_EVENTS = {
    "cpu-clock": ("SOFTWARE", "CPU_CLOCK"), "task-clock": ("SOFTWARE", "TASK_CLOCK"),
    "page-faults": ("SOFTWARE", "PAGE_FAULTS"), "context-switches": ("SOFTWARE", "CONTEXT_SWITCHES"),
    "cpu-migrations": ("SOFTWARE", "CPU_MIGRATIONS"),
    "cpu-cycles": ("HARDWARE", "CPU_CYCLES"), "cycles": ("HARDWARE", "CPU_CYCLES"),
    "instructions": ("HARDWARE", "INSTRUCTIONS"), "cache-misses": ("HARDWARE", "CACHE_MISSES"),
    "cache-references": ("HARDWARE", "CACHE_REFERENCES"),
    "branch-instructions": ("HARDWARE", "BRANCH_INSTRUCTIONS"),
    "branch-misses": ("HARDWARE", "BRANCH_MISSES"),
}


def _perf_event_config(event: str | tuple[int, int]) -> tuple[int, int]:
    if isinstance(event, tuple):
        return event
    try:
        type_name, config_name = PERF_EVENTS[event]
    except KeyError:
        raise ValueError(f"unknown perf event {event!r}; known: {', '.join(PERF_EVENTS)} "
                         "(or give a (type, config) pair)") from None
    enum = constants.PerfCountSW if type_name == "SOFTWARE" else constants.PerfCountHW
    return int(constants.PerfType[type_name]), int(enum[config_name])


def online_cpus() -> list[int]:
    """CPUs listed in ``/sys/devices/system/cpu/online`` (``0-3,6``)."""
    cpus: list[int] = []
    with open("/sys/devices/system/cpu/online") as f:
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def attach_perf_event(
    prog: Any,
    event: str | tuple[int, int] = "cpu-clock",
    *,
    sample_freq: int | None = None,
    sample_period: int | None = None,
    cpus: list[int] | None = None,
    pid: int = -1,
) -> Link:
    """Run a perf_event program on each sample of ``event``, on every CPU (or ``cpus``).

    ``event`` is a name from :data:`PERF_EVENTS` or a ``(type, config)``
    pair.  ``sample_freq`` (Hz per CPU, default 99) or ``sample_period``.
    ``pid`` limits sampling to one process (``cpus`` still applies).
    Returns one Link owning a perf event and BPF link per CPU.
    """
    if sample_freq is not None and sample_period is not None:
        raise ValueError("give sample_freq or sample_period, not both")
    if sample_freq is None and sample_period is None:
        sample_freq = 99
    ptype, config = _perf_event_config(event)
    prog_fd = _fd_of(prog)
    label = event if isinstance(event, str) else f"perf event {event}"
    children: list[Link] = []
    try:
        for cpu in (online_cpus() if cpus is None else cpus):
            try:
                perf_fd = _sys().perf_event_open(
                    ptype, config, pid=pid, cpu=cpu, freq=sample_freq is not None,
                    sample_freq=sample_freq or 0, sample_period=sample_period or 0,
                )
            except SyscallError as e:
                hint = {errno.ENOENT: "this machine has no such event (no hardware PMU?)",
                        errno.EOPNOTSUPP: "sampling is not supported for this event here",
                        errno.EINVAL: "the frequency may exceed "
                                      "/proc/sys/kernel/perf_event_max_sample_rate"}
                raise attach_error(f"opening {label} on CPU {cpu} failed: "
                                   f"{hint.get(e.errno, e.strerror)}", e.errno,
                                   "perf_event_open") from None
            try:
                fd = link_perf_event(prog_fd, perf_fd, f"{label} on CPU {cpu}")
            except BaseException:
                _sys().close(perf_fd)
                raise
            children.append(Link(fd, kind="perf_event", target=f"{label} cpu{cpu}",
                                 perf_fd=perf_fd, prog_fd=prog_fd))
    except BaseException:
        for child in children:
            child.close()
        raise
    return Link(None, kind="perf_event", target=label, prog_fd=prog_fd, children=children)


# --------------------------------------------------------------------------- netfilter

# UAPI linux/netfilter.h: NFPROTO_*, NF_INET_* hooks
NF_FAMILIES = {"ipv4": 2, "ipv6": 10}
NF_HOOKS = {"prerouting": 0, "local_in": 1, "forward": 2, "local_out": 3, "postrouting": 4}
# UAPI linux/bpf.h: BPF_F_NETFILTER_IP_DEFRAG
BPF_F_NETFILTER_IP_DEFRAG = 1


def attach_netfilter(prog: Any, hook: str = "local_in", family: str = "ipv4", *,
                     priority: int = 1, defrag: bool = False, netns: str | None = None) -> Link:
    """Attach a netfilter program at ``hook`` for ``family`` in (optionally) network namespace ``netns``."""
    if hook not in NF_HOOKS:
        raise ValueError(f"netfilter hook must be one of {', '.join(NF_HOOKS)}, not {hook!r}")
    if family not in NF_FAMILIES:
        raise ValueError(f"netfilter family must be one of {', '.join(NF_FAMILIES)}, not {family!r}")
    prog_fd = _fd_of(prog)
    label = f"netfilter {family} {hook} priority {priority}"
    nf = (NF_FAMILIES[family], NF_HOOKS[hook], priority,
          BPF_F_NETFILTER_IP_DEFRAG if defrag else 0)
    with in_netns(netns):
        try:
            fd = _sys().link_create(prog_fd, 0, constants.AttachType.NETFILTER, netfilter=nf)
        except SyscallError as e:
            hint = "another program may use this priority, or it is out of range" \
                if e.errno in (errno.EBUSY, errno.EINVAL, errno.ERANGE) else ""
            raise _link_create_error(e, label, hint) from None
    return Link(fd, kind="netfilter", target=f"{family}/{hook}", prog_fd=prog_fd)


# --------------------------------------------------------------------------- sockmap programs


def attach_sockmap(prog: Any, sockmap: Any, attach_type: int) -> Link:
    """Attach an sk_msg / sk_skb program to a SockMap or SockHash (``BPF_PROG_ATTACH``).

    The attachment has no link fd: closing the Link detaches it with
    ``BPF_PROG_DETACH``.  A map declaration no loaded program uses yet is
    created first (programs loaded later share it).
    """
    prog_fd = _fd_of(prog)
    if getattr(sockmap, "loaded", True) is False:
        sockmap.create()
    map_fd = _fd_of(sockmap, "SockMap/SockHash")
    at = constants.AttachType(attach_type)
    try:
        _sys().prog_attach(map_fd, prog_fd, int(at))
    except SyscallError as e:
        raise attach_error(f"attaching {at.name} to map fd {map_fd} failed: {e.strerror}",
                           e.errno, "BPF_PROG_ATTACH") from None
    # keep our own references so the detach works even if the caller closes theirs
    own_map, own_prog = os.dup(map_fd), os.dup(prog_fd)

    def detach() -> None:
        try:
            with contextlib.suppress(SyscallError):
                _sys().prog_detach(own_map, own_prog, int(at))
        finally:
            os.close(own_map)
            os.close(own_prog)

    return Link(None, kind=at.name.lower(), target=f"map fd {map_fd}", prog_fd=prog_fd,
                cleanup=detach)


# --------------------------------------------------------------------------- network namespaces

_NETNS_ATTACH = {"sk_lookup": "SK_LOOKUP", "flow_dissector": "FLOW_DISSECTOR"}  # AttachType names


def attach_netns(prog: Any, kind: str, netns: str | os.PathLike[str] | None = None) -> Link:
    """Attach an sk_lookup or flow_dissector program to a network namespace (a netns link).

    ``netns`` is an ``ip netns`` name or a path to a netns file
    (``/proc/<pid>/ns/net``); None means the calling thread's namespace.
    The link holds the namespace: closing it detaches the program.
    """
    if kind not in _NETNS_ATTACH:
        raise ValueError(f"netns links are for {', '.join(_NETNS_ATTACH)}, not {kind!r}")
    prog_fd = _fd_of(prog)
    attach_type = constants.AttachType[_NETNS_ATTACH[kind]]
    label = f"{kind} in network namespace {str(netns) if netns is not None else '(own)'}"
    ns = _open_netns(netns)
    try:
        fd = _sys().link_create(prog_fd, ns, attach_type)
    except SyscallError as e:
        hint = ""
        if e.errno in (errno.EEXIST, errno.E2BIG):  # netns_bpf_link_attach
            hint = ("a namespace takes one flow dissector, and none while the root namespace "
                    "has one: close the other link first" if kind == "flow_dissector" else
                    "the namespace has the most sk_lookup programs it takes (64)")
        raise _link_create_error(e, label, hint) from None
    finally:
        os.close(ns)
    return Link(fd, kind=kind, target=str(netns) if netns is not None else "", prog_fd=prog_fd)


# --------------------------------------------------------------------------- lightweight tunnels


def _lwt_name(prog_fd: int) -> str:
    """The name a route shows for the program: ``name:id``.  The kernel compares the
    encaps of two routes by these names only (bpf_encap_cmp), so a replacement
    with an equal name would be taken for the same route and ignored."""
    info = _sys().prog_info(prog_fd)
    return f"{info.get('name') or 'pyebpf'}:{info.get('id', 0)}"


def attach_lwt(prog: Any, hook: str, route: str | None = None, dev: str | None = None, *,
               via: str | None = None, ifindex: int | None = None,
               netns: str | None = None) -> Link:
    """Attach an lwt_in / lwt_out / lwt_xmit program to a new route (``encap bpf``).

    Adds the route ``route`` (``"10.1.2.0/24"``, IPv4 or IPv6) on ``dev``
    (or ``ifindex``), through gateway ``via`` if given, whose lightweight
    tunnel runs the program at ``hook``: what ``ip route add ROUTE encap bpf
    xmit pinned ... dev DEV`` does, over rtnetlink.  The route belongs to the
    link: closing it deletes the route, and ``link.update(new_prog)``
    replaces the route with one running the new program (``NLM_F_REPLACE``).
    """
    from . import netlink

    if hook not in netlink.LWT_HOOKS:
        raise ValueError(f"lwt hook must be one of {', '.join(netlink.LWT_HOOKS)}, not {hook!r}")
    if not route:
        raise attach_error(f"{hook} programs attach to a route: "
                           "prog.attach(route='10.1.2.0/24', dev='veth0', netns=...)",
                           errno.EINVAL)
    prog_fd = _fd_of(prog)
    with in_netns(netns):
        index, label = _ifindex(dev, ifindex, netns)
        sock = netlink.RouteSocket()  # bound to this namespace for the detach as well
    try:
        netlink.add_route(sock, route, index, gateway=via,
                          encap=netlink.lwt_bpf_encap(hook, prog_fd, _lwt_name(prog_fd)))
    except BaseException:
        sock.close()
        raise

    def replace(new_fd: int) -> None:
        netlink.add_route(sock, route, index, gateway=via, replace=True,
                          encap=netlink.lwt_bpf_encap(hook, new_fd, _lwt_name(new_fd)))

    def detach() -> None:
        try:
            with contextlib.suppress(OSError):
                netlink.del_route(sock, route, index, via)
        finally:
            sock.close()

    return Link(None, kind=hook, target=f"{route} dev {label}", prog_fd=prog_fd,
                cleanup=detach, replace=replace)


# --------------------------------------------------------------------------- SO_REUSEPORT groups


def _set_reuseport_prog(sock: socket.socket, prog_fd: int) -> None:
    try:
        sock.setsockopt(SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, prog_fd)
    except OSError as e:
        raise attach_error(
            f"attaching an sk_reuseport program failed: {e.strerror} (is the socket bound "
            "with SO_REUSEPORT, and the program an sk_reuseport one?)",
            e.errno or 0, "SO_ATTACH_REUSEPORT_EBPF",
        ) from None


def attach_reuseport(prog: Any, sock: socket.socket) -> Link:
    """Attach an sk_reuseport program to the ``SO_REUSEPORT`` group of ``sock``.

    ``SO_ATTACH_REUSEPORT_EBPF`` on one bound socket of the group; the
    program then picks the socket for every packet or connection the group
    receives.  Closing the Link detaches it (``SO_DETACH_REUSEPORT_BPF``);
    ``link.update(new_prog)`` swaps it in place.
    """
    prog_fd = _fd_of(prog)
    if not hasattr(sock, "setsockopt"):
        raise TypeError(f"sk_reuseport programs attach to a socket object, got "
                        f"{type(sock).__name__}")
    _set_reuseport_prog(sock, prog_fd)

    def detach() -> None:
        if sock.fileno() != -1:
            with contextlib.suppress(OSError):
                sock.setsockopt(SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0)

    return Link(None, kind="sk_reuseport", target=f"socket fd {sock.fileno()}",
                prog_fd=prog_fd, cleanup=detach,
                replace=lambda new_fd: _set_reuseport_prog(sock, new_fd))
