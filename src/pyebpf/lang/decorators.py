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
    BPF_SOCKOPT_GET,
    BPF_SOCKOPT_SET,
    BPF_SYSCTL,
    CGROUP_DEV_CTX,
    FLOW_DISSECTOR_SKB,
    NF_CTX,
    RAW_TRACEPOINT_ARGS,
    SK_BUFF,
    SK_BUFF_NO_PACKET,
    SK_LOOKUP,
    SK_MSG_MD,
    SK_REUSEPORT_MD,
    XDP_MD,
    ContextType,
    iter_context,
    perf_event_context,
    pt_regs_context,
    syscall_context,
    tracepoint_context,
    tracing_context,
    usdt_context,
)

__all__ = ["Hook", "xdp", "tc", "socket_filter", "cgroup_skb", "tracepoint", "raw_tracepoint",
           "func", "kprobe", "kretprobe", "kprobe_multi", "uprobe", "uretprobe", "tp_btf", "fentry", "fexit",
           "fmod_ret", "lsm", "iter", "perf_event", "cgroup_sock", "cgroup_sock_addr",
           "sockops", "sk_msg", "sk_skb", "netfilter", "usdt", "syscall", "sk_lookup",
           "flow_dissector", "lwt_in", "lwt_out", "lwt_xmit", "cgroup_sysctl", "cgroup_sockopt",
           "cgroup_device", "sk_reuseport"]

_PT_REGS_KINDS = {"kprobe", "kretprobe", "kprobe_multi", "uprobe", "uretprobe", "uprobe_multi",
                  "uretprobe_multi", "usdt"}
_TRACING_KINDS = {"tp_btf", "fentry", "fexit", "fmod_ret", "lsm"}
_SIMPLE_CONTEXTS = {"cgroup_sock": BPF_SOCK, "cgroup_sock_addr": BPF_SOCK_ADDR,
                    "sockops": BPF_SOCK_OPS, "sk_msg": SK_MSG_MD, "netfilter": NF_CTX,
                    "sk_lookup": SK_LOOKUP, "flow_dissector": FLOW_DISSECTOR_SKB,
                    "lwt_in": SK_BUFF, "lwt_out": SK_BUFF, "lwt_xmit": SK_BUFF,
                    "cgroup_sysctl": BPF_SYSCTL, "cgroup_device": CGROUP_DEV_CTX,
                    "sk_reuseport": SK_REUSEPORT_MD}


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
        if self.kind == "syscall":
            return syscall_context(dict(self.options).get("ctx"))
        if self.kind == "cgroup_sockopt":
            return BPF_SOCKOPT_GET if self.target == "getsockopt" else BPF_SOCKOPT_SET
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


# --------------------------------------------------------------------------- more hooks


def syscall(fn: Callable[..., Any] | None = None, *, ctx: Any = None) -> Any:
    """A ``SEC("syscall")`` program (sleepable): never attached, run with ``prog.test_run``.

    ``ctx`` is a ``bpf.Struct`` subclass describing the memory the caller
    passes in; the program reads and writes its fields as ``ctx.<field>``.
    Its return value comes back as ``test_run(...).retval``::

        class Args(bpf.Struct):
            a: u32
            b: u32

        @bpf.syscall(ctx=Args)
        def add(ctx) -> int:
            return ctx.a + ctx.b

        add.test_run(ctx=bytes(Args(a=40, b=2))).retval   # 42

    Syscall programs may call ``bpf.sys_bpf(cmd, attr)`` (``bpf()`` from
    the kernel) and kfuncs; they run in process context.
    """
    if ctx is not None:
        syscall_context(ctx)  # a wrong ctx fails here, at the decorator
    return _decorator(lambda: Hook("syscall", "syscall", options=(("ctx", ctx),)), fn)


def sk_lookup(fn: Callable[..., Any] | None = None) -> Any:
    """An sk_lookup program: picks the socket for a new connection or datagram (Linux 5.9).

    It runs in a network namespace before the kernel's own socket lookup.
    ``ctx`` is ``struct bpf_sk_lookup`` (``family``, ``protocol``,
    ``remote_ip4``/``remote_ip6``, ``remote_port`` (network order),
    ``local_ip4``/``local_ip6``, ``local_port`` (host order),
    ``ingress_ifindex``).  Select a socket from a SockMap/SockHash with
    ``bpf.sk_assign(ctx, sk, 0)`` and release it with ``bpf.sk_release(sk)``;
    return 1 (``SK_PASS``) to go on, 0 (``SK_DROP``) to refuse.  Attach with
    ``attach(netns="name")`` (or a netns path; default: this process's)::

        @bpf.sk_lookup
        def steer(ctx) -> int:
            if ctx.local_port == 7000:
                sk = socks.lookup(0)
                if sk is not None:
                    bpf.sk_assign(ctx, sk, 0)
                    bpf.sk_release(sk)
            return 1
    """
    return _decorator(lambda: Hook("sk_lookup", "sk_lookup"), fn)


