"""ELF object -> :class:`~pyebpf.spec.ObjectSpec`.

Where this sits in the data flow: the compiler's backend (llvmlite) and
clang both produce relocatable BPF ELF objects; :func:`read_object` turns
either into the same plain-data spec the loader consumes:

- one :class:`ProgramSpec` per function symbol in an executable section
  (entry programs outside ``.text``, subprograms in ``.text``), with its
  relocations and its func/line info from ``.BTF.ext``;
- one :class:`MapSpec` per BTF-defined map in ``.maps`` (or legacy
  ``struct bpf_map_def`` in ``maps``) and per global-data section
  (``.rodata*``, ``.data*``, ``.bss*``);
- the license, kernel version and the fixed-up ``.BTF``;
- ``extra["core_relos"]``: program name -> list of :class:`pyebpf.btf.CoreRelo`
  whose ``insn_off`` is the instruction index inside that program (resolve
  each with :func:`pyebpf.btf.core_relocate`).

pyelftools does the ELF parsing; none of its exceptions escape (they become
:class:`~pyebpf.errors.ELFError`).
"""

from __future__ import annotations

import dataclasses
import io
import re
import struct
from dataclasses import dataclass, field

from pyebpf import btf as _btf
from pyebpf.errors import BTFError, ELFError
from pyebpf.spec import FuncInfo, LineInfo, MapSpec, ObjectSpec, ProgramSpec, Relocation

__all__ = ["read_object", "classify_section"]

EM_BPF = 247
# ELF relocation types of the BPF backend (llvm/BinaryFormat/ELFRelocs/BPF.def).
R_BPF_NONE = 0
R_BPF_64_64 = 1  # ld_imm64 of an address
R_BPF_64_ABS64 = 2  # 64-bit data (pointers in .maps, debug info)
R_BPF_64_ABS32 = 3
R_BPF_64_NODYLD32 = 4  # .BTF/.BTF.ext: resolved by tools, ignored by the loader
R_BPF_64_32 = 10  # call imm

INSN_SIZE = 8
OP_LD_IMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW
OP_CALL = 0x85  # BPF_JMP | BPF_CALL
PSEUDO_CALL = 1  # src_reg of a BPF-to-BPF call

# enum bpf_map_type values used here.
MAP_TYPE_ARRAY = 2
MAP_TYPE_ARRAY_OF_MAPS = 12
MAP_TYPE_HASH_OF_MAPS = 13
# Map flags (include/uapi/linux/bpf.h).
BPF_F_RDONLY_PROG = 0x80
BPF_F_MMAPABLE = 0x400

BPF_OBJ_NAME_LEN = 16  # kernel map/prog names: 15 chars + NUL
_GLOBAL_DATA = re.compile(r"^\.(rodata|data|bss)(\..*)?$")
_BTF_MAP_UINT_FIELDS = {
    "type": "map_type",
    "max_entries": "max_entries",
    "map_flags": "flags",
    "numa_node": "numa_node",
    "key_size": "key_size",
    "value_size": "value_size",
    "pinning": "pinning",
    "map_extra": "map_extra",
}
_KCONFIG_NAMES = re.compile(r"^(CONFIG_|LINUX_)")


def classify_section(section: str) -> tuple[int, int, str, bool]:
    """``(prog_type, expected_attach_type, attach_to, sleepable)`` for a section name.

    The one place the ELF reader asks :mod:`pyebpf.sections`; an unknown
    section gives zeros, so objects with custom section names can still be
    read (the loader reports the unknown section when asked to load it).
    """
    try:
        from pyebpf import sections
    except ImportError:  # pragma: no cover - sections.py is written in parallel
        return 0, 0, "", False
    try:
        info = sections.classify(section)
    except (ELFError, KeyError, ValueError):
        return 0, 0, "", False
    return (
        int(info.prog_type),
        int(info.expected_attach_type or 0),
        info.attach_to or "",
        bool(info.sleepable),
    )


@dataclass
class _Symbol:
    name: str
    value: int
    size: int
    kind: str  # STT_* without the prefix: FUNC, OBJECT, SECTION, NOTYPE
    section_index: int  # 0 = undefined
    section: str  # "" for undefined / special


@dataclass
class _Section:
    index: int
    name: str
    kind: str  # SHT_* without the prefix
    flags: int
    data: bytes
    size: int
    info: int = 0  # sh_info: target section of a REL section


