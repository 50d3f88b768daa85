"""The kernel's eBPF numbers as Pythonic enums and flags.

Values come from the UAPI headers of Linux 6.18 (``include/uapi/linux/bpf.h``,
``if_link.h``, ``pkt_cls.h``, ``perf_event.h``); each enum names the C enum
it mirrors.  Members drop the C prefix: ``BPF_MAP_TYPE_HASH`` is
``MapType.HASH``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

# Creating an enum class costs ~20 us a member.  The enums needed to declare
# maps and programs (MapType, XDPAction, TCAction) are built at import; the
# others are built on first access, through the module __getattr__ below.
_LAZY: dict[str, Callable[[], type]] = {}


def _lazy(build: Callable[[], type]) -> Callable[[], type]:
    _LAZY[build.__name__[1:]] = build
    return build


@_lazy
def _Cmd() -> type:
    class Cmd(enum.IntEnum):
        """``enum bpf_cmd``: the first argument of ``bpf(2)``."""

        MAP_CREATE = 0
        MAP_LOOKUP_ELEM = 1
        MAP_UPDATE_ELEM = 2
        MAP_DELETE_ELEM = 3
        MAP_GET_NEXT_KEY = 4
        PROG_LOAD = 5
        OBJ_PIN = 6
        OBJ_GET = 7
        PROG_ATTACH = 8
        PROG_DETACH = 9
        PROG_TEST_RUN = 10
        PROG_GET_NEXT_ID = 11
        MAP_GET_NEXT_ID = 12
        PROG_GET_FD_BY_ID = 13
        MAP_GET_FD_BY_ID = 14
        OBJ_GET_INFO_BY_FD = 15
        PROG_QUERY = 16
        RAW_TRACEPOINT_OPEN = 17
        BTF_LOAD = 18
        BTF_GET_FD_BY_ID = 19
        TASK_FD_QUERY = 20
        MAP_LOOKUP_AND_DELETE_ELEM = 21
        MAP_FREEZE = 22
        BTF_GET_NEXT_ID = 23
        MAP_LOOKUP_BATCH = 24
        MAP_LOOKUP_AND_DELETE_BATCH = 25
        MAP_UPDATE_BATCH = 26
        MAP_DELETE_BATCH = 27
        LINK_CREATE = 28
        LINK_UPDATE = 29
        LINK_GET_FD_BY_ID = 30
        LINK_GET_NEXT_ID = 31
        ENABLE_STATS = 32
        ITER_CREATE = 33
        LINK_DETACH = 34
        PROG_BIND_MAP = 35
        TOKEN_CREATE = 36
        PROG_STREAM_READ_BY_FD = 37

        @property
        def op_name(self) -> str:
            """The C name (``"BPF_MAP_CREATE"``), used in error messages."""
            return "BPF_" + self.name

    return Cmd


class MapType(enum.IntEnum):
    """``enum bpf_map_type``."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33


@_lazy
def _ProgramType() -> type:
    class ProgramType(enum.IntEnum):
        """``enum bpf_prog_type``."""

        UNSPEC = 0
        SOCKET_FILTER = 1
        KPROBE = 2
        SCHED_CLS = 3
        SCHED_ACT = 4
        TRACEPOINT = 5
        XDP = 6
        PERF_EVENT = 7
        CGROUP_SKB = 8
        CGROUP_SOCK = 9
        LWT_IN = 10
        LWT_OUT = 11
        LWT_XMIT = 12
        SOCK_OPS = 13
        SK_SKB = 14
        CGROUP_DEVICE = 15
        SK_MSG = 16
        RAW_TRACEPOINT = 17
        CGROUP_SOCK_ADDR = 18
        LWT_SEG6LOCAL = 19
        LIRC_MODE2 = 20
        SK_REUSEPORT = 21
        FLOW_DISSECTOR = 22
        CGROUP_SYSCTL = 23
        RAW_TRACEPOINT_WRITABLE = 24
        CGROUP_SOCKOPT = 25
        TRACING = 26
        STRUCT_OPS = 27
        EXT = 28
        LSM = 29
        SK_LOOKUP = 30
        SYSCALL = 31
        NETFILTER = 32

    return ProgramType


