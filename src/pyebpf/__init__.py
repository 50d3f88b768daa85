"""pyebpf: write eBPF programs in Python.

A decorated function in a restricted subset of Python is compiled in-process
(llvmlite) to BPF, loaded with the ``bpf()`` system call, attached to a hook,
and shares typed maps with the Python side::

    import pyebpf as bpf
    from pyebpf import u32, u64

    counts = bpf.HashMap(u32, u64, max_entries=10240)

    @bpf.tracepoint("syscalls/sys_enter_getpid")
    def on_getpid(ctx) -> int:
        counts.increment(u32(bpf.get_current_pid_tgid() >> 32))
        return 0

    with on_getpid.attach():
        ...
        print(dict(counts.items()))

See README.md and docs/ for the guide and the language reference.
"""

from __future__ import annotations

from typing import Any

from . import net
from .constants import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_NO_PREALLOC,
    BPF_NOEXIST,
    TC_ACT_OK,
    TC_ACT_PIPE,
    TC_ACT_RECLASSIFY,
    TC_ACT_REDIRECT,
    TC_ACT_SHOT,
    TC_ACT_STOLEN,
    TC_ACT_UNSPEC,
    MapType,
)
from .errors import (
    AttachError,
    BPFError,
    BTFError,
    CompileError,
    ELFError,
    MapError,
    NotSupportedError,
    SyscallError,
    VerifierError,
)
from .lang.contexts import FlowKeys
from .lang.decorators import (
    cgroup_device,
    cgroup_skb,
    cgroup_sock,
    cgroup_sock_addr,
    cgroup_sockopt,
    cgroup_sysctl,
    fentry,
    fexit,
    flow_dissector,
    fmod_ret,
    func,
    iter,
    kprobe,
    kprobe_multi,
    kretprobe,
    lsm,
    lwt_in,
    lwt_out,
    lwt_xmit,
    netfilter,
    perf_event,
    raw_tracepoint,
    sk_lookup,
    sk_msg,
    sk_reuseport,
    sk_skb,
    socket_filter,
    sockops,
    syscall,
    tc,
    tp_btf,
    tracepoint,
    uprobe,
    uretprobe,
    usdt,
    xdp,
)
from .lang.helpers import HELPERS as _HELPERS
from .maps import (
    ArrayMap,
    ArrayOfMaps,
    BloomFilterMap,
    HashMap,
    HashOfMaps,
    LpmTrieMap,
    LruHashMap,
    LruPerCpuHashMap,
    Map,
    PerCpuArrayMap,
    PerCpuHashMap,
    PerfEventArray,
    ProgArray,
    QueueMap,
    RingBuf,
    StackMap,
    StackTraceMap,
)
from .net import htonl, htons, ntohl, ntohs
from .types import Struct, bool_, char, i8, i16, i32, i64, sizeof, u8, u16, u32, u64

XDP_ABORTED = 0
XDP_DROP = 1
XDP_PASS = 2
XDP_TX = 3
XDP_REDIRECT = 4


def _intrinsic(name: str, doc: str) -> Any:
    def fn(*args: Any, **kwargs: Any) -> Any:
        raise BPFError(f"bpf.{name}() runs only inside an eBPF program")

    fn.__name__ = name
    fn.__doc__ = doc
    fn.__pyebpf_intrinsic__ = name  # type: ignore[attr-defined]
    return fn


atomic_add = _intrinsic("atomic_add", "Atomically add to a u32/u64 in memory; gives the old value.")
atomic_and = _intrinsic("atomic_and", "Atomic bitwise and on memory; gives the old value.")
atomic_or = _intrinsic("atomic_or", "Atomic bitwise or on memory; gives the old value.")
atomic_xor = _intrinsic("atomic_xor", "Atomic bitwise xor on memory; gives the old value.")
atomic_xchg = _intrinsic("atomic_xchg", "Atomically store a value; gives the old value.")
atomic_cmpxchg = _intrinsic(
    "atomic_cmpxchg",
    "atomic_cmpxchg(place, expected, new): store new if place == expected; gives the old value.",
)

loop = _intrinsic(
    "loop",
    "bpf.loop(n, callback): call a @bpf.func callback(i: u64, ctx) -> i64 for i in range(n); "
    "it returns 1 to stop early (bpf_loop, Linux 5.17).",
)

iter_range = _intrinsic(
    "iter_range",
    "for i in bpf.iter_range(start, stop): a loop over i32 values the verifier checks once, "
    "however many times it runs (up to 2**23 iterations; open-coded bpf_iter_num, Linux 6.4). "
    "bpf.iter_range(stop) starts at 0.",
)

