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
    BPF_SOCK,
    BPF_SOCK_ADDR,
    BPF_SOCK_OPS,
    NF_CTX,
    RAW_TRACEPOINT_ARGS,
    SK_BUFF,
    SK_BUFF_NO_PACKET,
    SK_MSG_MD,
    XDP_MD,
    ContextType,
    iter_context,
    perf_event_context,
    pt_regs_context,
    tracepoint_context,
    tracing_context,
    usdt_context,
)

__all__ = ["Hook", "xdp", "tc", "socket_filter", "cgroup_skb", "tracepoint", "raw_tracepoint",
           "func", "kprobe", "kretprobe", "kprobe_multi", "uprobe", "uretprobe", "tp_btf", "fentry", "fexit",
           "fmod_ret", "lsm", "iter", "perf_event", "cgroup_sock", "cgroup_sock_addr",
           "sockops", "sk_msg", "sk_skb", "netfilter", "usdt"]

_PT_REGS_KINDS = {"kprobe", "kretprobe", "kprobe_multi", "uprobe", "uretprobe", "uprobe_multi",
                  "uretprobe_multi", "usdt"}
_TRACING_KINDS = {"tp_btf", "fentry", "fexit", "fmod_ret", "lsm"}
_SIMPLE_CONTEXTS = {"cgroup_sock": BPF_SOCK, "cgroup_sock_addr": BPF_SOCK_ADDR,
                    "sockops": BPF_SOCK_OPS, "sk_msg": SK_MSG_MD, "netfilter": NF_CTX}


@record
class Hook(Record):
    """Where a program runs: ``kind`` (``"xdp"``, ``"tracepoint"``, ...), ELF section, target."""

    kind: str
    section: str
    target: str = ""
    direction: str = ""
    # default keyword arguments of attach() given to the decorator (perf_event's sample_freq...)
    options: tuple[tuple[str, Any], ...] = ()

    def context(self) -> ContextType:
        if self.kind == "xdp":
            return XDP_MD
        if self.kind in ("tc", "cgroup_skb", "sk_skb"):
            return SK_BUFF
        if self.kind == "socket_filter":
            return SK_BUFF_NO_PACKET
        if self.kind == "tracepoint":
            category, _, name = self.target.partition("/")
            return tracepoint_context(category, name)
        if self.kind == "raw_tracepoint":
            return RAW_TRACEPOINT_ARGS
        if self.kind == "usdt":
            opts = dict(self.options)
            return usdt_context(opts["binary"], opts["provider"], opts["name"])
        if self.kind in _PT_REGS_KINDS:
            return pt_regs_context()
        if self.kind == "perf_event":
            return perf_event_context()
        if self.kind in _TRACING_KINDS:
            return tracing_context(self.kind, self.target)
        if self.kind == "iter":
            return iter_context(self.target)
        if self.kind in _SIMPLE_CONTEXTS:
            return _SIMPLE_CONTEXTS[self.kind]
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


# --------------------------------------------------------------------------- probes


def _hook_decorator(hook: Hook) -> Callable[[Callable[..., Any]], Any]:
    return lambda f: _program(f, hook)


def kprobe(function: str) -> Callable[[Callable[..., Any]], Any]:
    """A kprobe on kernel function entry: ``ctx.arg(n)`` are the function's arguments.

    Attached through the kprobe PMU (``perf_event_open``), or tracefs
    ``kprobe_events`` where the PMU is missing.  Kernels built without
    ``CONFIG_KPROBES`` refuse it at attach time with a NotSupportedError.
    """
    return _hook_decorator(Hook("kprobe", f"kprobe/{function}", target=function))


def kretprobe(function: str) -> Callable[[Callable[..., Any]], Any]:
    """A kprobe on kernel function return: ``ctx.ret`` is the return value."""
    return _hook_decorator(Hook("kretprobe", f"kretprobe/{function}", target=function))


