"""Cached probes of what the running kernel supports.

Each probe asks the kernel directly (a two-instruction program, a one-entry
map) instead of guessing from the version number, and is cached for the
life of the process.  :func:`require` turns a failed probe into a
:class:`~pyebpf.errors.NotSupportedError` naming the feature and the kernel
release that added it.

Probes need the rights to load programs; without them a probe raises the
:class:`~pyebpf.errors.SyscallError` (EPERM) that says so, except the two
the compiler asks, which must never stop a compile: :func:`cpu_version`
falls back to ``"v3"`` and :func:`helper_available` answers ``None``.  Their
answers are also remembered for this boot in the compile cache directory,
so a new process does not probe again.
"""

from __future__ import annotations

import errno as _errno
import functools
import json
import os
import re
import struct
from typing import Any

from pyebpf import _native as sys_
from pyebpf.constants import (
    BPF_F_MMAPABLE,
    BPF_F_NO_PREALLOC,
    BPF_F_SLEEPABLE,
    AttachType,
    MapType,
    ProgramType,
)
from pyebpf.errors import NotSupportedError, SyscallError

__all__ = [
    "kernel_release",
    "kernel_version",
    "cpu_version",
    "has_prog_type",
    "has_map_type",
    "has_helper",
    "helper_available",
    "helper_hint",
    "program_kind",
    "has_attach_type",
    "has_batch_ops",
    "require",
    "require_hook",
    "has_uprobe_multi",
    "has_tcx",
    "has_kprobes",
    "has_uprobes",
]

_INSN = struct.Struct("<BBhi")
ENOTSUPP = 524  # the kernel-internal "not supported" some commands leak


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return _INSN.pack(code, (src << 4) | dst, off, imm)


_MOV0 = _insn(0xB7)  # r0 = 0
_EXIT = _insn(0x95)


def kernel_release() -> str:
    """``uname -r`` of the running kernel."""
    return os.uname().release