@_lazy
def _AttachType() -> type:
    class AttachType(enum.IntEnum):
        """``enum bpf_attach_type`` (``BPF_`` prefix dropped)."""

        CGROUP_INET_INGRESS = 0
        CGROUP_INET_EGRESS = 1
        CGROUP_INET_SOCK_CREATE = 2
        CGROUP_SOCK_OPS = 3
        SK_SKB_STREAM_PARSER = 4
        SK_SKB_STREAM_VERDICT = 5
        CGROUP_DEVICE = 6
        SK_MSG_VERDICT = 7
        CGROUP_INET4_BIND = 8
        CGROUP_INET6_BIND = 9
        CGROUP_INET4_CONNECT = 10
        CGROUP_INET6_CONNECT = 11
        CGROUP_INET4_POST_BIND = 12
        CGROUP_INET6_POST_BIND = 13
        CGROUP_UDP4_SENDMSG = 14
        CGROUP_UDP6_SENDMSG = 15
        LIRC_MODE2 = 16
        FLOW_DISSECTOR = 17
        CGROUP_SYSCTL = 18
        CGROUP_UDP4_RECVMSG = 19
        CGROUP_UDP6_RECVMSG = 20
        CGROUP_GETSOCKOPT = 21
        CGROUP_SETSOCKOPT = 22
        TRACE_RAW_TP = 23
        TRACE_FENTRY = 24
        TRACE_FEXIT = 25
        MODIFY_RETURN = 26
        LSM_MAC = 27
        TRACE_ITER = 28
        CGROUP_INET4_GETPEERNAME = 29
        CGROUP_INET6_GETPEERNAME = 30
        CGROUP_INET4_GETSOCKNAME = 31
        CGROUP_INET6_GETSOCKNAME = 32
        XDP_DEVMAP = 33
        CGROUP_INET_SOCK_RELEASE = 34
        XDP_CPUMAP = 35
        SK_LOOKUP = 36
        XDP = 37
        SK_SKB_VERDICT = 38
        SK_REUSEPORT_SELECT = 39
        SK_REUSEPORT_SELECT_OR_MIGRATE = 40
        PERF_EVENT = 41
        TRACE_KPROBE_MULTI = 42
        LSM_CGROUP = 43
        STRUCT_OPS = 44
        NETFILTER = 45
        TCX_INGRESS = 46
        TCX_EGRESS = 47
        TRACE_UPROBE_MULTI = 48
        CGROUP_UNIX_CONNECT = 49
        CGROUP_UNIX_SENDMSG = 50
        CGROUP_UNIX_RECVMSG = 51
        CGROUP_UNIX_GETPEERNAME = 52
        CGROUP_UNIX_GETSOCKNAME = 53
        NETKIT_PRIMARY = 54
        NETKIT_PEER = 55
        TRACE_KPROBE_SESSION = 56
        TRACE_UPROBE_SESSION = 57

    return AttachType


@_lazy
def _LinkType() -> type:
    class LinkType(enum.IntEnum):
        """``enum bpf_link_type``."""

        UNSPEC = 0
        RAW_TRACEPOINT = 1
        TRACING = 2
        CGROUP = 3
        ITER = 4
        NETNS = 5
        XDP = 6
        PERF_EVENT = 7
        KPROBE_MULTI = 8
        STRUCT_OPS = 9
        NETFILTER = 10
        TCX = 11
        UPROBE_MULTI = 12
        NETKIT = 13
        SOCKMAP = 14

    return LinkType


@_lazy
def _StatsType() -> type:
    class StatsType(enum.IntEnum):
        """``enum bpf_stats_type`` for ``BPF_ENABLE_STATS``."""

        RUN_TIME = 0

    return StatsType


class XDPAction(enum.IntEnum):
    """``enum xdp_action``: what an XDP program returns."""

    ABORTED = 0
    DROP = 1
    PASS = 2
    TX = 3
    REDIRECT = 4


XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = XDPAction


class TCAction(enum.IntEnum):
    """``TC_ACT_*`` (``pkt_cls.h``): what a tc / tcx program returns."""

    UNSPEC = -1
    OK = 0
    RECLASSIFY = 1
    SHOT = 2
    PIPE = 3
    STOLEN = 4
    QUEUED = 5
    REPEAT = 6
    REDIRECT = 7


TC_ACT_UNSPEC = TCAction.UNSPEC
TC_ACT_OK = TCAction.OK
TC_ACT_RECLASSIFY = TCAction.RECLASSIFY
TC_ACT_SHOT = TCAction.SHOT
TC_ACT_PIPE = TCAction.PIPE
TC_ACT_STOLEN = TCAction.STOLEN
TC_ACT_QUEUED = TCAction.QUEUED
TC_ACT_REPEAT = TCAction.REPEAT
TC_ACT_REDIRECT = TCAction.REDIRECT