def kprobe_multi(pattern: str, *, retprobe: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """One program on many kernel functions at once (a kprobe_multi link, Linux 5.18).

    ``pattern`` is a kernel function name or a shell-style glob (``"vfs_*"``)
    matched against ``/proc/kallsyms``; ``retprobe=True`` runs at return.
    Needs ``CONFIG_FPROBE``; kernels without it refuse at attach time.
    """
    section = f"kretprobe.multi/{pattern}" if retprobe else f"kprobe.multi/{pattern}"
    return _hook_decorator(Hook("kprobe_multi", section, target=pattern,
                                options=(("retprobe", retprobe),)))


def _uprobe(kind: str, binary: str, symbol: str | int, multi: bool) -> Hook:
    if not binary:
        raise ValueError("uprobes need a binary: a path, a program name or a library ('libc')")
    where = f"{binary}:{symbol:#x}" if isinstance(symbol, int) else f"{binary}:{symbol}"
    section_kind = f"{kind}.multi" if multi else kind
    return Hook(f"{kind}_multi" if multi else kind, f"{section_kind}/{where}", target=where,
                options=(("binary", binary), ("symbol", symbol)))


def uprobe(binary: str, symbol: str | int, *,
           multi: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """A uprobe on entry to ``symbol`` in ``binary``: ``ctx.arg(n)`` are its arguments.

    ``binary`` is a path, a program on ``PATH`` or a library name
    (``"libc"``); ``symbol`` a function name, ``"name+0x10"`` or a file
    offset.  ``attach(pid=N)`` limits it to one process.  With
    ``multi=True`` it attaches with a uprobe_multi link (Linux 6.6+)::

        @bpf.uprobe("libc", "malloc")
        def on_malloc(ctx) -> int:
            sizes.increment(0, ctx.arg(0))
            return 0
    """
    return _hook_decorator(_uprobe("uprobe", binary, symbol, multi))


def uretprobe(binary: str, symbol: str | int, *,
              multi: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """A uprobe on return from ``symbol`` in ``binary``: ``ctx.ret`` is the return value."""
    return _hook_decorator(_uprobe("uretprobe", binary, symbol, multi))


def usdt(binary: str, provider: str, name: str) -> Callable[[Callable[..., Any]], Any]:
    """A USDT probe (``<sys/sdt.h>``'s ``STAP_PROBE``/``DTRACE_PROBE``) in ``binary``.

    Attached as a uprobe at every site of ``provider:name`` (from the
    binary's ``.note.stapsdt``); ``attach(pid=N)`` limits it to one process.
    ``ctx.arg(n)`` is the probe's n-th argument, decoded from the site's
    argument spec (register, memory operand or constant) and typed by its
    size and sign (``-4@%eax`` is an ``i32``); ``ctx.ip`` and ``ctx.sp`` are
    the registers.  A probe guarded by a semaphore has it raised while
    attached::

        @bpf.usdt("./server", "myapp", "request")
        def on_request(ctx) -> int:
            sizes.increment(u32(ctx.arg(0)), 1)
            return 0
    """
    if not binary or not provider or not name:
        raise ValueError("usdt needs a binary, a provider and a probe name")
    where = f"{binary}:{provider}:{name}"
    return _hook_decorator(Hook("usdt", f"usdt/{where}", target=where,
                                options=(("binary", binary), ("provider", provider),
                                         ("name", name))))


def tp_btf(name: str) -> Callable[[Callable[..., Any]], Any]:
    """A BTF-typed raw tracepoint (``tp_btf/<name>``).

    ``ctx.args[i]``, ``ctx.arg(i)`` and the tracepoint's parameters by name
    (``ctx.prev``, ``ctx.next`` for ``sched_switch``) are u64 slots, typed
    from kernel BTF.
    """
    return _hook_decorator(Hook("tp_btf", f"tp_btf/{name}", target=name))


def fentry(function: str) -> Callable[[Callable[..., Any]], Any]:
    """A trampoline program on kernel function entry; arguments by name from kernel BTF."""
    return _hook_decorator(Hook("fentry", f"fentry/{function}", target=function))


def fexit(function: str) -> Callable[[Callable[..., Any]], Any]:
    """A trampoline program on kernel function exit: the arguments plus ``ctx.ret``."""
    return _hook_decorator(Hook("fexit", f"fexit/{function}", target=function))


def fmod_ret(function: str) -> Callable[[Callable[..., Any]], Any]:
    """A trampoline program that may override the return value of an error-injectable function."""
    return _hook_decorator(Hook("fmod_ret", f"fmod_ret/{function}", target=function))


def lsm(hook: str) -> Callable[[Callable[..., Any]], Any]:
    """A BPF LSM program on ``hook`` (``"file_open"``, ``"bprm_check_security"``...).

    Arguments by name from kernel BTF; return 0 to allow, ``-EPERM`` to deny.
    """
    return _hook_decorator(Hook("lsm", f"lsm/{hook}", target=hook))


def iter(target: str) -> Callable[[Callable[..., Any]], Any]:  # noqa: A001 - the hook's name
    """A BPF iterator (``iter/task``, ``iter/bpf_map``...): read its output as a file.

    ``ctx.meta`` is the ``bpf_iter_meta`` pointer (the seq_file), and the
    iterated object (``ctx.task``) is 0 on the final call::

        with dump_tasks.attach() as link:
            text = link.read()
    """
    return _hook_decorator(Hook("iter", f"iter/{target}", target=target))


def perf_event(fn: Callable[..., Any] | None = None, *, event: str = "cpu-clock",
               sample_freq: int | None = None, sample_period: int | None = None) -> Any:
    """A perf event sampling program: runs on each sample of ``event`` on every CPU.

    ``event``: ``"cpu-clock"``, ``"task-clock"``, ``"page-faults"``,
    ``"context-switches"`` (software), ``"cpu-cycles"``, ``"instructions"``,
    ``"cache-misses"``, ``"branch-misses"`` (hardware).  Give
    ``sample_freq`` (samples per second per CPU) or ``sample_period``
    (events per sample); the default is 99 Hz.  ``ctx`` is
    ``bpf_perf_event_data`` (``ctx.sample_period``, ``ctx.ip``, ...); use
    ``bpf.get_stackid(ctx, stacks, flags)`` to record stacks.  The decorator's
    options are defaults: ``attach(sample_freq=..., cpus=[0])`` overrides them.
    """
    if sample_freq is not None and sample_period is not None:
        raise ValueError("give sample_freq or sample_period, not both")
    options = tuple((k, v) for k, v in (("event", event), ("sample_freq", sample_freq),
                                         ("sample_period", sample_period)) if v is not None)
    return _decorator(lambda: Hook("perf_event", "perf_event", target=event, options=options),
                      fn)


# --------------------------------------------------------------------------- socket hooks

_SOCK_HOOKS = ("sock_create", "sock_release", "post_bind4", "post_bind6")
_SOCK_ADDR_HOOKS = ("bind4", "bind6", "connect4", "connect6", "sendmsg4", "sendmsg6",
                    "recvmsg4", "recvmsg6", "getpeername4", "getpeername6", "getsockname4",
                    "getsockname6", "connect_unix", "sendmsg_unix", "recvmsg_unix")


def cgroup_sock(hook: str = "sock_create") -> Callable[[Callable[..., Any]], Any]:
    """A cgroup socket program (``sock_create``, ``sock_release``, ``post_bind4/6``).

    ``ctx`` is ``struct bpf_sock``; return 1 to allow, 0 to deny (``socket()``
    fails with EPERM).  Attach with ``attach(cgroup="/sys/fs/cgroup/...")``.
    """
    if hook not in _SOCK_HOOKS:
        raise ValueError(f"cgroup_sock hook must be one of {', '.join(_SOCK_HOOKS)}, not {hook!r}")
    return _hook_decorator(Hook("cgroup_sock", f"cgroup/{hook}", target=hook))


def cgroup_sock_addr(hook: str) -> Callable[[Callable[..., Any]], Any]:
    """A cgroup sock_addr program (``connect4``, ``bind6``, ``sendmsg4``...).

    ``ctx`` is ``struct bpf_sock_addr`` (``ctx.user_ip4``, ``ctx.user_port``
    in network byte order, writable to rewrite the address); return 1 to
    allow, 0 to deny with EPERM.
    """
    if hook not in _SOCK_ADDR_HOOKS:
        raise ValueError(f"cgroup_sock_addr hook must be one of {', '.join(_SOCK_ADDR_HOOKS)}, "
                         f"not {hook!r}")
    return _hook_decorator(Hook("cgroup_sock_addr", f"cgroup/{hook}", target=hook))


def sockops(fn: Callable[..., Any] | None = None) -> Any:
    """A sockops program (``struct bpf_sock_ops``), attached to a cgroup; runs on TCP events."""
    return _decorator(lambda: Hook("sockops", "sockops"), fn)


def sk_msg(fn: Callable[..., Any] | None = None) -> Any:
    """An sk_msg verdict program (``struct sk_msg_md``), attached to a SockMap/SockHash.

    Return 1 (``SK_PASS``) to let the message through, 0 (``SK_DROP``) to drop it.
    """
    return _decorator(lambda: Hook("sk_msg", "sk_msg"), fn)


# sk_skb program kinds -> their ELF section (libbpf's names)
_SK_SKB_KINDS = {"stream_verdict": "sk_skb/stream_verdict",
                 "stream_parser": "sk_skb/stream_parser", "verdict": "sk_skb/verdict"}


def sk_skb(fn: Callable[..., Any] | None = None, *, kind: str = "stream_verdict") -> Any:
    """An sk_skb program (``struct __sk_buff``), attached to a SockMap/SockHash.

    It runs on data a socket in the map receives.  ``kind``:
    ``"stream_verdict"`` (return 1, ``SK_PASS``, to deliver the data, 0 to
    drop it, or redirect with ``bpf.sk_redirect_map``/``sk_redirect_hash``),
    ``"stream_parser"`` (return the length of the next message) or
    ``"verdict"`` (the verdict without a parser, TCP and UDP, Linux 5.13)::

        @bpf.sk_skb(kind="stream_verdict")
        def count_rx(ctx) -> int:
            stats.increment(0, ctx.len)
            return 1
    """
    if kind not in _SK_SKB_KINDS:
        raise ValueError(f"sk_skb kind must be one of {', '.join(_SK_SKB_KINDS)}, not {kind!r}")
    return _decorator(lambda: Hook("sk_skb", _SK_SKB_KINDS[kind], target=kind), fn)


def netfilter(fn: Callable[..., Any] | None = None) -> Any:
    """A netfilter hook program (Linux 6.4+): return 1 (``NF_ACCEPT``) or 0 (``NF_DROP``).

    Attach with ``attach(hook="local_in", family="ipv4", priority=..., netns=...)``.
    """
    return _decorator(lambda: Hook("netfilter", "netfilter"), fn)


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
