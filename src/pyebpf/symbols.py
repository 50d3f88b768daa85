"""Symbols: where a function lives in an ELF file, and which function an address is in.

Uprobes attach to a *file offset* inside an executable or shared library;
users name a symbol (``malloc``) in a file (``/usr/bin/python3``, or a
library name such as ``"libc"``).  This module does the translation:

- :func:`find_library` turns ``"libc"`` / ``"c"`` / ``"libc.so.6"`` into a
  path: first the libraries mapped by a given process (``/proc/<pid>/maps``),
  then the dynamic linker's cache (``ldconfig -p``), then the usual
  library directories.
- :class:`ElfSymbols` reads ``.symtab`` and ``.dynsym`` once and answers
  ``offset(name)`` (the file offset a uprobe needs: the symbol's virtual
  address mapped through the ``PT_LOAD`` segment that contains it, which
  is what makes PIE executables and shared libraries work) and
  ``lookup(vaddr)`` (symbolization of user stacks).
- :class:`Kallsyms` reads ``/proc/kallsyms`` for kernel stack symbolization.
- :func:`symbolize_user` maps a user address of a live process through its
  ``/proc/<pid>/maps`` back to ``symbol+offset``.
"""

from __future__ import annotations

import bisect
import functools
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import NamedTuple

from .errors import AttachError

__all__ = ["Symbol", "ElfSymbols", "Kallsyms", "find_library", "elf_symbols", "kallsyms",
           "symbolize_user", "symbolize_kernel", "resolve_uprobe", "find_binary"]

# ELF constants (elf.h): symbol types worth attaching to, segment type and flags.
_STT_FUNC, _STT_GNU_IFUNC, _STT_NOTYPE = "STT_FUNC", "STT_LOOS", "STT_NOTYPE"
_PT_LOAD = "PT_LOAD"
_PF_X = 1

_LIB_DIRS = ("/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib")


class Symbol(NamedTuple):
    """A function symbol: name, virtual address (``st_value``) and size."""

    name: str
    address: int
    size: int


def _uprobe_error(message: str, err: int = 2) -> AttachError:
    return AttachError("uprobe", err, message)


class ElfSymbols:
    """The function symbols of one ELF file, with address -> file offset translation.

    >>> libc = ElfSymbols(find_library("libc"))          # doctest: +SKIP
    >>> libc.offset("malloc")                             # doctest: +SKIP
    681424
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from elftools.common.exceptions import ELFError as _PyELFError
        from elftools.elf.elffile import ELFFile

        self.path = os.fspath(path)
        by_name: dict[str, Symbol] = {}
        try:
            with open(self.path, "rb") as f:
                elf = ELFFile(f)
                self.elf_type = elf.header["e_type"]
                # (vaddr, memsz, file offset, executable) of each loadable segment
                self.segments = [
                    (seg["p_vaddr"], seg["p_memsz"], seg["p_offset"], bool(seg["p_flags"] & _PF_X))
                    for seg in elf.iter_segments() if seg["p_type"] == _PT_LOAD
                ]
                # .dynsym first, so a .symtab entry of the same name (same address) wins
                for section_name in (".dynsym", ".symtab"):
                    section = elf.get_section_by_name(section_name)
                    if section is None:
                        continue
                    for sym in section.iter_symbols():
                        kind = sym["st_info"]["type"]
                        if kind not in (_STT_FUNC, _STT_GNU_IFUNC) or not sym["st_value"]:
                            continue
                        if sym["st_shndx"] == "SHN_UNDEF" or not sym.name:
                            continue
                        by_name[sym.name] = Symbol(sym.name, sym["st_value"], sym["st_size"])
        except FileNotFoundError:
            raise _uprobe_error(f"no such file: {self.path}") from None
        except (_PyELFError, OSError) as e:
            raise _uprobe_error(f"cannot read ELF symbols of {self.path}: {e}") from None
        self.symbols = by_name
        self._sorted = sorted(by_name.values(), key=lambda s: s.address)
        self._addresses = [s.address for s in self._sorted]

    def address(self, name: str) -> int:
        """The symbol's virtual address (``st_value``)."""
        sym = self.symbols.get(name)
        if sym is None:
            # versioned names: "malloc@@GLIBC_2.2.5" is found as "malloc"
            sym = self.symbols.get(name.split("@", 1)[0])
        if sym is None:
            close = sorted(n for n in self.symbols if name in n)[:5]
            hint = f"; similar: {', '.join(close)}" if close else ""
            raise _uprobe_error(f"no function symbol {name!r} in {self.path}{hint}")
        return sym.address

    def vaddr_to_offset(self, vaddr: int) -> int:
        """File offset of virtual address ``vaddr`` (through the PT_LOAD segment holding it)."""
        for start, size, offset, _x in self.segments:
            if start <= vaddr < start + size:
                return vaddr - start + offset
        raise _uprobe_error(f"address {vaddr:#x} is in no loadable segment of {self.path}")

    def offset_to_vaddr(self, file_offset: int) -> int | None:
        """Virtual address of ``file_offset`` (inverse of :meth:`vaddr_to_offset`)."""
        for start, size, offset, _x in self.segments:
            if offset <= file_offset < offset + size:
                return file_offset - offset + start
        return None

    def offset(self, name: str) -> int:
        """File offset of function ``name``: what a uprobe attaches to."""
        return self.vaddr_to_offset(self.address(name))

    def lookup(self, vaddr: int) -> tuple[str, int] | None:
        """``(symbol, offset into it)`` for a virtual address, or None."""
        i = bisect.bisect_right(self._addresses, vaddr) - 1
        if i < 0:
            return None
        sym = self._sorted[i]
        if sym.size and vaddr >= sym.address + sym.size:
            return None
        return sym.name, vaddr - sym.address