def kernel_version() -> tuple[int, int, int]:
    """``(major, minor, patch)`` parsed from :func:`kernel_release`."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", kernel_release())
    if not m:
        return (0, 0, 0)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))


def require(feature: str, ok: bool, since: str | None = None) -> None:
    """Raise :class:`NotSupportedError` for ``feature`` unless ``ok``.

    >>> require("BPF ring buffers", has_map_type(MapType.RINGBUF), since="5.8")
    """
    if not ok:
        raise NotSupportedError(feature, since, detail=f"running Linux {kernel_release()}")


# Program types the kernel only accepts with a matching expected attach type.
_PROBE_ATTACH = {
    ProgramType.CGROUP_SOCK_ADDR: AttachType.CGROUP_INET4_CONNECT,
    ProgramType.CGROUP_SOCKOPT: AttachType.CGROUP_GETSOCKOPT,
    ProgramType.SK_LOOKUP: AttachType.SK_LOOKUP,
    ProgramType.NETFILTER: AttachType.NETFILTER,
}
# Types that need a kernel BTF target: a probe without one fails even when supported.
_NEEDS_BTF_TARGET = {ProgramType.TRACING, ProgramType.EXT, ProgramType.LSM,
                     ProgramType.STRUCT_OPS}


def _load(prog_type: int, insns: bytes, expected_attach_type: int = 0,
          sleepable: bool = False) -> None:
    flags = BPF_F_SLEEPABLE if sleepable or prog_type == ProgramType.SYSCALL else 0
    res = sys_.prog_load(prog_type, insns, "GPL", expected_attach_type=expected_attach_type,
                         prog_flags=flags)
    sys_.close(res.fd)


@functools.cache
def has_prog_type(prog_type: ProgramType) -> bool:
    """Whether ``BPF_PROG_LOAD`` knows ``prog_type``."""
    try:
        _load(prog_type, _MOV0 + _EXIT, int(_PROBE_ATTACH.get(prog_type, 0)))
    except sys_.ProgLoadError as exc:
        if prog_type in _NEEDS_BTF_TARGET:
            # Known types complain about the missing target (or are refused by
            # policy); an unknown type is EINVAL before the verifier says anything.
            return bool(exc.log.strip()) or exc.errno != _errno.EINVAL
        if exc.errno in (_errno.EINVAL, _errno.E2BIG, ENOTSUPP, _errno.EOPNOTSUPP):
            return False
        raise
    return True


@functools.cache
def has_attach_type(prog_type: ProgramType, attach_type: AttachType) -> bool:
    """Whether a program of ``prog_type`` loads with ``expected_attach_type=attach_type``."""
    try:
        _load(prog_type, _MOV0 + _EXIT, int(attach_type))
    except sys_.ProgLoadError as exc:
        if exc.errno in (_errno.EINVAL, ENOTSUPP, _errno.EOPNOTSUPP):
            return False
        raise
    return True


# What the verifier says when a program type may not call a helper (check_helper_call:
# "program of this type cannot use helper", "invalid func"; older kernels: "unknown func").
_UNKNOWN_HELPER = ("unknown func", "invalid func", "cannot use helper", "not supported")


def _helper_probe(prog_type: int, expected_attach_type: int, sleepable: bool,
                  helper_id: int) -> bool:
    """Load ``call helper_id; r0 = 0; exit`` and read the verifier's verdict.

    The call has no arguments set up, so a usable helper is refused too, but
    for its arguments (``R1 !read_ok``): only the "cannot use" messages mean
    unavailable.  A refusal without a verifier log (no rights, a program type
    this kernel lacks) is no verdict: it raises the :class:`SyscallError`.
    """
    call = _insn(0x85, imm=helper_id)
    attach = expected_attach_type or int(_PROBE_ATTACH.get(prog_type, 0))
    try:
        _load(prog_type, call + _MOV0 + _EXIT, attach, sleepable)
    except sys_.ProgLoadError as exc:
        if not exc.log.strip():
            raise
        return not any(text in exc.log for text in _UNKNOWN_HELPER)
    return True


@functools.cache
def has_helper(prog_type: ProgramType, helper_id: int) -> bool:
    """Whether programs of ``prog_type`` may call helper ``helper_id`` (``enum bpf_func_id``)."""
    return _helper_probe(prog_type, 0, False, helper_id)


# Answers of helper_available: "type/attach/sleepable/helper" -> bool.  Loaded from this
# boot's record on first use; only for the real kernel (a replaced funnel is a test's fake).
_helper_answers: dict[str, bool] | None = None


def helper_available(prog_type: int, expected_attach_type: int, helper_id: int, *,
                     sleepable: bool = False) -> bool | None:
    """Whether a ``prog_type`` program may call helper ``helper_id`` on this kernel.

    ``None`` when that cannot be known here: program types that only load
    against a BTF target (fentry, tp_btf, iter, lsm, struct_ops, freplace),
    a compile for another kernel (``$PYEBPF_KERNEL_BTF`` set),
    no rights to load programs, or a kernel that refuses the probe outright.
    The compiler calls this for every helper call; each (type, helper) pair
    is probed once, with libbpf's method (:func:`_helper_probe`), and
    remembered for this boot in the compile cache directory, so a later
    compile costs a dict lookup.

    >>> helper_available(ProgramType.XDP, 0, 124)  # bpf_sk_assign: tc and sk_lookup only
    False
    """
    if prog_type in _NEEDS_BTF_TARGET or os.environ.get("PYEBPF_KERNEL_BTF"):
        return None  # (compiling for another kernel: this one's answers do not apply)
    from ._native import syscalls

    real_kernel = syscalls._funnel is syscalls._kernel_funnel
    key = f"{int(prog_type)}/{int(expected_attach_type)}/{int(sleepable)}/{int(helper_id)}"
    answers = _helper_table() if real_kernel else {}
    known = answers.get(key)
    if known is not None:
        return known
    if not _privileged():
        return None  # an unprivileged load sees fewer helpers than the loader will
    try:
        ok = _helper_probe(prog_type, expected_attach_type, sleepable, helper_id)
    except SyscallError:
        return None  # not remembered: the next process may have the rights
    if real_kernel:
        answers[key] = ok
        _remember_helper(key, ok)
    return ok


# Program kinds a helper's hint may point to: (name as in @bpf.<name>, type, attach type).
_HELPER_HOMES: tuple[tuple[str, ProgramType, AttachType | None], ...] = (
    ("xdp", ProgramType.XDP, AttachType.XDP),
    ("tc", ProgramType.SCHED_CLS, None),
    ("socket_filter", ProgramType.SOCKET_FILTER, None),
    ("cgroup_skb", ProgramType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS),
    ("sk_lookup", ProgramType.SK_LOOKUP, AttachType.SK_LOOKUP),
    ("sk_skb", ProgramType.SK_SKB, AttachType.SK_SKB_STREAM_VERDICT),
    ("sk_msg", ProgramType.SK_MSG, AttachType.SK_MSG_VERDICT),
    ("sockops", ProgramType.SOCK_OPS, AttachType.CGROUP_SOCK_OPS),
    ("cgroup_sock", ProgramType.CGROUP_SOCK, AttachType.CGROUP_INET_SOCK_CREATE),
    ("cgroup_sock_addr", ProgramType.CGROUP_SOCK_ADDR, AttachType.CGROUP_INET4_CONNECT),
    ("kprobe/uprobe", ProgramType.KPROBE, None),
    ("tracepoint", ProgramType.TRACEPOINT, None),
    ("raw_tracepoint", ProgramType.RAW_TRACEPOINT, None),
    ("perf_event", ProgramType.PERF_EVENT, None),
    ("syscall", ProgramType.SYSCALL, None),
)


def program_kind(prog_type: int) -> str:
    """How messages name programs of ``prog_type``: ``"tc"``, ``"kprobe/uprobe"``, ``"lwt_in"``."""
    name = next((n for n, t, _ in _HELPER_HOMES if t == prog_type), None)
    return name or ProgramType(prog_type).name.lower()


def helper_hint(helper_id: int) -> str:
    """What to do instead of calling ``helper_id`` where it is unavailable: where it is available.

    Probes each kind of :data:`_HELPER_HOMES` (remembered like
    :func:`helper_available`): meant for error messages, not every compile.
    """
    homes = [name for name, prog_type, attach in _HELPER_HOMES
             if helper_available(prog_type, int(attach or 0), helper_id)]
    where = (f"it is available to {', '.join(homes)} programs: call it there (sharing data "
             "through a map), or use" if homes else "no program kind pyebpf can probe "
             "(fentry, tp_btf, lsm and iter are not probed) has it here: use")
    return f"{where} another helper or a kfunc"


@functools.cache
def _privileged() -> bool:
    """Whether this process may load every probed type with every helper it would get.

    ``CAP_SYS_ADMIN`` (bit 21), or ``CAP_BPF`` (39) with ``CAP_PERFMON`` (38) and
    ``CAP_NET_ADMIN`` (12), from ``CapEff`` in ``/proc/self/status``.
    """
    try:
        with open("/proc/self/status") as f:
            caps = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return os.geteuid() == 0
    return bool(caps >> 21 & 1) or all(caps >> bit & 1 for bit in (39, 38, 12))


def _tiny_btf() -> bytes:
    """BTF with one type, ``int`` (id 1): enough for maps that insist on BTF ids."""
    strings = b"\0int\0"
    btf_int = struct.pack("<IIII", 1, 1 << 24, 4, (1 << 24) | 32)  # BTF_KIND_INT, signed, 32 bits
    header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(btf_int), len(btf_int),
                         len(strings))
    return header + btf_int + strings


_STORAGE_MAPS = {MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE,
                 MapType.CGRP_STORAGE}


def _map_probe_args(map_type: MapType) -> dict[str, int]:
    page = os.sysconf("SC_PAGE_SIZE")
    args = {"key_size": 4, "value_size": 4, "max_entries": 1, "flags": 0}
    if map_type in (MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER):
        args["key_size"] = 0
    elif map_type in (MapType.RINGBUF, MapType.USER_RINGBUF):
        args.update(key_size=0, value_size=0, max_entries=page)
    elif map_type == MapType.ARENA:
        args.update(key_size=0, value_size=0, max_entries=1, flags=BPF_F_MMAPABLE)
    elif map_type == MapType.LPM_TRIE:
        args.update(key_size=8, flags=BPF_F_NO_PREALLOC)
    elif map_type == MapType.STACK_TRACE:
        args["value_size"] = 8
    elif map_type in (MapType.CGROUP_STORAGE, MapType.PERCPU_CGROUP_STORAGE):
        args.update(key_size=8, max_entries=0)
    elif map_type in _STORAGE_MAPS:
        args.update(max_entries=0, flags=BPF_F_NO_PREALLOC)
    return args


@functools.cache
def has_map_type(map_type: MapType) -> bool:
    """Whether ``BPF_MAP_CREATE`` can create a map of ``map_type``."""
    map_type = MapType(map_type)
    if map_type == MapType.STRUCT_OPS:
        # Needs a kernel struct_ops value type; present when vmlinux BTF lists one.
        try:
            with open("/sys/kernel/btf/vmlinux", "rb") as f:
                return b"bpf_struct_ops_" in f.read()
        except OSError:
            return False
    args = _map_probe_args(map_type)
    extra: dict[str, int] = {}
    opened: list[int] = []
    try:
        if map_type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            inner = sys_.map_create(MapType.ARRAY, 4, 4, 1)
            opened.append(inner)
            extra["inner_map_fd"] = inner
        if map_type in _STORAGE_MAPS:
            btf_fd = sys_.btf_load(_tiny_btf())
            opened.append(btf_fd)
            extra.update(btf_fd=btf_fd, btf_key_type_id=1, btf_value_type_id=1)
        opened.append(sys_.map_create(map_type, args["key_size"], args["value_size"],
                                      args["max_entries"], flags=args["flags"], **extra))
    except SyscallError as exc:
        if exc.errno in (_errno.EINVAL, _errno.E2BIG, ENOTSUPP, _errno.EOPNOTSUPP):
            return False
        raise
    finally:
        for fd in opened:
            sys_.close(fd)
    return True


@functools.cache
def has_batch_ops() -> bool:
    """Whether ``BPF_MAP_LOOKUP_BATCH`` and friends exist (Linux 5.6)."""
    fd = sys_.map_create(MapType.HASH, 4, 4, 1)
    try:
        sys_.map_lookup_batch(fd, None, 4, 4, 1)
    except SyscallError as exc:
        if exc.errno == _errno.EINVAL:
            return False
        raise
    finally:
        sys_.close(fd)
    return True


def _probe_loads(insns: bytes) -> bool:
    try:
        _load(ProgramType.SOCKET_FILTER, insns)
    except sys_.ProgLoadError as exc:
        if exc.errno == _errno.EPERM:
            raise
        return False
    return True


# v4: r0 = (s8) r1, the sign-extending move (BPF_ALU64 | BPF_MOV | BPF_X with off = 8).
_V4_PROBE = _insn(0xB7, 1) + _insn(0xBF, 0, 1, off=8) + _EXIT
# v3: a 32-bit jump (BPF_JMP32 | BPF_JEQ | BPF_K).
_V3_PROBE = _MOV0 + _insn(0x16, 0, off=0) + _EXIT
# v2: an unsigned less-than jump (BPF_JMP | BPF_JLT | BPF_K).
_V2_PROBE = _MOV0 + _insn(0xA5, 0, off=0) + _EXIT


@functools.cache
def cpu_version() -> str:
    """The newest BPF instruction set the kernel accepts: ``"v4"``, ``"v3"``, ``"v2"`` or ``"v1"``.

    Without the rights to load programs, returns ``"v3"`` (what every
    kernel pyebpf supports accepts) instead of raising.
    """
    from ._native import syscalls

    real_kernel = syscalls._funnel is syscalls._kernel_funnel
    remembered = _read_record("cpu") if real_kernel else None
    if remembered in ("v1", "v2", "v3", "v4"):
        return remembered
    try:
        version = next((v for v, probe in (("v4", _V4_PROBE), ("v3", _V3_PROBE),
                                           ("v2", _V2_PROBE)) if _probe_loads(probe)), "v1")
    except SyscallError:
        return "v3"  # no rights to probe: not remembered, the next process tries again
    if real_kernel:
        _write_record("cpu", version)
    return version


def _boot_record(name: str) -> Any:
    """This boot's file ``name`` in the compile cache directory (None if the cache is off).

    Probing costs kernel round trips (three loads for the cpu version, one per
    helper and program type); a new boot or kernel probes again.
    """
    from . import cache

    if not cache.enabled():
        return None
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        return None
    return cache.cache_dir() / f"{name}-{os.uname().release}-{boot}"


def _read_record(name: str) -> str | None:
    path = _boot_record(name)
    try:
        return path.read_text().strip() if path is not None else None
    except OSError:
        return None


def _write_record(name: str, text: str) -> None:
    from . import cache

    path = _boot_record(name)
    if path is not None:
        cache.write_file(path, text.encode())  # unwritable: only costs a probe next time


def _recorded_helpers() -> dict[str, bool]:
    try:
        table = json.loads(_read_record("helpers") or "{}")
    except ValueError:
        return {}  # a torn or foreign file: probe again
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if isinstance(v, bool)}


def _helper_table() -> dict[str, bool]:
    global _helper_answers
    if _helper_answers is None:
        _helper_answers = _recorded_helpers()
    return _helper_answers


def _remember_helper(key: str, ok: bool) -> None:
    # Merge with what other processes recorded since this one read the file.
    table = _recorded_helpers()
    table[key] = ok
    _write_record("helpers", json.dumps(table, sort_keys=True))


# --------------------------------------------------------------------------- hooks


@functools.cache
def has_uprobe_multi() -> bool:
    """Whether ``BPF_LINK_CREATE`` knows uprobe_multi links (Linux 6.6)."""
    if not has_attach_type(ProgramType.KPROBE, AttachType.TRACE_UPROBE_MULTI):
        return False
    fd = sys_.prog_load(ProgramType.KPROBE, _MOV0 + _EXIT, "GPL",
                        expected_attach_type=int(AttachType.TRACE_UPROBE_MULTI)).fd
    try:
        # A supported kernel rejects the bogus target ("/" is no regular file: EBADF);
        # an old one rejects the attach type itself (EINVAL).
        sys_.link_create(fd, 0, AttachType.TRACE_UPROBE_MULTI,
                         uprobe_multi={"path": "/", "offsets": [0]})
    except SyscallError as exc:
        return exc.errno != _errno.EINVAL
    finally:
        sys_.close(fd)
    return True  # pragma: no cover - "/" cannot be probed


@functools.cache
def has_tcx() -> bool:
    """Whether ``BPF_LINK_CREATE`` knows tcx links (Linux 6.6); else TC attaches the classic way."""
    fd = sys_.prog_load(ProgramType.SCHED_CLS, _MOV0 + _EXIT, "GPL").fd
    try:
        # ifindex 0 names no device: a kernel with tcx looks it up and says ENODEV; an
        # older one refuses the attach type itself with EINVAL.
        sys_.link_create(fd, 0, AttachType.TCX_INGRESS)
    except SyscallError as exc:
        return exc.errno != _errno.EINVAL
    finally:
        sys_.close(fd)
    return True  # pragma: no cover - ifindex 0 cannot be attached to


def has_kprobes() -> bool:
    """Whether kprobes can be attached (kprobe PMU or tracefs ``kprobe_events``)."""
    from .uprobes import has_kprobes as _has

    return _has()


def has_uprobes() -> bool:
    """Whether uprobes can be attached (uprobe PMU or tracefs ``uprobe_events``)."""
    from .uprobes import has_uprobes as _has

    return _has()


# hook kind -> (what it needs, probe, first kernel with it)
def _hook_requirements(kind: str) -> list[tuple[str, Any, str | None]]:
    P = ProgramType
    table: dict[str, list[tuple[str, Any, str | None]]] = {
        "kprobe": [("kprobes", has_kprobes, None)],
        "kretprobe": [("kprobes", has_kprobes, None)],
        # kprobe_multi runs on fprobe, not kprobes: the link attempt says whether it exists.
        "kprobe_multi": [],
        "uprobe": [("uprobes", has_uprobes, "4.17")],
        "uretprobe": [("uprobes", has_uprobes, "4.17")],
        "usdt": [("uprobes", has_uprobes, "4.17")],
        "uprobe_multi": [("uprobe_multi links", has_uprobe_multi, "6.6")],
        "uretprobe_multi": [("uprobe_multi links", has_uprobe_multi, "6.6")],
        "perf_event": [("perf_event programs", lambda: has_prog_type(P.PERF_EVENT), "4.9")],
        "netfilter": [("netfilter programs", lambda: has_prog_type(P.NETFILTER), "6.4")],
        "tc": [("TC programs", lambda: has_prog_type(P.SCHED_CLS), "4.1")],
        "tcx": [("tcx links", has_tcx, "6.6")],
        "sk_msg": [("sk_msg programs", lambda: has_prog_type(P.SK_MSG), "4.17")],
        "sk_skb": [("sk_skb programs", lambda: has_prog_type(P.SK_SKB), "4.14")],
        "sockops": [("sockops programs", lambda: has_prog_type(P.SOCK_OPS), "4.13")],
        "cgroup_sock": [("cgroup sock programs", lambda: has_prog_type(P.CGROUP_SOCK), "4.10")],
        "cgroup_sock_addr": [("cgroup sock_addr programs",
                              lambda: has_prog_type(P.CGROUP_SOCK_ADDR), "4.17")],
        "tp_btf": [("BTF-typed tracing programs", lambda: has_prog_type(P.TRACING), "5.5")],
        "iter": [("BPF iterators", lambda: has_prog_type(P.TRACING), "5.8")],
    }
    return table.get(kind, [])


def require_hook(kind: str) -> None:
    """Raise :class:`NotSupportedError` up front if the kernel cannot run hook ``kind``.

    >>> require_hook("uprobe")          # fine on any kernel with uprobes
    """
    for feature, probe, since in _hook_requirements(kind):
        if feature == "kprobes" and not probe():
            raise NotSupportedError(
                "kprobes", None, "this kernel has no kprobes: CONFIG_KPROBES is not set (no "
                "kprobe PMU in /sys/bus/event_source/devices and no kprobe_events in tracefs)")
        require(feature, bool(probe()), since)