log2 = _intrinsic(
    "log2",
    "bpf.log2(x): the log2 histogram slot of x, x.bit_length() (BCC's bpf_log2l); slot k "
    "counts values in [2**(k-1), 2**k - 1], as m.print_log2_hist() expects.",
)

seq_printf = _intrinsic(
    "seq_printf",
    'bpf.seq_printf(ctx.meta.seq, b"fmt", ...): write a line of an iterator\'s output '
    "(up to 12 values).",
)

trace_printk = _intrinsic(
    "trace_printk",
    'Print to /sys/kernel/tracing/trace: bpf.trace_printk(b"pid %d", pid) (up to 3 values).',
)

# Every kernel helper is reachable as bpf.<name> (without the bpf_ prefix).
globals().update({name: h for name, h in _HELPERS.items() if name not in globals()})

__version__ = "0.1.0"

# Names whose modules are imported on first use (PEP 562), keeping
# ``import pyebpf`` cheap: declaring maps and programs needs none of them,
# and the kernel-facing modules are imported once a program is loaded.
_LAZY = {
    "Program": "programs", "CompiledProgram": "programs", "TestRunResult": "programs",
    "Object": "programs", "load": "programs", "compile": "programs",
    "Link": "links", "IterLink": "links",
    "SockMap": "sockmaps", "SockHash": "sockmaps", "ReuseportSockArray": "sockmaps",
    "Const": "variables", "Global": "variables", "kfunc": "kernel",
    "ProgramType": "constants", "AttachType": "constants",
    "EventReader": "events",
    "struct_ops": "structops", "StructOps": "structops", "StructOpsLink": "structops",
}
# Submodules that an eager import used to bind as attributes of the package.
_LAZY_SUBMODULES = ("links", "programs", "spec", "tracefs", "features", "symbols", "uprobes",
                    "kernel", "structops")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext pyebpf``: registers the ``%%ebpf`` cell magic (see pyebpf.notebook)."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str) -> Any:
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name in _LAZY_SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_LAZY_SUBMODULES})


__all__ = [
    # types
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "char", "bool_", "Struct", "sizeof",
    # programs
    "xdp", "tc", "socket_filter", "cgroup_skb", "tracepoint", "raw_tracepoint", "func",
    "kprobe", "kretprobe", "kprobe_multi", "uprobe", "uretprobe", "tp_btf", "fentry", "fexit", "fmod_ret", "lsm",
    "iter", "perf_event", "cgroup_sock", "cgroup_sock_addr", "sockops", "sk_msg", "sk_skb",
    "netfilter", "usdt", "IterLink",
    "syscall", "sk_lookup", "flow_dissector", "lwt_in", "lwt_out", "lwt_xmit", "cgroup_sysctl",
    "cgroup_sockopt", "cgroup_device", "sk_reuseport", "FlowKeys",
    "Program", "CompiledProgram", "TestRunResult", "Object", "Link", "load", "compile",
    "Const", "Global", "kfunc", "struct_ops", "StructOps", "StructOpsLink",
    # maps
    "Map", "HashMap", "ArrayMap", "PerCpuHashMap", "PerCpuArrayMap", "LruHashMap",
    "LruPerCpuHashMap", "LpmTrieMap", "RingBuf", "PerfEventArray", "QueueMap", "StackMap",
    "BloomFilterMap", "ProgArray", "StackTraceMap", "ArrayOfMaps", "HashOfMaps",
    "SockMap", "SockHash", "ReuseportSockArray", "EventReader",
    # helpers and intrinsics
    "net", "htons", "htonl", "ntohs", "ntohl",
    "atomic_add", "atomic_and", "atomic_or", "atomic_xor", "atomic_xchg", "atomic_cmpxchg",
    "loop", "iter_range", "log2", "seq_printf", "trace_printk", "get_current_pid_tgid", "get_current_uid_gid", "get_current_comm",
    "ktime_get_ns", "get_smp_processor_id", "get_prandom_u32",
    # constants
    "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT",
    "TC_ACT_UNSPEC", "TC_ACT_OK", "TC_ACT_RECLASSIFY", "TC_ACT_SHOT", "TC_ACT_PIPE",
    "TC_ACT_STOLEN", "TC_ACT_REDIRECT", "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST",
    "BPF_F_NO_PREALLOC", "MapType", "ProgramType", "AttachType",
    # errors
    "BPFError", "CompileError", "VerifierError", "SyscallError", "AttachError", "MapError",
    "NotSupportedError", "ELFError", "BTFError",
    "__version__",
]
