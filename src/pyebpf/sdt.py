"""USDT probes: the ``.note.stapsdt`` notes of an ELF file (``<sys/sdt.h>``), and uprobes at them.

A binary built with ``<sys/sdt.h>`` (``STAP_PROBE``/``DTRACE_PROBE``) has a
note per probe site: provider, name, the site's address, an optional
semaphore (a counter the program checks before computing the arguments) and
the argument spec (``"-4@%edi 8@-16(%rbp) -4@$5"``).  :func:`probes` reads
them; :func:`parse_args` turns a spec into :class:`UsdtArg` values (x86-64
and arm64 operand syntax); :func:`attach_usdt` attaches a uprobe at every
site of one probe.

Arguments (``ctx.arg(n)`` in a ``@bpf.usdt`` program) are decoded at run
time by :mod:`pyebpf.usdt_args`: each site's spec is written to a spec map
slot, the site's uprobe carries the slot as its BPF cookie, and the program
reads the register (from ``pt_regs``), the memory operand or the constant the
slot describes.  Sites of one probe may have different specs (inlined
copies), which is why the spec is looked up per site at run time.

The program of an attached probe cannot be replaced in place
(:meth:`UsdtLink.update` says so): detach and attach the new one.

A probe guarded by a semaphore is attached with the semaphore's file offset
as the uprobe's reference counter (``ref_ctr_offset``), so the kernel
increments the semaphore in every process the uprobe applies to while it is
attached, and decrements it on detach.
"""

from __future__ import annotations

import errno
import os
import re
import struct
from typing import Any

from ._record import Record, record
from .links import Link
from .tracefs import attach_error

__all__ = ["UsdtProbe", "UsdtArg", "UsdtLink", "probes", "parse_args", "architecture",
           "attach_usdt", "MAX_ARGS", "PT_REGS_OFFSETS"]

_NT_STAPSDT = 3  # the note type <sys/sdt.h> emits, owner "stapsdt"
_NOTE = struct.Struct("<III")  # namesz, descsz, type

#: ``STAP_PROBE12`` is the largest: a probe has at most twelve arguments.
MAX_ARGS = 12


def _x86_registers() -> dict[str, tuple[str, int]]:
    """Every x86-64 register name a spec may use -> (its 64-bit register, bit shift).

    The shift is 8 for the high-byte registers (``%ah`` is bits 8..15 of ``%rax``).
    """
    names: dict[str, tuple[str, int]] = {"rip": ("rip", 0), "eip": ("rip", 0)}
    for r, (e, w, b, h) in {"rax": ("eax", "ax", "al", "ah"), "rbx": ("ebx", "bx", "bl", "bh"),
                            "rcx": ("ecx", "cx", "cl", "ch"), "rdx": ("edx", "dx", "dl", "dh"),
                            "rsi": ("esi", "si", "sil", ""), "rdi": ("edi", "di", "dil", ""),
                            "rbp": ("ebp", "bp", "bpl", ""),
                            "rsp": ("esp", "sp", "spl", "")}.items():
        names.update({r: (r, 0), e: (r, 0), w: (r, 0), b: (r, 0)})
        if h:
            names[h] = (r, 8)
    for i in range(8, 16):
        names.update({f"r{i}{v}": (f"r{i}", 0) for v in ("", "d", "w", "b", "l")})
    return names


#: Byte offsets of the registers in the kernel's ``struct pt_regs`` (what a uprobe
#: program's context is).  x86_64: arch/x86/include/asm/ptrace.h (r15 first ... ss);
#: aarch64: arch/arm64/include/uapi/asm/ptrace.h struct user_pt_regs (regs[31], sp, pc,
#: pstate), which begins the kernel's struct pt_regs.
PT_REGS_OFFSETS: dict[str, dict[str, int]] = {
    "x86_64": {"r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40, "r11": 48,
               "r10": 56, "r9": 64, "r8": 72, "rax": 80, "rcx": 88, "rdx": 96, "rsi": 104,
               "rdi": 112, "rip": 128, "rsp": 152},
    "aarch64": {**{f"x{i}": 8 * i for i in range(31)}, "sp": 248, "pc": 256},
}
_X86_NAMES = _x86_registers()
_ARM64_NAMES = {**{f"x{i}": (f"x{i}", 0) for i in range(31)},
                **{f"w{i}": (f"x{i}", 0) for i in range(31)}, "sp": ("sp", 0), "wsp": ("sp", 0)}
_MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


