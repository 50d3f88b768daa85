"""The public API (../shared/API.md) is pinned: names only get added, never silently lost."""

from __future__ import annotations

import pyebpf

PINNED = {
    "u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64", "char", "bool_", "Struct", "sizeof",
    "xdp", "tc", "socket_filter", "cgroup_skb", "tracepoint", "raw_tracepoint", "func",
    "kprobe", "kretprobe", "kprobe_multi", "uprobe", "uretprobe", "tp_btf", "fentry", "fexit", "fmod_ret", "lsm",
    "iter", "perf_event", "cgroup_sock", "cgroup_sock_addr", "sockops", "sk_msg", "sk_skb",
    "netfilter", "usdt", "IterLink",
    "syscall", "sk_lookup", "flow_dissector", "lwt_in", "lwt_out", "lwt_xmit", "cgroup_sysctl",
    "cgroup_sockopt", "cgroup_device", "sk_reuseport", "FlowKeys",
    "Program", "CompiledProgram", "TestRunResult", "Object", "Link", "load", "compile",
    "Const", "Global", "kfunc", "struct_ops", "StructOps", "StructOpsLink",
    "Map", "HashMap", "ArrayMap", "PerCpuHashMap", "PerCpuArrayMap", "LruHashMap",
    "LruPerCpuHashMap", "LpmTrieMap", "RingBuf", "PerfEventArray", "QueueMap", "StackMap",
    "BloomFilterMap", "ProgArray", "StackTraceMap", "ArrayOfMaps", "HashOfMaps",
    "SockMap", "SockHash", "ReuseportSockArray", "EventReader",
    "net", "htons", "htonl", "ntohs", "ntohl",
    "atomic_add", "atomic_and", "atomic_or", "atomic_xor", "atomic_xchg", "atomic_cmpxchg",
    "loop", "iter_range", "log2", "seq_printf", "trace_printk", "get_current_pid_tgid", "get_current_uid_gid", "get_current_comm",
    "ktime_get_ns", "get_smp_processor_id", "get_prandom_u32",
    "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT",
    "TC_ACT_UNSPEC", "TC_ACT_OK", "TC_ACT_RECLASSIFY", "TC_ACT_SHOT", "TC_ACT_PIPE",
    "TC_ACT_STOLEN", "TC_ACT_REDIRECT", "BPF_ANY", "BPF_NOEXIST", "BPF_EXIST",
    "BPF_F_NO_PREALLOC", "MapType", "ProgramType", "AttachType",
    "BPFError", "CompileError", "VerifierError", "SyscallError", "AttachError", "MapError",
    "NotSupportedError", "ELFError", "BTFError", "__version__",
}


def test_all_is_pinned() -> None:
    assert set(pyebpf.__all__) == PINNED


def test_every_name_in_all_exists_and_public_callables_have_docstrings() -> None:
    for name in pyebpf.__all__:
        obj = getattr(pyebpf, name)
        if callable(obj) and not isinstance(obj, type(pyebpf.u8)) and name[0].islower():
            assert getattr(obj, "__doc__", None), name


def test_error_hierarchy() -> None:
    for name in ("CompileError", "VerifierError", "SyscallError", "AttachError", "MapError",
                 "NotSupportedError", "ELFError", "BTFError"):
        assert issubclass(getattr(pyebpf, name), pyebpf.BPFError)
    assert issubclass(pyebpf.CompileError, SyntaxError)
    assert issubclass(pyebpf.SyscallError, OSError)