@functools.lru_cache(maxsize=64)
def _elf_symbols_cached(path: str, mtime_ns: int, size: int) -> ElfSymbols:
    return ElfSymbols(path)


def elf_symbols(path: str | os.PathLike[str]) -> ElfSymbols:
    """:class:`ElfSymbols` for ``path``, cached per process while the file is unchanged."""
    p = os.path.realpath(os.fspath(path))
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise _uprobe_error(f"no such file: {os.fspath(path)}") from None
    return _elf_symbols_cached(p, st.st_mtime_ns, st.st_size)


# --------------------------------------------------------------------------- libraries


def _library_patterns(name: str) -> re.Pattern[str]:
    """Basenames a short library name may stand for: ``c`` / ``libc`` -> ``libc.so``, ``libc.so.6``, ``libc-2.31.so``."""
    base = name if name.startswith("lib") else f"lib{name}"
    base = base.split(".so", 1)[0]
    return re.compile(rf"^{re.escape(base)}(?:\.so(?:\.[0-9.]+)?|-[0-9.]+\.so)$")


def _mapped_files(pid: int | str) -> list[str]:
    """Paths of the files mapped by a process, in map order, without duplicates."""
    paths: dict[str, None] = {}
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    paths[parts[5].rstrip("\n").removesuffix(" (deleted)")] = None
    except OSError:
        return []
    return list(paths)


@functools.cache
def _ldconfig_cache() -> dict[str, list[str]]:
    """``ldconfig -p``: library basename -> paths, native architecture first."""
    out: dict[str, list[str]] = {}
    for exe in ("ldconfig", "/sbin/ldconfig", "/usr/sbin/ldconfig"):
        try:
            text = subprocess.run([exe, "-p"], capture_output=True, text=True, timeout=5).stdout
            break
        except (OSError, subprocess.SubprocessError):
            continue
    else:
        return out
    native_64 = platform.architecture()[0] == "64bit"
    for line in text.splitlines()[1:]:
        m = re.match(r"\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S+)", line)
        if not m:
            continue
        name, flags, path = m.groups()
        is_64 = "64" in flags
        entries = out.setdefault(name, [])
        # the native word size goes first: a 64-bit process probes 64-bit libraries
        if is_64 == native_64:
            entries.insert(0, path)
        else:
            entries.append(path)
    return out


def find_library(name: str, pid: int | None = None) -> str:
    """The path of a shared library given by short name (``"c"``, ``"libc"``, ``"libssl.so.3"``).

    A name containing ``/`` is returned as is.  With ``pid``, the libraries
    that process has mapped are searched first (so the very file it runs is
    probed); then the dynamic linker's cache and the usual directories.
    """
    if "/" in name:
        return name
    pattern = _library_patterns(name)
    candidates = _mapped_files(pid) if pid is not None else []
    for path in candidates:
        if pattern.match(os.path.basename(path)):
            return path
    cache = _ldconfig_cache()
    for lib, paths in cache.items():
        if pattern.match(lib) and paths:
            return paths[0]
    arch_dirs = [f"/lib/{platform.machine()}-linux-gnu", f"/usr/lib/{platform.machine()}-linux-gnu"]
    for d in (*arch_dirs, *_LIB_DIRS):
        try:
            for entry in sorted(os.listdir(d)):
                if pattern.match(entry):
                    return os.path.join(d, entry)
        except OSError:
            continue
    # the running Python has libc and friends mapped: a last resort that always matches them
    for path in _mapped_files("self"):
        if pattern.match(os.path.basename(path)):
            return path
    raise _uprobe_error(f"cannot find library {name!r} (not mapped by the process, not in "
                        "`ldconfig -p`, not in the usual directories); give its path")


