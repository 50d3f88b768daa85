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
    view = total.numpy_view()           # or as a NumPy array over that same memory

The compiler places each variable in its section; the loader creates one
array map per section (as libbpf does, ``BPF_F_MMAPABLE``); after load the
declaration is bound to that map's memory, so reads and writes from Python
need no system call.

Objects compiled elsewhere (clang's ``.data``/``.bss``/``.rodata``) get the
same per-variable access through :class:`Globals` (``obj.globals``), typed
from the object's BTF ``DATASEC`` records, plus a structured NumPy view of a
whole section.

Lifetime of the memory: a variable (or :class:`Globals`) unmaps on
``close()`` and on a rebind (the next load), but NumPy views made from it
hold the mapping: ``mmap.close()`` refuses while they exist
(``BufferError``), so the mapping is then left to the views and unmapped
when the last one is garbage-collected.  A view thus never points at
unmapped memory; after a reload it still shows the *old* load's map, so
take a new view.
"""

from __future__ import annotations

import contextlib
import mmap
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .errors import BPFError
from .types import BPFType, as_type, u8

if TYPE_CHECKING:
    from .btf import BTF
    from .loader import LoadedObject

__all__ = ["Const", "Global", "GlobalVar", "Globals"]


def _map_section(fd: int, size: int, writable: bool) -> mmap.mmap:
    """mmap the single value of a global-data array map (fd from the loader)."""
    length = (max(size, 1) + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
    prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
    try:
        return mmap.mmap(fd, length, mmap.MAP_SHARED, prot)
    except OSError as e:
        raise BPFError(f"mmap of a global-data map failed: {e.strerror}") from None


def _unmap(mem: mmap.mmap) -> None:
    # BufferError: NumPy views (or other variables of the section) still export this
    # memory; they hold the mmap object, which unmaps when the last of them is freed.
    with contextlib.suppress(BufferError):
        mem.close()


def _ndarray(mem: mmap.mmap, dtype: Any, offset: int) -> Any:
    """A NumPy array over ``dtype.itemsize`` bytes of ``mem`` at ``offset``, no copy.

    ``np.frombuffer`` keeps a buffer export on the mmap for as long as the
    array (or a view of it) lives, so closing the mmap fails instead of
    unmapping memory the array points at; ``np.ndarray(buffer=...)`` would
    not, and reading it after ``close()`` would crash the interpreter.  One
    item, then the leading axis dropped: a scalar dtype gives a 0-d array, a
    subarray dtype (``u32[4]``) its shape, a struct a 0-d structured array.
    Read-only when the mmap is (``bpf.Const``, ``.rodata``).
    """
    import numpy as np

    arr = np.frombuffer(mem, dtype=dtype, count=1, offset=offset)
    return arr.reshape(arr.shape[1:])


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
        self._offset = 0
        self._owns_mmap = False

    def _set_name(self, name: str) -> None:
        if self.name is None:
            self.name = name

    @property
    def initial_bytes(self) -> bytes:
        return self.type.pack(self.default)

    def _bind(self, fd: int, offset: int, size: int, writable: bool) -> None:
        """Map the section's data map (the loader's fd) and point at this variable in it."""
        mem = _map_section(fd, size, writable)
        self._attach(mem, offset, owns=True)

    def _attach(self, mem: mmap.mmap, offset: int, *, owns: bool) -> None:
        """Point at ``offset`` in an already mapped section (``owns``: unmap it on close)."""
        self.close()
        self._mmap, self._offset, self._owns_mmap = mem, offset, owns
        self._view = memoryview(mem)[offset:offset + self.type.size]

    def _loaded_view(self) -> memoryview:
        if self._view is None:
            raise BPFError(f"{self._label()} is not loaded yet: load a program that uses it")
        return self._view

    @property
    def value(self) -> Any:
        """The variable's current value in the kernel (after the program is loaded)."""
        return self.type.unpack(self._loaded_view())

    @value.setter
    def value(self, new: Any) -> None:
        view = self._loaded_view()
        if view.readonly:
            raise BPFError(f"{self._label()} is read-only after load (.rodata, frozen): "
                           "set a bpf.Const with prog.load(constants={...}) instead")
        view[:] = self.type.pack(new)

    def numpy_view(self) -> Any:
        """A NumPy array over the variable's memory in the kernel: no copy, no syscall.

        Integers give a 0-d array (``v[()]``), arrays their shape (``u32[4]`` ->
        ``(4,)``, ``char[N]`` a 0-d ``S<N>``), structs a 0-d structured array
        (``v["field"]``).  Writable for :class:`Global` (the program sees the
        writes at once), read-only for :class:`Const`::

            hist = bpf.Global(u64[16])
            ...
            prog.load()
            view = hist.numpy_view()
            print(view.sum())       # the program's latest increments
            view[:] = 0             # and reset them in place

        The view stays valid after ``close()`` or a reload (it keeps its
        mapping alive; see the module docstring) but then shows the old map.
        Raises :class:`BPFError` before the variable is loaded.
        """
        import numpy as np

        self._loaded_view()  # BPFError when not loaded
        assert self._mmap is not None  # bound together with the view
        return _ndarray(self._mmap, np.dtype(self.type.numpy_format), self._offset)

    def close(self) -> None:
        """Stop using the variable's mapping (idempotent); views already made stay valid."""
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._mmap is not None and self._owns_mmap:
            _unmap(self._mmap)
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


# --------------------------------------------------------------------------- whole objects


