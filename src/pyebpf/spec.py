"""Plain data describing an eBPF object before it touches the kernel.

``elf.read_object`` produces an :class:`ObjectSpec` from ELF bytes, whether
pyebpf's compiler or clang produced them; ``loader.load_object`` turns a spec
into live kernel objects.  Nothing here holds a file descriptor, so specs are
deterministic, comparable and safe to cache.
"""

from __future__ import annotations

from ._record import Record, factory, record

__all__ = [
    "MapSpec",
    "Relocation",
    "FuncInfo",
    "LineInfo",
    "ProgramSpec",
    "ObjectSpec",
]


@record
class MapSpec(Record):
    """A map the object declares (BTF-defined ``.maps``, or a global-data section).

    ``map_type`` is the kernel's ``BPF_MAP_TYPE_*`` number.  ``key_type_id`` /
    ``value_type_id`` point into the object's BTF (0 when unknown).  Global
    data maps (``.rodata``, ``.data``, ``.bss``) carry their initial bytes in
    ``initial_data`` and set ``global_data``.
    """

    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    pinning: int = 0  # LIBBPF_PIN_BY_NAME == 1
    key_type_id: int = 0
    value_type_id: int = 0
    btf_var_type_id: int = 0
    inner: MapSpec | None = None
    initial_data: bytes | None = None
    global_data: bool = False
    numa_node: int = 0
    map_extra: int = 0
    # Initial contents for prog arrays / maps of maps: slot -> program or map name.
    init_slots: tuple[tuple[int, str], ...] = ()


@record
class Relocation(Record):
    """An instruction that refers to a symbol the loader must resolve.

    ``insn`` is the instruction index inside its program's ``insns``.
    ``kind`` is one of:

    - ``"map"``: ``ld_imm64`` of a map fd (``symbol`` is the map name);
    - ``"map_value"``: ``ld_imm64`` of an address inside a global-data map
      (``symbol`` is the map name, ``addend`` the byte offset);
    - ``"call"``: a BPF-to-BPF call to the subprogram ``symbol``;
    - ``"func_addr"``: ``ld_imm64`` of a subprogram's address (``bpf_loop`` callbacks);
    - ``"kfunc"``: a call of the kernel function ``symbol`` (resolved via kernel BTF);
    - ``"ksym"``: ``ld_imm64`` of a kernel variable.
    """

    insn: int
    kind: str
    symbol: str
    addend: int = 0


@record
class FuncInfo(Record):
    """``bpf_func_info``: the function starting at instruction ``insn`` has BTF type ``type_id``."""

    insn: int
    type_id: int


@record
class LineInfo(Record):
    """``bpf_line_info`` with strings resolved: instruction ``insn`` came from ``file:line``."""

    insn: int
    file_name_off: int
    line_off: int
    line: int
    col: int
    file: str = ""
    source: str = ""


@record
class ProgramSpec(Record):
    """One function of the object: an entry program (in its own section) or a subprogram.

    ``insns`` are raw 8-byte BPF instructions.  ``func_info``/``line_info``
    offsets are instruction indexes relative to this function's first
    instruction.  Entry programs have ``prog_type`` etc. from their section
    name (see :mod:`pyebpf.sections`); subprograms (in ``.text``) have
    ``is_subprogram`` set.
    """

    name: str
    section: str
    insns: bytes
    relocations: tuple[Relocation, ...] = ()
    func_info: tuple[FuncInfo, ...] = ()
    line_info: tuple[LineInfo, ...] = ()
    is_subprogram: bool = False
    prog_type: int = 0
    expected_attach_type: int = 0
    attach_to: str = ""
    sleepable: bool = False
    # The kernel BTF id to load against when the section cannot say (struct_ops programs:
    # the ops struct, set by :mod:`pyebpf.structops`); 0: from the section
    attach_btf_id: int = 0

    @property
    def insn_count(self) -> int:
        return len(self.insns) // 8


@record
class ObjectSpec(Record):
    """Everything in one eBPF ELF object, as plain data.

    ``btf`` is the object's ``.BTF`` section already fixed up for the kernel
    (DATASEC sizes and variable offsets filled in); ``btf_ext`` is kept for
    tools that want the raw bytes.
    """

    _compare_exclude = frozenset({"extra"})

    programs: dict[str, ProgramSpec]
    maps: dict[str, MapSpec]
    license: str = "GPL"
    kern_version: int = 0
    btf: bytes | None = None
    btf_ext: bytes | None = None
    extra: dict[str, object] = factory(dict)

    @property
    def entry_programs(self) -> dict[str, ProgramSpec]:
        return {n: p for n, p in self.programs.items() if not p.is_subprogram}

    @property
    def subprograms(self) -> dict[str, ProgramSpec]:
        return {n: p for n, p in self.programs.items() if p.is_subprogram}