@record
class UsdtArg(Record):
    """One argument of a probe site, from its spec token (``"-4@8(%rbp)"``).

    ``kind`` is ``"const"`` (the value is ``value``), ``"reg"`` (the value is
    bits ``shift``.. of register ``reg``: ``shift`` is 8 for ``%ah``) or
    ``"mem"``: at address ``reg + index * scale + value``, where ``reg`` is
    ``""`` when the operand has no base register and ``scale`` 0 when it has
    no index register, and ``symbol``'s address is added when the
    displacement names one (``g(%rip)``, ``arr(,%rax,8)``).  ``size`` is 1,
    2, 4 or 8 bytes; ``signed`` says how the value widens.  Registers are
    named by their full register (``"rax"`` for ``%eax``).
    """

    text: str
    size: int
    signed: bool
    kind: str
    reg: str = ""
    value: int = 0
    symbol: str = ""
    index: str = ""
    scale: int = 0
    shift: int = 0

    def extend(self, raw: int) -> int:
        """``raw`` cut to ``size`` bytes, then sign- or zero-extended (as a Python int)."""
        bits = 8 * self.size
        raw &= (1 << bits) - 1
        return raw - (1 << bits) if self.signed and raw >> (bits - 1) else raw


def _int(text: str) -> int:
    return int(text, 0)


_SIZE = re.compile(r"(-?)(\d+)@(.+)\Z", re.S)
_NUM = r"[-+]?(?:0[xX][0-9a-fA-F]+|\d+)"
_X86_CONST = re.compile(rf"\$({_NUM})\Z")
_X86_REG = re.compile(r"%(\w+)\Z")
# disp(%base,%index,scale), each part optional: (%rax), 8(%rax,%rdx,4), arr(,%rax,8)
_X86_MEM = re.compile(r"([^()]*)\((?:%(\w+))?(?:,(?:%(\w+))?(?:,(\w+))?)?\)\Z")
_X86_DISP = re.compile(rf"(?:([A-Za-z_.$][\w.$@]*)\s*)?({_NUM})?\Z")
_ARM64_MEM = re.compile(rf"\[\s*(\w+)\s*(?:,\s*#?({_NUM})\s*)?\]\Z")
_ARM64_CONST = re.compile(rf"#?({_NUM})\Z")
_ARM64_REG = re.compile(r"(\w+)\Z")
# %riz/%eiz: the assembler's name for "no index register" (0(%rax,%riz,1))
_NO_INDEX = ("riz", "eiz")


def _register(names: dict[str, tuple[str, int]], name: str, token: str) -> tuple[str, int]:
    reg = names.get(name.lower())
    if reg is None:
        raise ValueError(f"{token!r}: register {name!r} is not supported "
                         f"(known: {', '.join(sorted({r for r, _ in names.values()}))})")
    return reg


def _address_register(name: str, token: str) -> str:
    """A base or index register: a whole one (``%ah`` cannot address memory)."""
    reg, shift = _register(_X86_NAMES, name, token)
    if shift:
        raise ValueError(f"{token!r}: %{name} cannot be a base or index register")
    return reg


def _operand_x86(token: str, size: int, signed: bool, op: str) -> UsdtArg:
    m = _X86_CONST.match(op)
    if m:
        return UsdtArg(token, size, signed, "const", value=_int(m.group(1)))
    m = _X86_REG.match(op)
    if m:
        reg, shift = _register(_X86_NAMES, m.group(1), token)
        return UsdtArg(token, size, signed, "reg", reg, shift=shift)
    m = _X86_MEM.match(op)
    if not m:
        raise ValueError(f"{token!r}: expected $imm, %reg, disp(%base), disp(%base,%index,scale) "
                         "or symbol(%rip)")
    disp_text, base_name, index_name, scale_text = m.groups()
    base = _address_register(base_name, token) if base_name else ""
    index = ""
    if index_name and index_name.lower() not in _NO_INDEX:
        index = _address_register(index_name, token)
        if index in ("rsp", "rip"):
            raise ValueError(f"{token!r}: %{index_name} cannot be an index register")
        if base == "rip":
            raise ValueError(f"{token!r}: a %rip-relative operand has no index register")
    scale = _int(scale_text) if scale_text else 1
    if scale not in (1, 2, 4, 8):
        raise ValueError(f"{token!r}: scale {scale_text} is not 1, 2, 4 or 8")
    disp = _X86_DISP.match(disp_text.strip())
    if disp is None:
        raise ValueError(f"{token!r}: cannot read the displacement {disp_text!r}")
    symbol, number = disp.group(1) or "", disp.group(2)
    if not base and not index and not symbol:
        raise ValueError(f"{token!r}: a memory operand without registers or symbol")
    if base == "rip" and not symbol:
        raise ValueError(f"{token!r}: a numeric %rip offset depends on the instruction "
                         "length, which the note does not record")
    return UsdtArg(token, size, signed, "mem", base, _int(number) if number else 0, symbol,
                   index, scale if index else 0)