class _Section:
    """One mapped global-data map and its variables, typed from its BTF DATASEC."""

    def __init__(self, name: str, mem: mmap.mmap, size: int, writable: bool,
                 variables: list[GlobalVar], offsets: list[int]) -> None:
        self.name = name
        self.mem: mmap.mmap | None = mem
        self.size = size
        self.writable = writable
        self.variables = variables
        self.offsets = offsets
        for var, offset in zip(variables, offsets):
            var._attach(mem, offset, owns=False)

    def dtype(self) -> Any:
        import numpy as np

        return np.dtype({
            "names": [v.name for v in self.variables],
            "formats": [v.type.numpy_format for v in self.variables],
            "offsets": self.offsets,
            "itemsize": self.size,
        })

    def close(self) -> None:
        for var in self.variables:
            var.close()
        if self.mem is not None:
            _unmap(self.mem)
            self.mem = None


class Globals(Mapping[str, GlobalVar]):
    """The global variables of a loaded object by name: ``obj.globals["counter"]``.

    For objects compiled elsewhere (``bpf.Object.from_file("prog.o")``), the
    variables of ``.data``, ``.bss`` and ``.rodata`` (and custom
    ``.data.*``/``.rodata.*`` sections) are named and typed from the
    object's BTF ``DATASEC`` records; each is a :class:`Global` (or a
    read-only :class:`Const` in a frozen section) with ``.value`` and
    ``.numpy_view()``.  :meth:`numpy_view` gives a whole section as one
    structured array with a field per variable::

        with bpf.Object.from_file("prog.o") as obj:
            obj.globals["input"].value = 7
            bss = obj.globals.numpy_view(".bss")
            print(bss["runs"], bss.dtype.names)

    Sections without a DATASEC (string literals, ``.rodata.str1.1``) are
    left out.  ``close()`` (done by ``obj.close()``) unmaps; views already
    made keep their memory (see the module docstring).
    """

    def __init__(self, sections: dict[str, _Section]) -> None:
        self._sections = sections
        self._vars: dict[str, GlobalVar] = {}
        for sec in sections.values():
            for var in sec.variables:
                # Names are unique in a C object (clang names static locals "func.x");
                # should a hand-made object repeat one, the first keeps it.
                self._vars.setdefault(var.name or "", var)

    @classmethod
    def from_loaded(cls, loaded: LoadedObject) -> Globals:
        """Map the global-data maps of a loaded object (``loader.load_object``)."""
        from .btf import BTF
        from .loader import global_data_read_only

        spec = loaded.spec
        btf = BTF.from_bytes(spec.btf) if spec.btf else None
        sections: dict[str, _Section] = {}
        try:
            for name, mspec in spec.maps.items():
                if not (mspec.global_data and mspec.value_type_id and btf is not None
                        and name in loaded.maps):
                    continue
                writable = not global_data_read_only(name, mspec)
                variables, offsets = _datasec_variables(btf, mspec.value_type_id, writable)
                mem = _map_section(loaded.maps[name], mspec.value_size, writable)
                sections[name] = _Section(name, mem, mspec.value_size, writable, variables,
                                          offsets)
        except BaseException:
            for sec in sections.values():
                sec.close()
            raise
        return cls(sections)

    @property
    def sections(self) -> tuple[str, ...]:
        """The section (map) names: ``(".rodata", ".data", ".bss")`` for a typical object."""
        return tuple(self._sections)

    def numpy_view(self, section: str) -> Any:
        """A 0-d structured array over a whole section's memory, one field per variable.

        Fields have the variables' names, dtypes and offsets (``itemsize`` is the
        section's size); writable unless the section is frozen (``.rodata``).
        No copy: ``view["counter"]`` is the kernel's current value, and writing
        it changes what the program reads.
        """
        sec = self._sections.get(section)
        if sec is None:
            raise BPFError(f"no global-data section {section!r} with BTF in this object "
                           f"(it has: {', '.join(self._sections) or 'none'})")
        if sec.mem is None:
            raise BPFError(f"section {section!r} is closed")
        return _ndarray(sec.mem, sec.dtype(), 0)

    def close(self) -> None:
        """Unmap every section (idempotent); views already made stay valid."""
        for sec in self._sections.values():
            sec.close()

    def __getitem__(self, name: str) -> GlobalVar:
        try:
            return self._vars[name]
        except KeyError:
            raise KeyError(f"no global variable {name!r} (variables: "
                           f"{', '.join(self._vars) or 'none'})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._vars)

    def __len__(self) -> int:
        return len(self._vars)

    def __repr__(self) -> str:
        return f"Globals({', '.join(f'{n}: {v.type!r}' for n, v in self._vars.items())})"


def _datasec_variables(btf: BTF, datasec_id: int,
                       writable: bool) -> tuple[list[GlobalVar], list[int]]:
    """The variables of a DATASEC (offsets filled in by the ELF reader) and their offsets.

    Each type comes from :func:`pyebpf._mapbtf.types_for`; one with no pyebpf
    equivalent (a union, a float, a struct with bitfields) stays ``u8[size]``.
    """
    from ._mapbtf import types_for

    kind = Global if writable else Const
    variables: list[GlobalVar] = []
    offsets: list[int] = []
    for vsi in btf.type(datasec_id).vars:  # type: ignore[attr-defined]
        var = btf.type(vsi.type)
        t = types_for(btf, 0, var.type, 0, vsi.size).value or u8[vsi.size]  # type: ignore[attr-defined]
        variables.append(kind(t, name=var.name))
        offsets.append(vsi.offset)
    return variables, offsets
