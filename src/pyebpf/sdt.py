"""USDT probes: the ``.note.stapsdt`` notes of an ELF file (``<sys/sdt.h>``), and uprobes at them.

A binary built with ``<sys/sdt.h>`` (``STAP_PROBE``/``DTRACE_PROBE``) has a
note per probe site: provider, name, the site's address, an optional
semaphore (a counter the program checks before computing the arguments) and
the argument spec (``"-4@%edi 8@%rsi"``).  :func:`probes` reads them;
:func:`attach_usdt` attaches a uprobe at every site of one probe.  Arguments
(``ctx.arg(n)`` from the spec) are not decoded yet: programs count hits and
read registers through the uprobe context.
"""

from __future__ import annotations

import errno
import struct
from typing import Any

from ._record import Record, record
from .tracefs import attach_error

__all__ = ["UsdtProbe", "probes", "attach_usdt"]

_NT_STAPSDT = 3  # the note type <sys/sdt.h> emits, owner "stapsdt"
_NOTE = struct.Struct("<III")  # namesz, descsz, type


@record
class UsdtProbe(Record):
    """One probe site: ``address`` (virtual, adjusted for prelinking), ``offset`` in the file."""

    provider: str
    name: str
    address: int
    offset: int
    semaphore: int
    args: str


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _parse_notes(data: bytes) -> list[tuple[int, int, int, str, str, str]]:
    """``(pc, base, semaphore, provider, name, args)`` of each stapsdt note in a section."""
    out = []
    off = 0
    while off + _NOTE.size <= len(data):
        namesz, descsz, ntype = _NOTE.unpack_from(data, off)
        off += _NOTE.size
        owner = data[off : off + namesz].rstrip(b"\0")
        off += _align4(namesz)
        desc = data[off : off + descsz]
        off += _align4(descsz)
        if owner != b"stapsdt" or ntype != _NT_STAPSDT or len(desc) < 24:
            continue
        pc, base, sem = struct.unpack_from("<QQQ", desc)
        provider, name, args = (desc[24:].split(b"\0") + [b"", b""])[:3]
        out.append((pc, base, sem, provider.decode(), name.decode(), args.decode()))
    return out


def probes(path: str) -> list[UsdtProbe]:
    """Every USDT probe site in the ELF file ``path``."""
    from elftools.elf.elffile import ELFFile

    from .symbols import elf_symbols

    with open(path, "rb") as f:
        elf = ELFFile(f)
        notes = elf.get_section_by_name(".note.stapsdt")
        if notes is None:
            return []
        raw = _parse_notes(notes.data())
        base_section = elf.get_section_by_name(".stapsdt.base")
        actual_base = base_section["sh_addr"] if base_section is not None else None
    segments = elf_symbols(path)
    result = []
    for pc, base, sem, provider, name, args in raw:
        if actual_base is not None and base:
            # prelink moved the file: shift by how far .stapsdt.base moved
            pc += actual_base - base
            if sem:
                sem += actual_base - base
        result.append(UsdtProbe(provider, name, pc, segments.vaddr_to_offset(pc), sem, args))
    return result


def attach_usdt(prog: Any, binary: str, provider: str, name: str, *,
                pid: int | None = None) -> Any:
    """Attach ``prog`` as a uprobe at every site of USDT probe ``provider:name`` in ``binary``.

    Returns one Link owning a uprobe per site.  Probes guarded by a
    semaphore are refused for now: the kernel increments a semaphore only for
    uprobes opened with a reference-counter offset, which pyebpf's uprobes
    do not pass yet.
    """
    from .links import Link, _fd_of
    from .symbols import find_binary
    from .uprobes import attach_uprobe

    path = find_binary(binary, pid)
    sites = [p for p in probes(path) if p.provider == provider and p.name == name]
    label = f"usdt {path}:{provider}:{name}"
    if not sites:
        known = sorted({f"{p.provider}:{p.name}" for p in probes(path)})
        hint = f"; it has {', '.join(known[:8])}" if known else "; it has no USDT notes"
        raise attach_error(f"no USDT probe {provider}:{name} in {path}{hint}", errno.ENOENT)
    if any(p.semaphore for p in sites):
        raise attach_error(f"{label} is guarded by a semaphore, which pyebpf cannot enable yet "
                           "(uprobe ref_ctr_offset)", errno.EOPNOTSUPP)
    prog_fd = _fd_of(prog)
    children: list[Link] = []
    try:
        for site in sites:
            children.append(attach_uprobe(prog_fd, path, site.offset, pid=pid))
    except BaseException:
        for child in children:
            child.close()
        raise
    return Link(None, kind="usdt", target=label, prog_fd=prog_fd, children=children)