# --- BPF_MAP_CREATE map_flags -------------------------------------------------
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_NO_COMMON_LRU = 1 << 1
BPF_F_NUMA_NODE = 1 << 2
BPF_F_RDONLY = 1 << 3
BPF_F_WRONLY = 1 << 4
BPF_F_STACK_BUILD_ID = 1 << 5
BPF_F_ZERO_SEED = 1 << 6
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_WRONLY_PROG = 1 << 8
BPF_F_CLONE = 1 << 9
BPF_F_MMAPABLE = 1 << 10
BPF_F_PRESERVE_ELEMS = 1 << 11
BPF_F_INNER_MAP = 1 << 12
BPF_F_LINK = 1 << 13
BPF_F_PATH_FD = 1 << 14
BPF_F_VTYPE_BTF_OBJ_FD = 1 << 15
BPF_F_TOKEN_FD = 1 << 16
BPF_F_SEGV_ON_FAULT = 1 << 17
BPF_F_NO_USER_CONV = 1 << 18

# --- BPF_MAP_UPDATE_ELEM / lookup flags -----------------------------------------
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4

# --- BPF_PROG_LOAD prog_flags -----------------------------------------------------
BPF_F_STRICT_ALIGNMENT = 1 << 0
BPF_F_ANY_ALIGNMENT = 1 << 1
BPF_F_TEST_RND_HI32 = 1 << 2
BPF_F_TEST_STATE_FREQ = 1 << 3
BPF_F_SLEEPABLE = 1 << 4
BPF_F_XDP_HAS_FRAGS = 1 << 5
BPF_F_XDP_DEV_BOUND_ONLY = 1 << 6
BPF_F_TEST_REG_INVARIANTS = 1 << 7

# --- verifier log levels --------------------------------------------------------
BPF_LOG_LEVEL1 = 1
BPF_LOG_LEVEL2 = 2
BPF_LOG_STATS = 4
BPF_LOG_FIXED = 8

# --- BPF_PROG_ATTACH attach_flags ---------------------------------------------------
BPF_F_ALLOW_OVERRIDE = 1 << 0
BPF_F_ALLOW_MULTI = 1 << 1
BPF_F_REPLACE = 1 << 2
BPF_F_BEFORE = 1 << 3
BPF_F_AFTER = 1 << 4
BPF_F_ID = 1 << 5

# --- BPF_PROG_TEST_RUN flags ----------------------------------------------------------
BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
BPF_F_TEST_SKB_CHECKSUM_COMPLETE = 1 << 2

# --- BPF_LINK_CREATE flags for uprobe_multi / kprobe_multi -------------------------------
BPF_F_UPROBE_MULTI_RETURN = 1 << 0
BPF_F_KPROBE_MULTI_RETURN = 1 << 0

# --- XDP attach flags (if_link.h XDP_FLAGS_*) --------------------------------------------
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4

# --- ld_imm64 pseudo source registers and pseudo calls ------------------------------------
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_BTF_ID = 3
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_MAP_IDX = 5
BPF_PSEUDO_MAP_IDX_VALUE = 6
BPF_PSEUDO_CALL = 1
BPF_PSEUDO_KFUNC_CALL = 2

# --- object names / misc -------------------------------------------------------------------
BPF_OBJ_NAME_LEN = 16
BPF_TAG_SIZE = 8
LIBBPF_PIN_BY_NAME = 1
# Netfilter link: NF_INET_* hooks and protocol families.
NFPROTO_IPV4 = 2
NFPROTO_IPV6 = 10
NF_INET_PRE_ROUTING = 0
NF_INET_LOCAL_IN = 1
NF_INET_FORWARD = 2
NF_INET_LOCAL_OUT = 3
NF_INET_POST_ROUTING = 4


# --- perf_event_open (include/uapi/linux/perf_event.h) -----------------------------------------
@_lazy
def _PerfType() -> type:
    class PerfType(enum.IntEnum):
        """``enum perf_type_id``."""

        HARDWARE = 0
        SOFTWARE = 1
        TRACEPOINT = 2
        HW_CACHE = 3
        RAW = 4
        BREAKPOINT = 5

    return PerfType


