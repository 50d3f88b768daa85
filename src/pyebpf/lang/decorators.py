"""Decorators that turn a Python function into a :class:`pyebpf.Program`.

A decorator only records *what* the function is (its hook and ELF section);
compiling, loading and attaching happen later, on first use.  Section names
follow libbpf's conventions, so objects pyebpf writes load with libbpf and
bpftool too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, overload

from .._record import Record, record
from .contexts import (
    RAW_TRACEPOINT_ARGS,
    SK_BUFF,
    SK_BUFF_NO_PACKET,
    XDP_MD,
    ContextType,
    tracepoint_context,
)

__all__ = ["Hook", "xdp", "tc", "socket_filter", "cgroup_skb", "tracepoint", "raw_tracepoint",
           "func"]


@record
class Hook(Record):
    """Where a program runs: ``kind`` (``"xdp"``, ``"tracepoint"``, ...), ELF section, target."""

    kind: str
    section: str
    target: str = ""
    direction: str = ""

    def context(self) -> ContextType:
        if self.kind == "xdp":
            return XDP_MD
        if self.kind in ("tc", "cgroup_skb"):
            return SK_BUFF
        if self.kind == "socket_filter":
            return SK_BUFF_NO_PACKET
        if self.kind == "tracepoint":
            category, _, name = self.target.partition("/")
            return tracepoint_context(category, name)
        if self.kind == "raw_tracepoint":
            return RAW_TRACEPOINT_ARGS
        raise ValueError(f"no context type for hook {self.kind!r}")  # pragma: no cover


def _program(fn: Callable[..., Any], hook: Hook) -> Any:
    from ..programs import Program

    return Program(fn, hook)


def _decorator(make_hook: Callable[[], Hook], fn: Callable[..., Any] | None) -> Any:
    if fn is not None:
        return _program(fn, make_hook())
    return lambda f: _program(f, make_hook())


@overload
def xdp(fn: Callable[..., Any]) -> Any: ...
@overload
def xdp(fn: None = None, *, frags: bool = False) -> Callable[[Callable[..., Any]], Any]: ...
def xdp(fn: Callable[..., Any] | None = None, *, frags: bool = False) -> Any:
    """An XDP program: runs for each packet at the driver; returns ``bpf.XDP_*``.

    ``ctx`` is ``struct xdp_md``: ``ctx.data``, ``ctx.data_end``,
    ``ctx.ingress_ifindex``, ``ctx.header(T, offset)``.
    """
    return _decorator(lambda: Hook("xdp", "xdp.frags" if frags else "xdp"), fn)


def tc(fn: Callable[..., Any] | None = None, *, direction: str = "ingress") -> Any:
    """A TC program (attached with a tcx link); returns ``bpf.TC_ACT_*``.

    ``ctx`` is ``struct __sk_buff``.  ``direction`` is ``"ingress"`` or ``"egress"``.
    """
    if direction not in ("ingress", "egress"):
        raise ValueError(f"direction must be 'ingress' or 'egress', not {direction!r}")
    return _decorator(lambda: Hook("tc", f"tcx/{direction}", direction=direction), fn)


def socket_filter(fn: Callable[..., Any] | None = None) -> Any:
    """A socket filter: return the number of bytes to keep (0 drops the packet)."""
    return _decorator(lambda: Hook("socket_filter", "socket"), fn)


def cgroup_skb(fn: Callable[..., Any] | None = None, *, direction: str = "ingress") -> Any:
    """A cgroup skb program: return 1 to allow, 0 to drop."""
    if direction not in ("ingress", "egress"):
        raise ValueError(f"direction must be 'ingress' or 'egress', not {direction!r}")
    return _decorator(
        lambda: Hook("cgroup_skb", f"cgroup_skb/{direction}", direction=direction), fn
    )


def tracepoint(target: str) -> Callable[[Callable[..., Any]], Any]:
    """A tracepoint program, e.g. ``@bpf.tracepoint("syscalls/sys_enter_openat")``.

    ``ctx`` has the fields of the tracepoint's format (``ctx.args[0]``,
    ``ctx.filename`` ...), read from the running kernel's tracefs.
    """
    if target.count("/") != 1:
        raise ValueError(f"tracepoint target must be 'category/name', not {target!r}")
    return lambda f: _program(f, Hook("tracepoint", f"tracepoint/{target}", target=target))


def raw_tracepoint(name: str) -> Callable[[Callable[..., Any]], Any]:
    """A raw tracepoint program; ``ctx.args[i]`` are the tracepoint's raw arguments (u64)."""
    return lambda f: _program(f, Hook("raw_tracepoint", f"raw_tracepoint/{name}", target=name))


def func(fn: Callable[..., Any] | None = None, *, linkage: str = "static") -> Any:
    """A subprogram callable from programs (a BPF-to-BPF call).

    Parameters and the return value are annotated integer types::

        @bpf.func
        def clamp(x: u32, hi: u32) -> u32:
            return x if x < hi else hi

    ``linkage="global"`` makes the kernel verify the function once, on its own,
    instead of at every call site (faster to verify, but it sees only its arguments).
    """
    from ..programs import Subprogram

    if linkage not in ("static", "global"):
        raise ValueError(f"linkage must be 'static' or 'global', not {linkage!r}")
    if fn is not None:
        return Subprogram(fn, linkage)
    return lambda f: Subprogram(f, linkage)