def flow_dissector(fn: Callable[..., Any] | None = None) -> Any:
    """A flow dissector: parses packets for the kernel's flow hashing (Linux 4.20).

    ``ctx`` is a ``__sk_buff`` with only ``ctx.data``, ``ctx.data_end``
    (``ctx.header(T, off)``) and ``ctx.flow_keys``, a pointer to
    ``struct bpf_flow_keys`` (:class:`pyebpf.lang.contexts.FlowKeys`) the
    program fills in (``nhoff``, ``thoff``, ``n_proto``, ``ip_proto``,
    ``sport``, ``dport``, ``ipv4_src``...).  Return 0 (``BPF_OK``) or 2
    (``BPF_DROP``).  Attach with ``attach(netns=...)``; ``test_run`` gives
    the flow keys back as ``result.data``.
    """
    return _decorator(lambda: Hook("flow_dissector", "flow_dissector"), fn)


def _lwt(kind: str, doc_hook: str) -> Callable[..., Any]:
    def decorator(fn: Callable[..., Any] | None = None) -> Any:
        return _decorator(lambda: Hook(kind, kind), fn)

    decorator.__name__ = decorator.__qualname__ = kind
    decorator.__doc__ = f"""A lightweight-tunnel program on a route's {doc_hook} path (``{kind}``).

    ``ctx`` is ``struct __sk_buff`` (the packet starts at the IP header).
    Return 0 (``BPF_OK``) to let the packet go on, 2 (``BPF_DROP``) to drop
    it{", or 7 (``BPF_REDIRECT``) after ``bpf.redirect``" if kind == "lwt_xmit" else ""}.
    Attach to a route: ``attach(route="10.1.2.0/24", dev="veth0", netns=...)``
    (also ``via="10.0.0.2"``); closing the link deletes the route.
    """
    return decorator


lwt_in = _lwt("lwt_in", "input (packets routed in)")
lwt_out = _lwt("lwt_out", "output (locally generated packets)")
lwt_xmit = _lwt("lwt_xmit", "transmit")


def cgroup_sysctl(fn: Callable[..., Any] | None = None) -> Any:
    """A cgroup sysctl program: runs on each read or write of ``/proc/sys`` by the cgroup.

    ``ctx`` is ``struct bpf_sysctl``: ``ctx.write`` (1 for a write),
    ``ctx.file_pos`` (writable).  ``bpf.sysctl_get_name(ctx, buf, 0)``,
    ``bpf.sysctl_get_current_value(ctx, buf)``,
    ``bpf.sysctl_get_new_value(ctx, buf)`` and
    ``bpf.sysctl_set_new_value(ctx, buf, len)`` see and change the value.
    Return 1 to allow, 0 to deny (the read or write fails with EPERM).
    Attach with ``attach(cgroup="/sys/fs/cgroup/...")``.
    """
    return _decorator(lambda: Hook("cgroup_sysctl", "cgroup/sysctl"), fn)


_SOCKOPT_KINDS = ("getsockopt", "setsockopt")


def cgroup_sockopt(kind: str) -> Callable[[Callable[..., Any]], Any]:
    """A cgroup sockopt program on ``getsockopt()`` or ``setsockopt()`` calls (Linux 5.3).

    ``kind`` is ``"getsockopt"`` or ``"setsockopt"``.  ``ctx`` is ``struct
    bpf_sockopt``: ``level``, ``optname``, ``optlen``, ``retval``, and the
    option's bytes between ``ctx.optval`` and ``ctx.optval_end``
    (``ctx.header(T, 0)``).  setsockopt programs may rewrite ``level``,
    ``optname`` and ``optlen`` (``optlen = -1`` leaves the call to the
    kernel unchanged); getsockopt programs ``optlen`` and ``retval``.
    Return 1 to allow, 0 to fail the call with EPERM.  Attach with
    ``attach(cgroup=...)``.
    """
    if kind not in _SOCKOPT_KINDS:
        raise ValueError(f"cgroup_sockopt kind must be 'getsockopt' or 'setsockopt', not {kind!r}")
    return _hook_decorator(Hook("cgroup_sockopt", f"cgroup/{kind}", target=kind))


def cgroup_device(fn: Callable[..., Any] | None = None) -> Any:
    """A cgroup device program: decides whether the cgroup may use a device node.

    ``ctx`` is ``struct bpf_cgroup_dev_ctx``: ``access_type`` (access in the
    high 16 bits: 1 mknod, 2 read, 4 write; type in the low: 1 block, 2
    char), ``major``, ``minor``.  Return 1 to allow, 0 to deny (``open()``
    or ``mknod()`` fails with EPERM).  Attach with ``attach(cgroup=...)``.
    """
    return _decorator(lambda: Hook("cgroup_device", "cgroup/dev"), fn)


def sk_reuseport(fn: Callable[..., Any] | None = None, *, migrate: bool = False) -> Any:
    """An sk_reuseport program: picks the socket of an ``SO_REUSEPORT`` group for a packet.

    ``ctx`` is ``struct sk_reuseport_md`` (``len``, ``eth_protocol``,
    ``ip_protocol``, ``bind_inany``, ``hash``, packet bytes from the
    transport header through ``ctx.header(T, 0)``).  Pick with
    ``bpf.sk_select_reuseport(ctx, socks, key, 0)`` on a
    ``bpf.ReuseportSockArray``; return 1 (``SK_PASS``) to deliver, 0 to
    drop.  Attach to one socket of the group: ``attach(sock=s)``
    (``SO_ATTACH_REUSEPORT_EBPF``).  ``migrate=True`` also runs it when a
    listener closes (``sk_reuseport/migrate``, Linux 5.14).
    """
    section = "sk_reuseport/migrate" if migrate else "sk_reuseport"
    return _decorator(lambda: Hook("sk_reuseport", section), fn)


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