@dataclass
class _Function:
    symbol: _Symbol
    start: int  # byte offset in its section
    end: int
    relocations: list[Relocation] = field(default_factory=list)

    def contains(self, offset: int) -> bool:
        return self.start <= offset < self.end


SHF_EXECINSTR = 0x4
SHF_ALLOC = 0x2


class _Reader:
    """State threaded through one :func:`read_object` call."""

    def __init__(self, data: bytes, source_name: str) -> None:
        self.source_name = source_name
        self.sections, self.symbols = _parse_elf(data, source_name)
        self.by_name = {s.name: s for s in self.sections}
        self.btf: _btf.BTF | None = None
        self.btf_ext: _btf.BTFExt | None = None
        self.functions: dict[int, list[_Function]] = {}
        self.global_maps: dict[str, str] = {}  # section name -> map name

    def fail(self, message: str) -> ELFError:
        return ELFError(f"{self.source_name}: {message}")

    # -- top level

    def read(self) -> ObjectSpec:
        raw_btf = self._section_bytes(".BTF")
        fixed_btf = None
        if raw_btf is not None:
            try:
                self.btf = _btf.BTF(raw_btf)
                fixed_btf = _btf.fixup_object_btf(raw_btf, self._section_sizes(),
                                                  self._symbol_offsets())
                raw_ext = self._section_bytes(".BTF.ext")
                if raw_ext is not None:
                    self.btf_ext = _btf.BTFExt(raw_ext, self.btf)
            except BTFError as e:
                raise self.fail(f"bad BTF: {e}") from None
        maps = self._global_data_maps()
        maps.update(self._btf_maps())
        maps.update(self._legacy_maps())
        programs = self._programs()
        extra: dict[str, object] = {}
        if self.btf_ext is not None and any(self.btf_ext.core_relos.values()):
            extra["core_relos"] = self._core_relos()
        return ObjectSpec(
            programs=programs,
            maps=maps,
            license=self._license(),
            kern_version=self._kern_version(),
            btf=fixed_btf,
            btf_ext=self._section_bytes(".BTF.ext"),
            extra=extra,
        )

    def _section_bytes(self, name: str) -> bytes | None:
        sec = self.by_name.get(name)
        return sec.data if sec is not None else None

    def _section_sizes(self) -> dict[str, int]:
        return {s.name: s.size for s in self.sections if s.flags & SHF_ALLOC}

    def _symbol_offsets(self) -> dict[tuple[str, str], int]:
        return {
            (s.section, s.name): s.value
            for s in self.symbols
            if s.section_index and s.kind in ("OBJECT", "NOTYPE", "FUNC")
        }

    def _license(self) -> str:
        raw = self._section_bytes("license")
        if raw is None:
            return ObjectSpec._defaults["license"]
        return raw.split(b"\0", 1)[0].decode("ascii", "replace")

    def _kern_version(self) -> int:
        raw = self._section_bytes("version")
        if raw is None:
            return 0
        if len(raw) != 4:
            raise self.fail(f"section 'version' must hold one u32, it has {len(raw)} bytes")
        return struct.unpack("<I", raw)[0]

    # -- programs

    def _functions_of(self, sec: _Section) -> list[_Function]:
        if sec.index not in self.functions:
            syms = sorted(
                (s for s in self.symbols if s.section_index == sec.index and s.kind == "FUNC"),
                key=lambda s: s.value,
            )
            funcs = []
            for i, sym in enumerate(syms):
                end = sym.value + sym.size if sym.size else (
                    syms[i + 1].value if i + 1 < len(syms) else sec.size
                )
                if sym.value % INSN_SIZE or end % INSN_SIZE or end > sec.size:
                    raise self.fail(f"function {sym.name!r} in {sec.name!r} is not "
                                    "aligned to whole instructions")
                funcs.append(_Function(sym, sym.value, end))
            self.functions[sec.index] = funcs
        return self.functions[sec.index]

    def _function_at(self, sec: _Section, offset: int) -> _Function:
        for func in self._functions_of(sec):
            if func.contains(offset):
                return func
        raise self.fail(f"offset {offset} of section {sec.name!r} is in no function")

    def _programs(self) -> dict[str, ProgramSpec]:
        exec_sections = [
            s for s in self.sections
            if s.kind == "PROGBITS" and s.flags & SHF_EXECINSTR and s.size
        ]
        for sec in exec_sections:
            self._collect_relocations(sec)
        programs: dict[str, ProgramSpec] = {}
        for sec in exec_sections:
            is_sub = sec.name == ".text"
            kind = (0, 0, "", False) if is_sub else classify_section(sec.name)
            for func in self._functions_of(sec):
                name = func.symbol.name
                if name in programs:
                    raise self.fail(f"two functions are called {name!r}")
                programs[name] = ProgramSpec(
                    name=name,
                    section=sec.name,
                    insns=sec.data[func.start : func.end],
                    relocations=tuple(sorted(func.relocations, key=lambda r: r.insn)),
                    func_info=self._func_info(sec.name, func),
                    line_info=self._line_info(sec.name, func),
                    is_subprogram=is_sub,
                    prog_type=kind[0],
                    expected_attach_type=kind[1],
                    attach_to=kind[2],
                    sleepable=kind[3],
                )
        return programs

    def _collect_relocations(self, sec: _Section) -> None:
        relocated: set[int] = set()
        for rel in self._relocations_for(sec):
            offset, rtype, sym = rel
            if offset % INSN_SIZE or offset + INSN_SIZE > sec.size:
                raise self.fail(f"relocation at {sec.name}+{offset} is not on an instruction")
            func = self._function_at(sec, offset)
            insn = (offset - func.start) // INSN_SIZE
            func.relocations.append(self._program_relocation(sec, offset, insn, rtype, sym))
            relocated.add(offset)
        # A call to a function of the same section may be resolved by the
        # assembler (no relocation): its imm is relative to the next insn.
        for func in self._functions_of(sec):
            for offset in range(func.start, func.end, INSN_SIZE):
                opcode, regs, _off, imm = struct.unpack_from("<BBhi", sec.data, offset)
                if opcode == OP_CALL and regs >> 4 == PSEUDO_CALL and offset not in relocated:
                    target = offset + (imm + 1) * INSN_SIZE
                    func.relocations.append(self._call(sec, target, (offset - func.start) // 8))

    def _relocations_for(self, sec: _Section):
        for rel_sec in self.sections:
            if rel_sec.kind == "REL" and rel_sec.info == sec.index:
                yield from _rel_entries(rel_sec, self.symbols, self)
            elif rel_sec.kind == "RELA" and rel_sec.info == sec.index:
                raise self.fail(f"RELA relocations ({rel_sec.name}) are not used by BPF")

    def _program_relocation(self, sec: _Section, offset: int, insn: int, rtype: int,
                            sym: _Symbol) -> Relocation:
        opcode, regs, _off, imm = struct.unpack_from("<BBhi", sec.data, offset)
        where = f"{sec.name}+{offset:#x} ({sym.name or 'unnamed symbol'})"
        if rtype == R_BPF_64_32:
            if opcode != OP_CALL:
                raise self.fail(f"call relocation on a non-call instruction at {where}")
            if not sym.section_index:
                return Relocation(insn, "kfunc", sym.name)
            target_sec = self.sections[sym.section_index]
            # The callee is at sym.value + (imm + 1) insns: imm is -1 for a
            # function symbol, and the callee's offset - 1 for a section symbol.
            return self._call(target_sec, sym.value + (imm + 1) * INSN_SIZE, insn)
        if rtype != R_BPF_64_64:
            raise self.fail(f"unsupported relocation type {rtype} at {where}")
        if opcode != OP_LD_IMM64:
            raise self.fail(f"64-bit relocation on a non-ld_imm64 instruction at {where}")
        if not sym.section_index:
            return Relocation(insn, self._extern_kind(sym.name), sym.name)
        target = self.sections[sym.section_index]
        if target.name == ".maps" or target.name == "maps":
            return Relocation(insn, "map", self._map_symbol(target, sym.value + imm, where))
        if target.name in self.global_maps:
            # The address is symbol value + the imm the compiler left in the
            # insn: clang uses (variable symbol, imm 0) for globals and
            # (section symbol, imm = offset) for statics and string literals.
            return Relocation(insn, "map_value", self.global_maps[target.name], sym.value + imm)
        if target.flags & SHF_EXECINSTR:
            byte = sym.value + imm
            func = self._function_at(target, byte)
            return Relocation(insn, "func_addr", func.symbol.name,
                              (byte - func.start) // INSN_SIZE)
        raise self.fail(f"instruction refers to section {target.name!r}, which pyebpf "
                        f"does not load, at {where}")

    def _call(self, target_sec: _Section, byte: int, insn: int) -> Relocation:
        if not target_sec.flags & SHF_EXECINSTR:
            raise self.fail(f"call into non-code section {target_sec.name!r}")
        func = self._function_at(target_sec, byte)
        return Relocation(insn, "call", func.symbol.name, (byte - func.start) // INSN_SIZE)

    def _extern_kind(self, name: str) -> str:
        if self.btf is not None:
            for sec in self.btf.find_all(_btf.KCONFIG_SEC, "datasec"):
                if any(self.btf.type(v.type).name == name for v in sec.vars):
                    return "kconfig"
            return "ksym"
        return "kconfig" if _KCONFIG_NAMES.match(name) else "ksym"

    def _map_symbol(self, sec: _Section, offset: int, where: str) -> str:
        for sym in self.symbols:
            if (sym.section_index == sec.index and sym.kind == "OBJECT"
                    and sym.value <= offset < sym.value + max(sym.size, 1)):
                return sym.name
        raise self.fail(f"no map at {sec.name}+{offset} for {where}")

    def _func_info(self, section: str, func: _Function) -> tuple[FuncInfo, ...]:
        if self.btf_ext is None:
            return ()
        return tuple(
            FuncInfo((rec.insn_off - func.start) // INSN_SIZE, rec.type_id)
            for rec in self.btf_ext.func_info.get(section, ())
            if func.contains(rec.insn_off)
        )

    def _line_info(self, section: str, func: _Function) -> tuple[LineInfo, ...]:
        if self.btf_ext is None or self.btf is None:
            return ()
        string = self.btf.string
        return tuple(
            LineInfo(
                insn=(rec.insn_off - func.start) // INSN_SIZE,
                file_name_off=rec.file_name_off,
                line_off=rec.line_off,
                line=rec.line,
                col=rec.col,
                file=string(rec.file_name_off),
                source=string(rec.line_off),
            )
            for rec in self.btf_ext.line_info.get(section, ())
            if func.contains(rec.insn_off)
        )

    def _core_relos(self) -> dict[str, list[_btf.CoreRelo]]:
        """CO-RE records per program; ``insn_off`` becomes the insn index in the program."""
        assert self.btf_ext is not None
        out: dict[str, list[_btf.CoreRelo]] = {}
        for section, relos in self.btf_ext.core_relos.items():
            sec = self.by_name.get(section)
            if sec is None:
                raise self.fail(f".BTF.ext has CO-RE records for missing section {section!r}")
            for relo in relos:
                func = self._function_at(sec, relo.insn_off)
                insn = (relo.insn_off - func.start) // INSN_SIZE
                out.setdefault(func.symbol.name, []).append(
                    dataclasses.replace(relo, insn_off=insn))
        return out

    # -- maps

    def _global_data_maps(self) -> dict[str, MapSpec]:
        maps: dict[str, MapSpec] = {}
        for sec in self.sections:
            if not (_GLOBAL_DATA.match(sec.name) and sec.flags & SHF_ALLOC and sec.size):
                continue
            name = _kernel_map_name(sec.name)
            if name in maps:
                raise self.fail(f"sections {self.global_maps_inv(name)!r} and {sec.name!r} "
                                f"both map to the map name {name!r}")
            flags = BPF_F_MMAPABLE
            if sec.name.startswith(".rodata"):
                flags |= BPF_F_RDONLY_PROG
            datasec_id = 0
            if self.btf is not None:
                found = self.btf.find_all(sec.name, "datasec")
                datasec_id = found[0].id if found else 0
            maps[name] = MapSpec(
                name=name,
                map_type=MAP_TYPE_ARRAY,
                key_size=4,
                value_size=sec.size,
                max_entries=1,
                flags=flags,
                value_type_id=datasec_id,
                initial_data=sec.data if sec.kind != "NOBITS" else bytes(sec.size),
                global_data=True,
            )
            self.global_maps[sec.name] = name
        return maps

    def global_maps_inv(self, map_name: str) -> str:
        return next(s for s, m in self.global_maps.items() if m == map_name)

    def _btf_maps(self) -> dict[str, MapSpec]:
        sec = self.by_name.get(".maps")
        if sec is None:
            return {}
        if self.btf is None:
            raise self.fail("section '.maps' needs BTF to describe its maps (compile with -g)")
        datasecs = self.btf.find_all(".maps", "datasec")
        if not datasecs:
            raise self.fail("BTF has no DATASEC '.maps' describing the maps")
        slot_relocs = list(_rel_entries_for(self, sec))
        maps: dict[str, MapSpec] = {}
        for vsi in datasecs[0].vars:
            var = self.btf.type(vsi.type)
            sym = next((s for s in self.symbols
                        if s.section_index == sec.index and s.name == var.name), None)
            if sym is None:
                raise self.fail(f"map {var.name!r} has no symbol in '.maps'")
            relocs = [(off - sym.value, target) for off, _t, target in slot_relocs
                      if sym.value <= off < sym.value + sym.size]
            spec = self._btf_map(var.name, var.type, relocs)
            maps[var.name] = spec.replace(btf_var_type_id=var.id)
        return maps

    def _btf_map(self, name: str, type_id: int, relocs: list[tuple[int, _Symbol]],
                 *, inner: bool = False) -> MapSpec:
        assert self.btf is not None
        btf = self.btf
        struct_type = btf.resolved(type_id)
        if not isinstance(struct_type, _btf.Struct):
            raise self.fail(f"map {name!r}: its BTF type is a {struct_type.kind}, not a struct")
        fields: dict[str, object] = {"name": name}
        values_member = None
        for member in struct_type.members:
            mtype = btf.resolved(member.type)
            if member.name in _BTF_MAP_UINT_FIELDS:
                fields[_BTF_MAP_UINT_FIELDS[member.name]] = self._uint_field(name, member, mtype)
            elif member.name in ("key", "value"):
                if not isinstance(mtype, _btf.Ptr):
                    raise self.fail(f"map {name!r}: {member.name!r} must be a pointer "
                                    "(use __type(key, T))")
                fields[f"{member.name}_size"] = btf.size_of(mtype.type)
                fields[f"{member.name}_type_id"] = mtype.type
            elif member.name == "values":
                values_member = (member, mtype)
            else:
                raise self.fail(f"map {name!r}: unknown map attribute {member.name!r}")
        if values_member is not None:
            member, mtype = values_member
            if not isinstance(mtype, _btf.Array):
                raise self.fail(f"map {name!r}: 'values' must be an array (use __array)")
            fields.setdefault("value_size", 4)
            fields.setdefault("max_entries", mtype.nelems)
            elem = btf.resolved(mtype.type)
            pointee = btf.resolved(elem.type) if isinstance(elem, _btf.Ptr) else None
            if isinstance(pointee, _btf.Struct):
                fields["inner"] = self._btf_map(f"{name}.inner", pointee.id, [], inner=True)
            start = member.byte_offset
            slots = []
            for off, target in relocs:
                slot, rem = divmod(off - start, 8)
                if rem or not 0 <= slot < max(int(fields["max_entries"]), mtype.nelems):
                    raise self.fail(f"map {name!r}: initial value at offset {off} is not a slot")
                slots.append((slot, target.name))
            fields["init_slots"] = tuple(sorted(slots))
        elif relocs:
            raise self.fail(f"map {name!r} has pointers but no 'values' member")
        # Inner templates and perf event arrays (sized to the CPUs at load) may omit max_entries.
        sized_later = inner or fields.get("map_type") == 4  # BPF_MAP_TYPE_PERF_EVENT_ARRAY
        for needed in ("map_type",) if sized_later else ("map_type", "max_entries"):
            if needed not in fields:
                raise self.fail(f"map {name!r} does not set "
                                f"{'type' if needed == 'map_type' else needed}")
        fields.setdefault("max_entries", 0)
        fields.setdefault("key_size", 0)
        fields.setdefault("value_size", 0)
        return MapSpec(**fields)  # type: ignore[arg-type]

    def _uint_field(self, map_name: str, member, mtype) -> int:
        # __uint(name, N) is `int (*name)[N]`: the value is the array length.
        assert self.btf is not None
        arr = self.btf.resolved(mtype.type) if isinstance(mtype, _btf.Ptr) else None
        if not isinstance(arr, _btf.Array):
            raise self.fail(f"map {map_name!r}: {member.name!r} must be written "
                            f"__uint({member.name}, N)")
        return arr.nelems

    def _legacy_maps(self) -> dict[str, MapSpec]:
        # struct bpf_map_def { u32 type, key_size, value_size, max_entries, map_flags; }
        sec = self.by_name.get("maps")
        if sec is None:
            return {}
        maps = {}
        for sym in self.symbols:
            if sym.section_index != sec.index or sym.kind not in ("OBJECT", "NOTYPE"):
                continue
            if sym.value + 20 > len(sec.data):
                raise self.fail(f"legacy map {sym.name!r} is shorter than struct bpf_map_def")
            mtype, ksize, vsize, entries, flags = struct.unpack_from("<5I", sec.data, sym.value)
            maps[sym.name] = MapSpec(sym.name, mtype, ksize, vsize, entries, flags)
        return maps


def _kernel_map_name(section: str) -> str:
    """A section name as a kernel object name: [A-Za-z0-9_.], at most 15 chars."""
    cleaned = re.sub(r"[^A-Za-z0-9_.]", "_", section)
    return cleaned[: BPF_OBJ_NAME_LEN - 1]


def _rel_entries(rel_sec: _Section, symbols: list[_Symbol], reader: _Reader):
    """``(offset, type, symbol)`` for each Elf64_Rel of a REL section."""
    data = rel_sec.data
    if len(data) % 16:
        raise reader.fail(f"relocation section {rel_sec.name!r} has a partial entry")
    for offset, info in struct.iter_unpack("<QQ", data):
        sym_index, rtype = info >> 32, info & 0xFFFFFFFF
        if sym_index >= len(symbols):
            raise reader.fail(f"relocation in {rel_sec.name!r} names symbol {sym_index}, "
                              "which does not exist")
        yield offset, rtype, symbols[sym_index]


def _rel_entries_for(reader: _Reader, sec: _Section):
    for rel_sec in reader.sections:
        if rel_sec.kind == "REL" and rel_sec.info == sec.index:
            for offset, rtype, sym in _rel_entries(rel_sec, reader.symbols, reader):
                if rtype != R_BPF_64_ABS64:
                    raise reader.fail(f"unexpected relocation type {rtype} in {rel_sec.name!r}")
                yield offset, rtype, sym


def _parse_elf(data: bytes, source_name: str) -> tuple[list[_Section], list[_Symbol]]:
    """Sections and the symbol table, as plain data; pyelftools stays in here."""
    from elftools.common.exceptions import ELFError as _PyELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_machine"] not in ("EM_BPF", EM_BPF):
            raise ELFError(f"{source_name}: not a BPF object (machine {elf['e_machine']})")
        if elf.elfclass != 64 or not elf.little_endian:
            raise ELFError(f"{source_name}: only 64-bit little-endian BPF objects are supported")
        if elf["e_type"] != "ET_REL":
            raise ELFError(f"{source_name}: expected a relocatable object, got {elf['e_type']}")
        sections = []
        symtab = None
        for index, sec in enumerate(elf.iter_sections()):
            kind = sec["sh_type"].removeprefix("SHT_") if isinstance(sec["sh_type"], str) \
                else str(sec["sh_type"])
            sections.append(_Section(
                index=index,
                name=sec.name,
                kind=kind,
                flags=sec["sh_flags"],
                data=b"" if kind == "NOBITS" else sec.data(),
                size=sec["sh_size"],
                info=sec["sh_info"] if kind in ("REL", "RELA") else 0,
            ))
            if kind == "SYMTAB":
                symtab = sec
        symbols = []
        if symtab is not None:
            for sym in symtab.iter_symbols():
                shndx = sym["st_shndx"]
                index = shndx if isinstance(shndx, int) else 0
                symbols.append(_Symbol(
                    name=sym.name,
                    value=sym["st_value"],
                    size=sym["st_size"],
                    kind=sym["st_info"]["type"].removeprefix("STT_"),
                    section_index=index,
                    section=sections[index].name if index else "",
                ))
    except ELFError:
        raise
    except (_PyELFError, struct.error, ValueError, KeyError, IndexError, UnicodeDecodeError,
            AttributeError, TypeError) as e:
        raise ELFError(f"{source_name}: malformed ELF object: {e}") from None
    except Exception as e:  # pyelftools raises construct errors for truncated data
        raise ELFError(f"{source_name}: malformed ELF object: {type(e).__name__}: {e}") from None
    for sym in symbols:
        if sym.kind == "SECTION" and not sym.name:
            sym.name = sym.section
    return sections, symbols


def read_object(data: bytes, *, source_name: str = "<bytes>") -> ObjectSpec:
    """Read a relocatable BPF ELF object (from clang or pyebpf's compiler).

    Example::

        spec = read_object(open("prog.o", "rb").read(), source_name="prog.o")
        spec.programs["xdp_count"].relocations
    """
    return _Reader(bytes(data), source_name).read()