def _operand_arm64(token: str, size: int, signed: bool, op: str) -> UsdtArg:
    m = _ARM64_MEM.match(op)
    if m:
        reg, _ = _register(_ARM64_NAMES, m.group(1), token)
        return UsdtArg(token, size, signed, "mem", reg, _int(m.group(2) or "0"))
    m = _ARM64_CONST.match(op)
    if m:
        return UsdtArg(token, size, signed, "const", value=_int(m.group(1)))
    m = _ARM64_REG.match(op)
    if m:
        reg, _ = _register(_ARM64_NAMES, m.group(1), token)
        return UsdtArg(token, size, signed, "reg", reg)
    raise ValueError(f"{token!r}: expected a constant, a register, [reg] or [reg, off]")


def architecture(machine: str | None = None) -> str:
    """``"x86_64"`` or ``"aarch64"`` (a :data:`PT_REGS_OFFSETS` key) for ``machine``.

    ``machine`` is ``os.uname().machine`` style; default: this machine.
    Raises ``ValueError`` for the others (their specs are not understood).
    """
    name = machine or os.uname().machine
    arch = _MACHINES.get(name)
    if arch is None:
        raise ValueError(f"USDT argument specs of {name} are not understood "
                         f"(known: {', '.join(PT_REGS_OFFSETS)})")
    return arch


def parse_args(spec: str, machine: str | None = None) -> list[UsdtArg]:
    """The arguments of a note's spec string, ``"-4@%eax 8@-16(%rbp) -4@$5"``.

    ``machine`` is ``os.uname().machine`` style (``"x86_64"``, ``"aarch64"``);
    default: this machine.  Raises ``ValueError`` naming the token that is not
    understood.

    >>> [(a.kind, a.size, a.signed, a.reg, a.value) for a in parse_args("-4@%eax 8@-16(%rbp)", "x86_64")]
    [('reg', 4, True, 'rax', 0), ('mem', 8, False, 'rbp', -16)]
    """
    operand = _operand_x86 if architecture(machine) == "x86_64" else _operand_arm64
    # arm64 memory operands hold a space: "[sp, 16]"; split on spaces outside brackets
    tokens = re.findall(r"(?:\[[^\]]*\]|\S)+", spec)
    if len(tokens) > MAX_ARGS:
        raise ValueError(f"{len(tokens)} arguments; a USDT probe has at most {MAX_ARGS}")
    args = []
    for token in tokens:
        m = _SIZE.match(token)
        if m is None:
            raise ValueError(f"{token!r}: expected SIZE@OPERAND (like -4@%eax)")
        size = int(m.group(2))
        if size not in (1, 2, 4, 8):
            raise ValueError(f"{token!r}: size {size} is not 1, 2, 4 or 8 bytes")
        args.append(operand(token, size, m.group(1) == "-", m.group(3)))
    return args


@record
class UsdtProbe(Record):
    """One probe site: ``address`` (virtual, adjusted for prelinking), ``offset`` in the file.

    ``semaphore`` is the semaphore's virtual address (0: the probe has none),
    ``args`` the argument spec string; :meth:`arguments` parses it.
    """

    provider: str
    name: str
    address: int
    offset: int
    semaphore: int
    args: str

    def arguments(self, machine: str | None = None) -> list[UsdtArg]:
        """The parsed :attr:`args` (see :func:`parse_args`)."""
        return parse_args(self.args, machine)


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


