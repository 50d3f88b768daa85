"""Dynamic probes: uprobes and kprobes, attached as perf events or uprobe_multi links.

Three routes, tried in this order:

1. the probe PMU: ``perf_event_open`` with ``type`` read from
   ``/sys/bus/event_source/devices/{uprobe,kprobe}/type``, ``config1`` the
   path (or kernel function name), ``config2`` the offset, and the
   ``retprobe`` bit whose position ``.../format/retprobe`` gives
   (``config:0``); the program is then linked to the event
   (``BPF_LINK_CREATE`` with ``BPF_PERF_EVENT``, ioctl on older kernels).
   A uprobe with a reference counter (a USDT semaphore, which the kernel
   then increments while the probe exists) puts the counter's file offset in
   the ``config`` bits ``.../format/ref_ctr_offset`` names (``config:32-63``);
2. tracefs ``uprobe_events`` / ``kprobe_events`` (kernels or containers
   without the PMU): a probe named ``pyebpf/p_<pid>_<n>`` is created,
   opened as a tracepoint, and removed when the link closes (a reference
   counter is written ``PATH:OFFSET(REF_CTR_OFFSET)``);
3. for ``@bpf.uprobe(..., multi=True)``: one ``BPF_TRACE_UPROBE_MULTI``
   link for several offsets (Linux 6.6+).

A kernel without kprobes (``CONFIG_KPROBES`` unset: no PMU and no
``kprobe_events``) gets a :class:`~pyebpf.errors.NotSupportedError` saying so.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
from pathlib import Path
from typing import Any

from .errors import AttachError, NotSupportedError, SyscallError
from .symbols import find_binary, resolve_uprobe

__all__ = ["attach_uprobe", "attach_uprobe_multi", "attach_kprobe", "probe_pmu_type",
           "has_kprobes", "has_uprobes"]

_PMU_DIR = Path("/sys/bus/event_source/devices")
_names = itertools.count()
# UAPI linux/bpf.h: BPF_F_UPROBE_MULTI_RETURN
BPF_F_UPROBE_MULTI_RETURN = 1


def probe_pmu_type(kind: str) -> tuple[int, int] | None:
    """``(PMU type, retprobe config bit)`` of the ``"uprobe"`` or ``"kprobe"`` PMU, or None."""
    try:
        pmu = int((_PMU_DIR / kind / "type").read_text())
    except (OSError, ValueError):
        return None
    bit = 0
    with contextlib.suppress(OSError):
        m = re.match(r"config:(\d+)", (_PMU_DIR / kind / "format" / "retprobe").read_text())
        if m:
            bit = int(m.group(1))
    return pmu, bit


def _ref_ctr_shift() -> int | None:
    """Where the uprobe PMU takes the reference-counter offset in ``config`` (Linux 4.20+)."""
    try:
        text = (_PMU_DIR / "uprobe" / "format" / "ref_ctr_offset").read_text()
    except OSError:
        return None
    m = re.match(r"config:(\d+)", text)
    return int(m.group(1)) if m else None


def _tracefs_events_file(kind: str) -> Path | None:
    from . import tracefs

    try:
        path = tracefs.root() / f"{kind}_events"
    except Exception:  # tracefs not mountable: the probe route is simply unavailable
        return None
    return path if path.exists() else None


def has_kprobes() -> bool:
    """Whether kprobes can be attached here (the kprobe PMU or tracefs ``kprobe_events``)."""
    return probe_pmu_type("kprobe") is not None or _tracefs_events_file("kprobe") is not None


def has_uprobes() -> bool:
    """Whether uprobes can be attached here (the uprobe PMU or tracefs ``uprobe_events``)."""
    return probe_pmu_type("uprobe") is not None or _tracefs_events_file("uprobe") is not None


def _sys() -> Any:
    from ._native import syscalls

    return syscalls


def _open_pmu_probe(kind: str, pmu: tuple[int, int], where: str, offset: int, retprobe: bool,
                    pid: int, ref_ctr_offset: int = 0) -> int:
    pmu_type, bit = pmu
    target: dict[str, Any] = {"uprobe_path": where} if kind == "uprobe" else {"kprobe_func": where}
    config = (1 << bit) if retprobe else 0
    if ref_ctr_offset:
        shift = _ref_ctr_shift()
        if shift is None:
            raise NotSupportedError(
                "uprobe reference counters", "4.20",
                f"the uprobe PMU has no ref_ctr_offset format in {_PMU_DIR / 'uprobe'}")
        config |= ref_ctr_offset << shift
    return _sys().perf_event_open(
        pmu_type, config, pid=pid, cpu=0 if pid == -1 else -1, probe_offset=offset, **target,
    )


class _TracefsProbe:
    """A probe created in ``{k,u}probe_events``; ``remove()`` deletes it."""

    def __init__(self, kind: str, events: Path, spec: str, retprobe: bool) -> None:
        self.events = events
        self.name = f"p_{os.getpid()}_{next(_names)}"
        line = f"{'r' if retprobe else 'p'}:pyebpf/{self.name} {spec}\n"
        try:
            _append(events, line)
        except OSError as e:
            raise AttachError(f"{kind}_events", e.errno or errno.EINVAL,
                              f"creating the {kind} {spec!r} in {events} failed: "
                              f"{e.strerror}") from None

    def event_id(self) -> int:
        from . import tracefs

        return tracefs.event_id("pyebpf", self.name)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            _append(self.events, f"-:pyebpf/{self.name}\n")


def _append(path: Path, line: str) -> None:
    # One write(2) with O_APPEND: Python's "a" mode also seeks, which tracefs refuses.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
    try:
        os.write(fd, os.fsencode(line))
    finally:
        os.close(fd)


def _open_probe(kind: str, where: str, offset: int, retprobe: bool, pid: int,
                label: str, ref_ctr_offset: int = 0) -> tuple[int, _TracefsProbe | None]:
    """Open the probe as a perf event: ``(perf fd, tracefs probe to remove or None)``."""
    from .constants import PerfType
    from .tracefs import attach_error

    pmu = probe_pmu_type(kind)
    if pmu is not None:
        try:
            return _open_pmu_probe(kind, pmu, where, offset, retprobe, pid,
                                   ref_ctr_offset), None
        except SyscallError as e:
            why = {errno.ENOENT: "no such function or file",
                   errno.EINVAL: "the offset is not at an instruction boundary or the target "
                                 "is not probeable"}.get(e.errno, e.strerror)
            raise attach_error(f"opening {label} failed: {why}", e.errno,
                               "perf_event_open") from None
    events = _tracefs_events_file(kind)
    if events is None:
        if kind == "kprobe":
            raise NotSupportedError(
                "kprobes", None,
                "this kernel has no kprobes: CONFIG_KPROBES is not set (no kprobe PMU in "
                f"{_PMU_DIR} and no kprobe_events in tracefs)")
        raise NotSupportedError("uprobes", None, "CONFIG_UPROBE_EVENTS is not set (no uprobe "
                                f"PMU in {_PMU_DIR} and no uprobe_events in tracefs)")
    spec = f"{where}:{offset:#x}" if kind == "uprobe" else \
        f"{where}+{offset}" if offset else where
    if ref_ctr_offset:
        spec += f"({ref_ctr_offset:#x})"
    probe = _TracefsProbe(kind, events, spec, retprobe)
    try:
        fd = _sys().perf_event_open(PerfType.TRACEPOINT, probe.event_id(), pid=pid,
                                    cpu=0 if pid == -1 else -1)
    except BaseException:
        probe.remove()
        raise
    return fd, probe


def _link(prog: Any, kind: str, where: str, offset: int, retprobe: bool, pid: int | None,
          label: str, cookie: int, ref_ctr_offset: int = 0) -> Any:
    from .links import Link, _fd_of, link_perf_event

    prog_fd = _fd_of(prog)
    perf_fd, probe = _open_probe(kind, where, offset, retprobe, -1 if pid is None else pid,
                                 label, ref_ctr_offset)
    try:
        fd = link_perf_event(prog_fd, perf_fd, label, cookie=cookie)
    except BaseException:
        _sys().close(perf_fd)
        if probe is not None:
            probe.remove()
        raise
    link_kind = ("uretprobe" if retprobe else "uprobe") if kind == "uprobe" else \
        ("kretprobe" if retprobe else "kprobe")
    return Link(fd, kind=link_kind, target=label, perf_fd=perf_fd, prog_fd=prog_fd,
                cleanup=probe.remove if probe is not None else None)


def attach_uprobe(prog: Any, binary: str, symbol: str | int, *, pid: int | None = None,
                  retprobe: bool = False, cookie: int = 0, ref_ctr_offset: int = 0) -> Any:
    """Attach a uprobe (or uretprobe) program to ``symbol`` in ``binary``; returns a Link.

    ``binary``: a path, a program on ``PATH`` or a library name (``"libc"``,
    found in ``pid``'s mappings first when ``pid`` is given).  ``symbol``: a
    function name, ``"name+off"`` or a file offset.  ``pid``: only that
    process (default: every process that runs the file).  ``cookie``: what
    ``bpf.get_attach_cookie(ctx)`` gives.  ``ref_ctr_offset``: the file
    offset of a 2-byte counter (a USDT semaphore) the kernel increments in
    the traced processes while the uprobe exists.
    """
    path, offset = resolve_uprobe(binary, symbol, pid)
    name = symbol if isinstance(symbol, str) else f"{symbol:#x}"
    label = f"{path}:{name}" + (f" (pid {pid})" if pid is not None else "")
    return _link(prog, "uprobe", path, offset, retprobe, pid, label, cookie, ref_ctr_offset)


def attach_uprobe_multi(prog: Any, binary: str, symbols: list[str | int], *,
                        pid: int | None = None, retprobe: bool = False,
                        cookies: list[int] | None = None) -> Any:
    """Attach one program to several functions of ``binary`` with a uprobe_multi link.

    The program must have been declared with ``multi=True`` (it loads with
    the ``BPF_TRACE_UPROBE_MULTI`` attach type).  Linux 6.6+.
    """
    from . import features
    from .constants import AttachType
    from .links import Link, _fd_of, _link_create_error

    path = find_binary(binary, pid)
    offsets = [resolve_uprobe(path, s, pid)[1] for s in symbols]
    prog_fd = _fd_of(prog)
    features.require("uprobe_multi links", features.has_uprobe_multi(), "6.6")
    opts: dict[str, Any] = {"path": path, "offsets": offsets,
                            "flags": BPF_F_UPROBE_MULTI_RETURN if retprobe else 0}
    if pid is not None:
        opts["pid"] = pid
    if cookies is not None:
        opts["cookies"] = cookies
    label = f"{path}:{','.join(str(s) for s in symbols)}"
    try:
        fd = _sys().link_create(prog_fd, 0, AttachType.TRACE_UPROBE_MULTI, uprobe_multi=opts)
    except SyscallError as e:
        raise _link_create_error(e, f"uprobe_multi {label}",
                                 "was the program declared with multi=True?") from None
    return Link(fd, kind="uretprobe_multi" if retprobe else "uprobe_multi", target=label,
                prog_fd=prog_fd)


def kernel_functions(pattern: str) -> list[str]:
    """Kernel function names matching ``pattern`` (a name or a glob), from /proc/kallsyms."""
    import fnmatch

    names: list[str] = []
    seen: set[str] = set()
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] in ("t", "T") and len(parts) == 3:
                name = parts[2]
                if name not in seen and fnmatch.fnmatchcase(name, pattern):
                    seen.add(name)
                    names.append(name)
    return names


def attach_kprobe_multi(prog: Any, pattern: str, *, retprobe: bool = False,
                        cookies: list[int] | None = None) -> Any:
    """One kprobe_multi link on every kernel function matching ``pattern``."""
    from . import links
    from ._native import syscalls
    from .errors import AttachError, NotSupportedError, SyscallError

    fd = links._fd_of(prog)
    names = kernel_functions(pattern)
    if not names:
        raise AttachError("BPF_LINK_CREATE", errno.ENOENT,
                          f"no kernel function matches {pattern!r} in /proc/kallsyms")
    attach_type = 42  # BPF_TRACE_KPROBE_MULTI
    try:
        link_fd = syscalls.link_create(fd, 0, attach_type, kprobe_multi={
            "syms": names, "flags": 1 if retprobe else 0, "cookies": cookies})
    except SyscallError as e:
        if e.errno in (errno.EOPNOTSUPP, errno.ENOTSUP, 524):
            raise NotSupportedError(
                "kprobe_multi links", "5.18",
                "this kernel has no fprobe: CONFIG_FPROBE is not set") from None
        raise links._link_create_error(e, f"kprobe_multi {pattern}") from None
    return links.Link(link_fd, kind="kprobe_multi", target=f"{pattern} ({len(names)} functions)")


def attach_kprobe(prog: Any, function: str, *, offset: int = 0, retprobe: bool = False,
                  cookie: int = 0) -> Any:
    """Attach a kprobe (or kretprobe) program to kernel function ``function``.

    Raises :class:`NotSupportedError` on kernels built without kprobes.
    """
    label = f"{function}+{offset:#x}" if offset else function
    return _link(prog, "kprobe", function, offset, retprobe, None, label, cookie)