def find_binary(name: str, pid: int | None = None) -> str:
    """A path (returned as is), a program on ``PATH`` (``"bash"``) or a library (``"libc"``)."""
    if "/" in name:
        return name
    if not name.startswith("lib") and ".so" not in name:
        import shutil

        exe = shutil.which(name)
        if exe:
            return exe
    return find_library(name, pid)


def resolve_uprobe(binary: str, symbol: str | int, pid: int | None = None) -> tuple[str, int]:
    """``(path, file offset)`` of ``symbol`` in ``binary`` (a path, program or library name).

    ``symbol`` may be a name, ``"name+0x10"``, or an int file offset.
    """
    path = find_binary(binary, pid)
    if isinstance(symbol, int):
        return path, symbol
    name, plus, extra = symbol.partition("+")
    add = int(extra, 0) if plus else 0
    return path, elf_symbols(path).offset(name) + add


# --------------------------------------------------------------------------- kernel symbols


class Kallsyms:
    """``/proc/kallsyms``: kernel address -> ``(symbol, offset)``, and name -> address.

    Addresses read as zero without CAP_SYSLOG (kptr_restrict); :attr:`usable`
    says whether they are real.
    """

    def __init__(self, path: str = "/proc/kallsyms") -> None:
        entries: list[tuple[int, str]] = []
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3 or parts[1] in ("a", "A", "U"):
                    continue
                entries.append((int(parts[0], 16), parts[2]))
        entries.sort()
        self._addresses = [a for a, _ in entries]
        self._names = [n for _, n in entries]
        self.usable = bool(entries) and entries[-1][0] != 0

    def lookup(self, address: int) -> tuple[str, int] | None:
        """The symbol holding ``address`` and the offset into it (None below the first symbol)."""
        i = bisect.bisect_right(self._addresses, address) - 1
        if i < 0 or not self.usable:
            return None
        return self._names[i], address - self._addresses[i]

    def address(self, name: str) -> int | None:
        """Address of the first symbol called ``name``, or None."""
        try:
            return self._addresses[self._names.index(name)]
        except ValueError:
            return None

    def __contains__(self, name: object) -> bool:
        return name in self._names


@functools.cache
def kallsyms() -> Kallsyms:
    """The kernel's symbols, read once per process."""
    return Kallsyms()


def _fmt(sym: tuple[str, int] | None, address: int) -> str:
    if sym is None:
        return f"{address:#x}"
    name, off = sym
    return f"{name}+{off:#x}" if off else name


def symbolize_kernel(address: int) -> str:
    """``"do_sys_openat2+0x5e"`` for a kernel address (hex if unknown)."""
    return _fmt(kallsyms().lookup(address), address)


class _Mapping(NamedTuple):
    start: int
    end: int
    offset: int
    path: str


def _maps(pid: int) -> list[_Mapping]:
    out = []
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) < 6 or not parts[5].startswith("/"):
                    continue
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append(_Mapping(lo, hi, int(parts[2], 16), parts[5].rstrip("\n")))
    except OSError:
        pass
    return out


def symbolize_user(pid: int, addresses: list[int] | int) -> list[str]:
    """Names (``"main+0x1a"``, ``"libc.so.6:malloc"``) for user addresses of process ``pid``.

    Each address is mapped through ``/proc/<pid>/maps`` to a file offset, then
    through that file's segments to a virtual address and its symbol.  The
    process must still be alive.
    """
    if isinstance(addresses, int):
        addresses = [addresses]
    maps = _maps(pid)
    out = []
    for addr in addresses:
        m = next((m for m in maps if m.start <= addr < m.end), None)
        if m is None:
            out.append(f"{addr:#x}")
            continue
        try:
            syms = elf_symbols(m.path)
        except AttachError:
            out.append(f"{os.path.basename(m.path)}+{addr - m.start + m.offset:#x}")
            continue
        vaddr = syms.offset_to_vaddr(addr - m.start + m.offset)
        sym = syms.lookup(vaddr) if vaddr is not None else None
        where = "" if Path(m.path).resolve() == Path(f"/proc/{pid}/exe").resolve() else \
            f"{os.path.basename(m.path)}:"
        out.append(where + _fmt(sym, addr))
    return out
