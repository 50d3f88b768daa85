"""Global variables shared by a program and Python: ``bpf.Const`` and ``bpf.Global``.

::

    THRESHOLD = bpf.Const(u32, 100)     # .rodata: set per load, read-only in the kernel
    total = bpf.Global(u64)             # .bss (.data with a non-zero default): read/write

    @bpf.xdp
    def prog(ctx) -> int:
        if ctx.ingress_ifindex > THRESHOLD:
            total.value += 1            # `.value` reads and writes the variable
        ...

    prog.load(constants={"THRESHOLD": 5})
    print(total.value)                  # read from Python through an mmap of the data map

The compiler places each variable in its section; the loader creates one
array map per section (as libbpf does); after load the declaration is bound
to that map's memory, so reads and writes from Python need no system call.
"""

from __future__ import annotations

import mmap
from typing import Any

from .errors import BPFError
from .types import BPFType, as_type

__all__ = ["Const", "Global", "GlobalVar"]


class GlobalVar:
    """A variable in a global-data section; see :class:`Const` and :class:`Global`."""

    section = ".data"

    def __init__(self, type: Any, default: Any = None, *, name: str | None = None) -> None:
        self.type: BPFType = as_type(type)
        self.default = self.type.default() if default is None else default
        self.type.pack(self.default)  # fail early on a default that does not fit
        self.name = name
        self._view: memoryview | None = None
        self._mmap: mmap.mmap | None = None

    def _set_name(self, name: str) -> None:
        if self.name is None:
            self.name = name

    @property
    def initial_bytes(self) -> bytes:
        return self.type.pack(self.default)

    def _bind(self, fd: int, offset: int, size: int, writable: bool) -> None:
        """Map the section's data map (the loader's fd) and point at this variable in it."""
        length = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        self.close()
        self._mmap = mmap.mmap(fd, length, mmap.MAP_SHARED, prot)
        self._view = memoryview(self._mmap)[offset:offset + self.type.size]

    @property
    def value(self) -> Any:
        """The variable's current value in the kernel (after the program is loaded)."""
        if self._view is None:
            raise BPFError(f"{self._label()} is not loaded yet: load a program that uses it")
        return self.type.unpack(self._view)

    @value.setter
    def value(self, new: Any) -> None:
        if self._view is None:
            raise BPFError(f"{self._label()} is not loaded yet: load a program that uses it")
        if self._view.readonly:
            raise BPFError(f"{self._label()} is a bpf.Const: set it with "
                           "prog.load(constants={...}) instead")
        self._view[:] = self.type.pack(new)

    def close(self) -> None:
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._mmap is not None:
            self._mmap.close()
            self._mmap = None

    def _label(self) -> str:
        return f"{type(self).__name__} {self.name or '(unnamed)'}"

    def __repr__(self) -> str:
        state = repr(self.value) if self._view is not None else "not loaded"
        return f"{type(self).__name__}({self.type!r}, name={self.name!r}, {state})"


class Const(GlobalVar):
    """A constant in ``.rodata``: the kernel reads it, ``prog.load(constants=...)`` sets it."""

    section = ".rodata"


class Global(GlobalVar):
    """A mutable global in ``.data`` (non-zero default) or ``.bss`` (zero)."""

    @property  # type: ignore[override]
    def section(self) -> str:  # type: ignore[override]
        return ".data" if any(self.initial_bytes) else ".bss"