def _position_dependent(path: str) -> bool:
    """Whether ``path`` is an ``ET_EXEC`` file: loaded at the addresses it was linked for."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        return bool(ELFFile(f).header["e_type"] == "ET_EXEC")


def _symbol_addresses(path: str) -> dict[str, int]:
    """Every defined symbol of ``path`` (data too: ``symbol(%rip)`` operands name globals)."""
    from elftools.elf.elffile import ELFFile

    out: dict[str, int] = {}
    with open(path, "rb") as f:
        elf = ELFFile(f)
        for section_name in (".dynsym", ".symtab"):
            section = elf.get_section_by_name(section_name)
            if section is None:
                continue
            for sym in section.iter_symbols():
                if sym.name and sym["st_shndx"] != "SHN_UNDEF":
                    out[sym.name] = sym["st_value"]
    return out


def _spec_map(prog_fd: int) -> tuple[int, int] | None:
    """``(id, fd)`` of the spec map the program reads USDT arguments from, or None."""
    from ._native import syscalls
    from .usdt_args import SPEC_MAP_NAME

    for map_id in syscalls.prog_info(prog_fd)["map_ids"]:
        fd = syscalls.map_get_fd_by_id(map_id)
        if syscalls.map_info(fd)["name"] == SPEC_MAP_NAME[:15]:
            return map_id, fd
        syscalls.close(fd)
    return None


def _site_cookies(prog_fd: int, path: str, sites: list[UsdtProbe],
                  label: str) -> tuple[list[int], Any]:
    """The BPF cookie of each site (its spec's slot) and the slots' release, or zeros and
    None when the program reads no arguments."""
    from ._native import syscalls
    from .usdt_args import SpecSlots, encode

    found = _spec_map(prog_fd)
    if found is None:
        return [0] * len(sites), None
    map_id, map_fd = found
    try:
        machine = os.uname().machine
        symbols: dict[str, int] | None = None

        def symbol_address(name: str) -> int:
            nonlocal symbols
            if symbols is None:
                symbols = _symbol_addresses(path)
            if name not in symbols:
                raise ValueError(f"no symbol {name!r} in {path} (stripped?)")
            return symbols[name]

        position_dependent = _position_dependent(path)
        specs = []
        for site in sites:
            try:
                specs.append(encode(site.arguments(machine), machine, site_address=site.address,
                                    symbol_address=symbol_address,
                                    position_dependent=position_dependent))
            except ValueError as e:
                raise attach_error(
                    f"cannot decode the arguments of {label} at {site.address:#x} "
                    f"(spec {site.args!r}): {e}; the program reads ctx.arg(), which needs "
                    "them: read ctx.ip/ctx.sp, or registers with a @bpf.uprobe at the site",
                    errno.EINVAL) from None

        def write(slot: int, data: bytes) -> None:
            syscalls.map_update(map_fd, slot.to_bytes(4, "little"), data)

        try:
            return SpecSlots.acquire(map_id, specs, write)
        except OverflowError as e:
            raise attach_error(f"{label}: {e}", errno.ENOSPC) from None
    finally:
        syscalls.close(map_fd)


class UsdtLink(Link):
    """The uprobes of every site of one USDT probe (``links``), detached together."""

    def update(self, new_prog: Any) -> None:
        """Refused: the sites' uprobes are perf-event links, which the kernel cannot update.

        (``bpf_perf_link_lops`` in kernel/bpf/syscall.c has no ``update_prog``; and a
        new program that reads arguments would need spec slots in the cookies, which
        are fixed when the uprobes are opened.)  Attach the new program, then close
        this link: no event is missed, and both run for the events in between.
        """
        raise attach_error(
            f"cannot replace the program of {self.target} in place: its "
            f"{len(self.links)} site(s) are uprobes attached as perf events, which the "
            "kernel cannot update; attach the new program, then close this link",
            errno.EOPNOTSUPP, "BPF_LINK_UPDATE")


def attach_usdt(prog: Any, binary: str, provider: str, name: str, *,
                pid: int | None = None) -> Any:
    """Attach ``prog`` as a uprobe at every site of USDT probe ``provider:name`` in ``binary``.

    Returns one :class:`UsdtLink` owning a uprobe per site.  When the program reads
    arguments (``ctx.arg(n)``), each site's spec is placed in a slot of the
    spec map (:mod:`pyebpf.usdt_args`) and the site's uprobe carries the
    slot as its cookie.  A semaphore-guarded probe's uprobes carry the
    semaphore's file offset as reference counter, so the kernel raises the
    semaphore while they exist.
    """
    from .links import _fd_of
    from .symbols import elf_symbols, find_binary
    from .uprobes import attach_uprobe

    path = find_binary(binary, pid)
    sites = [p for p in probes(path) if p.provider == provider and p.name == name]
    label = f"usdt {path}:{provider}:{name}"
    if not sites:
        known = sorted({f"{p.provider}:{p.name}" for p in probes(path)})
        hint = f"; it has {', '.join(known[:8])}" if known else "; it has no USDT notes"
        raise attach_error(f"no USDT probe {provider}:{name} in {path}{hint}", errno.ENOENT)
    segments = elf_symbols(path)
    ref_ctr = [segments.vaddr_to_offset(p.semaphore) if p.semaphore else 0 for p in sites]
    prog_fd = _fd_of(prog)
    cookies, release = _site_cookies(prog_fd, path, sites, label)
    children: list[Link] = []
    try:
        for site, cookie, ref in zip(sites, cookies, ref_ctr):
            children.append(attach_uprobe(prog_fd, path, site.offset, pid=pid, cookie=cookie,
                                          ref_ctr_offset=ref))
    except BaseException:
        for child in children:
            child.close()
        if release is not None:
            release()
        raise
    return UsdtLink(None, kind="usdt", target=label, prog_fd=prog_fd, children=children,
                    cleanup=release)