@_lazy
def _PerfCountHW() -> type:
    class PerfCountHW(enum.IntEnum):
        """``enum perf_hw_id``."""

        CPU_CYCLES = 0
        INSTRUCTIONS = 1
        CACHE_REFERENCES = 2
        CACHE_MISSES = 3
        BRANCH_INSTRUCTIONS = 4
        BRANCH_MISSES = 5
        BUS_CYCLES = 6
        STALLED_CYCLES_FRONTEND = 7
        STALLED_CYCLES_BACKEND = 8
        REF_CPU_CYCLES = 9

    return PerfCountHW


@_lazy
def _PerfCountSW() -> type:
    class PerfCountSW(enum.IntEnum):
        """``enum perf_sw_ids``."""

        CPU_CLOCK = 0
        TASK_CLOCK = 1
        PAGE_FAULTS = 2
        CONTEXT_SWITCHES = 3
        CPU_MIGRATIONS = 4
        PAGE_FAULTS_MIN = 5
        PAGE_FAULTS_MAJ = 6
        ALIGNMENT_FAULTS = 7
        EMULATION_FAULTS = 8
        DUMMY = 9
        BPF_OUTPUT = 10
        CGROUP_SWITCHES = 11

    return PerfCountSW


@_lazy
def _PerfSample() -> type:
    class PerfSample(enum.IntFlag):
        """``enum perf_event_sample_format`` (``PERF_SAMPLE_*``)."""

        IP = 1 << 0
        TID = 1 << 1
        TIME = 1 << 2
        ADDR = 1 << 3
        READ = 1 << 4
        CALLCHAIN = 1 << 5
        ID = 1 << 6
        CPU = 1 << 7
        PERIOD = 1 << 8
        STREAM_ID = 1 << 9
        RAW = 1 << 10

    return PerfSample


# Aliases of members of the lazily built enums above.
_LAZY_ALIASES = {
    "PERF_TYPE_HARDWARE": ("PerfType", "HARDWARE"),
    "PERF_TYPE_SOFTWARE": ("PerfType", "SOFTWARE"),
    "PERF_TYPE_TRACEPOINT": ("PerfType", "TRACEPOINT"),
    "PERF_TYPE_HW_CACHE": ("PerfType", "HW_CACHE"),
    "PERF_TYPE_RAW": ("PerfType", "RAW"),
    "PERF_TYPE_BREAKPOINT": ("PerfType", "BREAKPOINT"),
    "PERF_COUNT_SW_CPU_CLOCK": ("PerfCountSW", "CPU_CLOCK"),
    "PERF_COUNT_SW_BPF_OUTPUT": ("PerfCountSW", "BPF_OUTPUT"),
    "PERF_COUNT_HW_CPU_CYCLES": ("PerfCountHW", "CPU_CYCLES"),
    "PERF_SAMPLE_RAW": ("PerfSample", "RAW"),
}

PERF_FLAG_FD_NO_GROUP = 1 << 0
PERF_FLAG_FD_OUTPUT = 1 << 1
PERF_FLAG_PID_CGROUP = 1 << 2
PERF_FLAG_FD_CLOEXEC = 1 << 3

# Bits of perf_event_attr's flags word (the UAPI declares them as bitfields, in this order).
PERF_ATTR_FLAG_BITS = {
    "disabled": 0,
    "inherit": 1,
    "pinned": 2,
    "exclusive": 3,
    "exclude_user": 4,
    "exclude_kernel": 5,
    "exclude_hv": 6,
    "exclude_idle": 7,
    "mmap": 8,
    "comm": 9,
    "freq": 10,
    "inherit_stat": 11,
    "enable_on_exec": 12,
    "task": 13,
    "watermark": 14,
    # precise_ip is two bits: 15-16
    "mmap_data": 17,
    "sample_id_all": 18,
}
PERF_ATTR_SIZE_VER8 = 136

def __getattr__(name: str) -> Any:
    if name in _LAZY:
        cls = _LAZY[name]()
        cls.__qualname__ = name  # as if defined at module level (pickle, repr)
        globals()[name] = cls
        return cls
    if name in _LAZY_ALIASES:
        enum_name, member = _LAZY_ALIASES[name]
        value = getattr(__getattr__(enum_name), member)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_LAZY_ALIASES})


__all__ = sorted(
    [name for name, value in list(globals().items())
     if not name.startswith("_") and name != "annotations"
     and (name.isupper() or (isinstance(value, type) and issubclass(value, enum.Enum)))]
    + [*_LAZY, *_LAZY_ALIASES]
)
