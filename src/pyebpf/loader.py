"""ObjectSpec -> live kernel objects: BTF, maps, linked and relocated programs.

Where this sits in the data flow: :mod:`pyebpf.elf` (or the compiler) gives
an :class:`~pyebpf.spec.ObjectSpec` of plain data; :func:`load_object` is the
only place that turns one into file descriptors:

1. load the object's BTF (``BPF_BTF_LOAD``), or go on without it when the
   kernel rejects it and nothing needs it;
2. create the maps, reusing fds the caller passes and pins found under
   ``pin_root``; write global data and freeze ``.rodata``;
3. per entry program, append every subprogram it reaches, patch ``ld_imm64``
   and call instructions (maps, global data, subprograms, kfuncs), apply the
   CO-RE relocations of ``.BTF.ext`` against the running kernel's BTF (field
   offsets and the like, for pyebpf's objects and clang's alike), merge the
   func/line info and ``BPF_PROG_LOAD`` it.  A verifier rejection becomes a
   :class:`~pyebpf.errors.VerifierError` at the source line of the failing
   instruction;
4. fill prog arrays and maps of maps from ``init_slots``.

Anything opened before a failure is closed before the error propagates.
"""

from __future__ import annotations

import bisect
import errno as _errno
import os
import re
import struct
from collections.abc import Iterable
from typing import Any

from pyebpf import _native as sys_
from pyebpf import sections
from pyebpf._record import Record, record
from pyebpf.constants import (
    BPF_F_RDONLY_PROG,
    BPF_F_SLEEPABLE,
    BPF_PSEUDO_BTF_ID,
    BPF_PSEUDO_CALL,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_VALUE,
    LIBBPF_PIN_BY_NAME,
    MapType,
    ProgramType,
)
from pyebpf.errors import (
    BPFError,
    BTFError,
    ELFError,
    MapError,
    NotSupportedError,
    SyscallError,
    VerifierError,
)
from pyebpf.spec import LineInfo, MapSpec, ObjectSpec, ProgramSpec

__all__ = ["LoadedObject", "global_data_read_only", "load_object", "resolve_kfunc",
           "verifier_error"]

_INSN = struct.Struct("<BBhi")
_OP_LD_IMM64 = 0x18
_OP_CALL = 0x85

# Map types the kernel refuses to create without BTF for their key/value.
_BTF_ONLY_MAPS = {
    MapType.SK_STORAGE, MapType.INODE_STORAGE, MapType.TASK_STORAGE, MapType.CGRP_STORAGE,
    MapType.STRUCT_OPS,
}
_ENOTSUPP = 524  # kernel-internal errno some map kinds return for BTF key/value types
_MAPS_OF_MAPS = {MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS}
# Programs the kernel checks against its own BTF before verifying (fentry & co.).
_TRAMPOLINE_TYPES = {ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT}


class LoadedObject:
    """The kernel objects of one loaded :class:`ObjectSpec`.

    ``maps`` and ``programs`` map names to fds.  ``close()`` closes every fd
    this object created (fds passed in ``reuse_maps`` stay open); pins stay.
    ``logs`` holds the verifier log of each program when ``log_level`` asked
    for one.
    """

    def __init__(self, spec: ObjectSpec) -> None:
        self.spec = spec
        self.maps: dict[str, int] = {}
        self.programs: dict[str, int] = {}
        self.btf_fd: int | None = None
        self.logs: dict[str, str] = {}
        self._owned: list[int] = []
        self._local_btf: Any = None

    def local_btf(self) -> Any:
        """The object's own BTF, parsed (CO-RE records name its types)."""
        if self._local_btf is None:
            from pyebpf import btf

            self._local_btf = btf.BTF.from_bytes(self.spec.btf)
        return self._local_btf

    def __repr__(self) -> str:
        return (f"LoadedObject(programs={self.programs}, maps={self.maps}, "
                f"btf_fd={self.btf_fd})")

    def own(self, fd: int) -> int:
        self._owned.append(fd)
        return fd

    def close(self) -> None:
        """Close every fd this object owns (idempotent)."""
        while self._owned:
            sys_.close(self._owned.pop())
        self.maps.clear()
        self.programs.clear()
        self.btf_fd = None

    def __enter__(self) -> LoadedObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_object(
    spec: ObjectSpec,
    *,
    reuse_maps: dict[str, int] | None = None,
    pin_root: str = "/sys/fs/bpf",
    constants: dict[str, dict[int, bytes]] | None = None,
    log_level: int = 0,
    only: set[str] | None = None,
) -> LoadedObject:
    """Create ``spec``'s maps and load its entry programs (those in ``only``, if given).

    ``constants`` patches global data before it is written: map name ->
    ``{byte offset: bytes}``.  Maps with ``pinning == LIBBPF_PIN_BY_NAME``
    reuse ``<pin_root>/<name>`` when it exists and matches, else are pinned
    there.  Raises :class:`VerifierError` when the verifier rejects a
    program; nothing stays open after an error.
    """
    obj = LoadedObject(spec)
    try:
        entries = _selected_programs(spec, only)
        _load_btf(obj, entries)
        _Maps(obj, reuse_maps or {}, pin_root, constants or {}).create_all()
        for name, prog in entries.items():
            obj.programs[name] = _load_program(obj, prog, log_level)
        _fill_slots(obj)
    except BaseException:
        obj.close()
        raise
    return obj


def _selected_programs(spec: ObjectSpec, only: set[str] | None) -> dict[str, ProgramSpec]:
    entries = spec.entry_programs
    if only is None:
        return entries
    missing = sorted(set(only) - set(entries))
    if missing:
        raise ELFError(f"no entry program named {', '.join(missing)} in this object "
                       f"(it has: {', '.join(sorted(entries)) or 'none'})")
    return {n: p for n, p in entries.items() if n in only}


# --- BTF -------------------------------------------------------------------------------


def _load_btf(obj: LoadedObject, entries: dict[str, ProgramSpec]) -> None:
    if not obj.spec.btf:
        return
    try:
        obj.btf_fd = obj.own(sys_.btf_load(obj.spec.btf))
    except SyscallError as exc:
        needy = [m.name for m in obj.spec.maps.values() if m.map_type in _BTF_ONLY_MAPS]
        if needy:
            raise BTFError(f"the kernel rejected this object's BTF ({exc}), and maps "
                           f"{', '.join(needy)} cannot be created without it") from None
        # Go on without BTF: programs load without func/line info.


# --- maps ---------------------------------------------------------------------------------


def _kernel_name(name: str) -> str:
    """A kernel object name: [A-Za-z0-9_.], at most BPF_OBJ_NAME_LEN - 1 bytes."""
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)[:15]


def _slot_key(key_size: int, slot: int) -> bytes:
    return slot.to_bytes(key_size, "little")


class _Maps:
    """Creates the object's maps into ``obj.maps``, one step per concern."""

    def __init__(self, obj: LoadedObject, reuse: dict[str, int], pin_root: str,
                 constants: dict[str, dict[int, bytes]]) -> None:
        self.obj = obj
        self.reuse = reuse
        self.pin_root = pin_root
        self.constants = constants
        unknown = sorted(set(constants) - {
            n for n, m in obj.spec.maps.items() if m.global_data})
        if unknown:
            raise MapError(f"constants given for {', '.join(unknown)}, which "
                           "is not a global-data map of this object", op="load")

    def create_all(self) -> None:
        for name, spec in self.obj.spec.maps.items():
            self.obj.maps[name] = self.one(name, spec)

    def one(self, name: str, spec: MapSpec) -> int:
        if name in self.reuse:
            fd = self.reuse[name]
            _check_compatible(fd, spec, f"reused map {name!r}")
            return fd
        pin_path = os.path.join(self.pin_root, name) if spec.pinning == LIBBPF_PIN_BY_NAME else ""
        if pin_path and os.path.exists(pin_path):
            fd = self.obj.own(sys_.obj_get(pin_path))
            _check_compatible(fd, spec, f"pinned map {pin_path}")
            return fd
        fd = self.obj.own(self.create(spec))
        if spec.global_data:
            self.write_global_data(name, fd, spec)
        if pin_path:
            sys_.obj_pin(fd, pin_path)
        return fd

    def create(self, spec: MapSpec) -> int:
        if spec.map_type == MapType.PERF_EVENT_ARRAY and not spec.max_entries:
            # One slot per possible CPU, as libbpf does for an unsized perf event array.
            from .maps import possible_cpus

            spec = spec.replace(max_entries=possible_cpus(), key_size=spec.key_size or 4,
                                value_size=spec.value_size or 4)
        inner_fd = 0
        if spec.inner is not None:
            inner_fd = self.obj.own(self.create(spec.inner))
        elif spec.map_type in _MAPS_OF_MAPS:
            raise MapError(f"map {spec.name!r} is a map of maps without an inner map "
                           "template", op="BPF_MAP_CREATE")
        args: dict[str, Any] = dict(
            flags=spec.flags, name=_kernel_name(spec.name), inner_map_fd=inner_fd,
            map_extra=spec.map_extra, numa_node=spec.numa_node,
        )
        btf_fd = self.obj.btf_fd
        with_btf = bool(btf_fd and (spec.key_type_id or spec.value_type_id))
        try:
            if with_btf:
                return sys_.map_create(
                    spec.map_type, spec.key_size, spec.value_size, spec.max_entries,
                    btf_fd=btf_fd or 0, btf_key_type_id=spec.key_type_id,
                    btf_value_type_id=spec.value_type_id, **args)
            return sys_.map_create(spec.map_type, spec.key_size, spec.value_size,
                                   spec.max_entries, **args)
        except SyscallError as exc:
            if with_btf and exc.errno in (_errno.EINVAL, _ENOTSUPP) and \
                    spec.map_type not in _BTF_ONLY_MAPS:
                # Some kinds (perf event arrays) and older kernels refuse BTF key/value
                # descriptions (EINVAL, or ENOTSUPP); the map works without them.
                return sys_.map_create(spec.map_type, spec.key_size, spec.value_size,
                                       spec.max_entries, **args)
            raise _map_error(spec, exc) from None
        finally:
            if inner_fd:  # the template is only needed while creating the outer map
                self.obj._owned.remove(inner_fd)
                sys_.close(inner_fd)

    def write_global_data(self, name: str, fd: int, spec: MapSpec) -> None:
        data = bytearray(spec.initial_data or bytes(spec.value_size))
        for offset, value in sorted(self.constants.get(name, {}).items()):
            if offset < 0 or offset + len(value) > len(data):
                raise MapError(f"constant at offset {offset} ({len(value)} bytes) is outside "
                               f"{name!r} ({len(data)} bytes)", op="load")
            data[offset:offset + len(value)] = value
        if any(data):
            sys_.map_update(fd, bytes(4), bytes(data).ljust(spec.value_size, b"\0"))
        if global_data_read_only(name, spec):
            sys_.map_freeze(fd)


def global_data_read_only(name: str, spec: MapSpec) -> bool:
    """Whether the loader freezes this global-data map after writing it (``.rodata``).

    A frozen map refuses syscall writes and writable mmaps, so user space maps
    it ``PROT_READ`` (kernel/bpf/syscall.c: ``bpf_map_mmap``).
    """
    return name.endswith(".rodata") or bool(spec.flags & BPF_F_RDONLY_PROG)


def _map_error(spec: MapSpec, exc: SyscallError) -> MapError:
    kind = MapType(spec.map_type).name if spec.map_type in MapType._value2member_map_ else str(
        spec.map_type)
    return MapError(
        f"creating map {spec.name!r} ({kind}, key {spec.key_size} B, value {spec.value_size} B, "
        f"{spec.max_entries} entries) failed: {exc}", exc.errno, op="BPF_MAP_CREATE")


def _check_compatible(fd: int, spec: MapSpec, what: str) -> None:
    info = sys_.map_info(fd)
    want = {"type": spec.map_type, "key_size": spec.key_size, "value_size": spec.value_size,
            "max_entries": spec.max_entries}
    diff = [f"{k} {info[k]} != {v}" for k, v in want.items() if info[k] != v]
    if diff:
        raise MapError(f"{what} does not match map {spec.name!r}: {', '.join(diff)}",
                       op="load")


def _fill_slots(obj: LoadedObject) -> None:
    for name, spec in obj.spec.maps.items():
        for slot, target in spec.init_slots:
            if spec.map_type == MapType.PROG_ARRAY:
                if target not in obj.programs:
                    continue  # not loaded (``only``): leave the slot empty
                value = obj.programs[target]
            elif target in obj.maps:
                value = obj.maps[target]
            else:
                raise MapError(f"map {name!r} slot {slot} names {target!r}, which this "
                               "object does not define", op="load")
            sys_.map_update(obj.maps[name], _slot_key(spec.key_size, slot),
                            value.to_bytes(4, "little"))


# --- linking and relocation -------------------------------------------------------------


def _reachable(spec: ObjectSpec, entry: ProgramSpec) -> list[ProgramSpec]:
    """``entry`` then every subprogram it reaches through calls or callbacks, in BFS order."""
    order, seen = [entry], {entry.name}
    for func in order:
        for rel in func.relocations:
            if rel.kind in ("call", "func_addr") and rel.symbol not in seen:
                callee = spec.programs.get(rel.symbol)
                if callee is None:
                    raise ELFError(f"{func.name!r} calls {rel.symbol!r}, which this object "
                                   "does not define")
                seen.add(rel.symbol)
                order.append(callee)
    return order


def _set_insn(buf: bytearray, idx: int, *, src: int | None = None, imm: int | None = None,
              off: int | None = None) -> None:
    code, regs, o, i = _INSN.unpack_from(buf, idx * 8)
    if src is not None:
        regs = (regs & 0x0F) | (src << 4)
    _INSN.pack_into(buf, idx * 8, code, regs, o if off is None else off,
                    i if imm is None else imm)


def _expect(buf: bytearray, idx: int, opcode: int, rel_kind: str, func: str) -> None:
    code = buf[idx * 8] if idx * 8 < len(buf) else None
    if code != opcode:
        raise ELFError(f"{rel_kind} relocation in {func!r} at instruction {idx} points at "
                       f"opcode {code!r}, expected {opcode:#x}")


def resolve_kfunc(name: str) -> int:
    """BTF id of kernel function ``name`` in the running kernel's BTF (for kfunc calls)."""
    return _kernel_btf_id(name, "func", "kfunc")


def _kernel_btf_id(name: str, kind: str, what: str) -> int:
    try:
        from pyebpf import btf
    except ImportError:  # pragma: no cover - btf.py is written in parallel
        raise NotSupportedError(f"{what} {name!r}", detail="pyebpf.btf is not available") from None
    try:
        return btf.BTF.kernel().find(name, kind).id
    except BTFError as exc:
        raise NotSupportedError(f"{what} {name!r}", detail=str(exc)) from None


@record
class _Linked(Record):
    insns: bytes
    func_info: bytes
    line_info: bytes
    lines: list[LineInfo]  # with insn offsets in the linked program


def _link(obj: LoadedObject, entry: ProgramSpec) -> _Linked:
    funcs = _reachable(obj.spec, entry)
    starts: dict[str, int] = {}
    pos = 0
    for func in funcs:
        starts[func.name] = pos
        pos += func.insn_count
    buf = bytearray(b"".join(f.insns for f in funcs))
    func_info, line_info, lines = bytearray(), bytearray(), []
    for func in funcs:
        base = starts[func.name]
        for rel in func.relocations:
            _relocate(obj, buf, base + rel.insn, rel, starts, func.name)
        core_relos: dict[str, Any] = obj.spec.extra.get("core_relos", {})  # type: ignore[assignment]
        for relo in core_relos.get(func.name, ()):
            _apply_core(obj, buf, base + relo.insn_off, relo, func.name)
        for fi in func.func_info:
            func_info += struct.pack("<II", base + fi.insn, fi.type_id)
        for li in func.line_info:
            line_info += struct.pack("<IIII", base + li.insn, li.file_name_off, li.line_off,
                                     (li.line << 10) | (li.col & 0x3FF))
            lines.append(LineInfo(base + li.insn, li.file_name_off, li.line_off, li.line,
                                  li.col, li.file, li.source))
    return _Linked(bytes(buf), bytes(func_info), bytes(line_info), lines)


def _relocate(obj: LoadedObject, buf: bytearray, idx: int, rel: Any, starts: dict[str, int],
              func: str) -> None:
    kind = rel.kind
    if kind == "call":
        _expect(buf, idx, _OP_CALL, kind, func)
        target = starts[rel.symbol] + rel.addend
        _set_insn(buf, idx, src=BPF_PSEUDO_CALL, imm=target - (idx + 1))
    elif kind == "func_addr":
        _expect(buf, idx, _OP_LD_IMM64, kind, func)
        target = starts[rel.symbol] + rel.addend
        _set_insn(buf, idx, src=BPF_PSEUDO_FUNC, imm=target - (idx + 1))
        _set_insn(buf, idx + 1, imm=0)
    elif kind in ("map", "map_value"):
        _expect(buf, idx, _OP_LD_IMM64, kind, func)
        fd = obj.maps.get(rel.symbol)
        if fd is None:
            raise ELFError(f"{func!r} refers to map {rel.symbol!r}, which this object does "
                           "not define")
        if kind == "map":
            _set_insn(buf, idx, src=BPF_PSEUDO_MAP_FD, imm=fd)
            _set_insn(buf, idx + 1, imm=0)
        else:
            # ``addend`` is the full byte offset in the map value (spec.Relocation).
            _set_insn(buf, idx, src=BPF_PSEUDO_MAP_VALUE, imm=fd)
            _set_insn(buf, idx + 1, imm=rel.addend)
    elif kind == "kfunc":
        _expect(buf, idx, _OP_CALL, kind, func)
        _set_insn(buf, idx, src=BPF_PSEUDO_KFUNC_CALL, imm=resolve_kfunc(rel.symbol), off=0)
    elif kind == "ksym":
        _expect(buf, idx, _OP_LD_IMM64, kind, func)
        _set_insn(buf, idx, src=BPF_PSEUDO_BTF_ID,
                  imm=_kernel_btf_id(rel.symbol, "var", "kernel variable"))
        _set_insn(buf, idx + 1, imm=0)
    else:
        raise NotSupportedError(f"{kind} relocations ({rel.symbol!r} in {func!r})",
                                detail="pyebpf's loader does not resolve this kind yet")


# BPF instruction classes (``BPF_CLASS(code)``) and the K source bit (uapi/linux/bpf_common.h).
_BPF_LDX, _BPF_ST, _BPF_STX, _BPF_ALU, _BPF_ALU64 = 0x01, 0x02, 0x03, 0x04, 0x07
_BPF_X = 0x08
# What libbpf writes over an instruction whose CO-RE relocation does not resolve on this
# kernel: a call to a helper that does not exist, so the program still loads when the
# instruction is unreachable and the verifier names it when it is not.
_CORE_POISON_HELPER = 0xBAD2310


def _apply_core(obj: LoadedObject, buf: bytearray, idx: int, relo: Any, func: str) -> None:
    """Patch the instruction at ``idx`` with ``relo``'s value on the running kernel:
    the offset of a load or store, the immediate of an ALU or ``ld_imm64`` instruction."""
    from pyebpf import btf

    if idx * 8 >= len(buf):
        raise ELFError(f"CO-RE relocation in {func!r} points past its last instruction")
    try:
        value = btf.core_relocate(obj.local_btf(), relo, btf.BTF.kernel())
    except (BTFError, IndexError) as exc:
        raise BTFError(f"CO-RE relocation {relo.access!r} in {func!r} at instruction {idx}: "
                       f"{exc}") from None
    if value is None:
        _INSN.pack_into(buf, idx * 8, _OP_CALL, 0, 0, _CORE_POISON_HELPER)
        return
    code = buf[idx * 8]
    cls = code & 0x07
    if code == _OP_LD_IMM64:
        _set_insn(buf, idx, imm=value & 0xFFFFFFFF)
        _set_insn(buf, idx + 1, imm=value >> 32)
    elif cls in (_BPF_LDX, _BPF_ST, _BPF_STX):
        if not -0x8000 <= value < 0x8000:
            raise BTFError(f"CO-RE relocation in {func!r}: offset {value} does not fit the "
                           f"16-bit offset of instruction {idx}")
        if not _core_resize(obj, buf, idx, relo, func):
            _INSN.pack_into(buf, idx * 8, _OP_CALL, 0, 0, _CORE_POISON_HELPER)
            return
        _set_insn(buf, idx, off=value)
    elif cls in (_BPF_ALU, _BPF_ALU64) and not code & _BPF_X:
        _set_insn(buf, idx, imm=value)
    else:
        raise ELFError(f"CO-RE relocation in {func!r} at instruction {idx} points at "
                       f"opcode {code:#x}, which takes no offset or immediate")


# BPF_SIZE(code) of loads and stores (uapi/linux/bpf_common.h): BPF_W, BPF_H, BPF_B, BPF_DW.
_MEM_SIZES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
_MEM_SIZE_CODES = {size: code for code, size in _MEM_SIZES.items()}


def _core_resize(obj: LoadedObject, buf: bytearray, idx: int, relo: Any, func: str) -> bool:
    """Give the load or store at ``idx`` the width its member has on the running kernel,
    as libbpf does (``bpf_core_patch_insn``): only for an unsigned integer or a pointer,
    which zero-extension keeps right; False when the width differs otherwise (the
    caller poisons the instruction)."""
    from pyebpf import btf

    kernel = btf.BTF.kernel()
    local = obj.local_btf()
    types = btf.core_member_types(local, relo, kernel)
    if types is None:
        return True
    old, new = local.size_of(types[0]), kernel.size_of(types[1])
    if old == new:
        return True
    lt, tt = local.resolved(types[0]), kernel.resolved(types[1])
    both_pointers = isinstance(lt, btf.Ptr) and isinstance(tt, btf.Ptr)
    both_unsigned = isinstance(lt, btf.Int) and isinstance(tt, btf.Int) and \
        not lt.signed and not tt.signed
    if not (both_pointers or both_unsigned) or new not in _MEM_SIZE_CODES:
        return False
    code = buf[idx * 8]
    if _MEM_SIZES[code & 0x18] != old:
        raise BTFError(f"CO-RE relocation in {func!r}: instruction {idx} accesses "
                       f"{_MEM_SIZES[code & 0x18]} bytes of a {old}-byte member")
    buf[idx * 8] = code & ~0x18 | _MEM_SIZE_CODES[new]
    return True


# --- programs -------------------------------------------------------------------------


def _attach_btf_id(info: sections.SectionInfo) -> int:
    """The kernel BTF id a trampoline-style program attaches to, from its section target."""
    if not info.btf_target:
        return 0
    target = info.attach_to
    if not target:
        raise ELFError(f"section {info.section!r} needs a target after the slash")
    if info.kind == "tp_btf":
        return _kernel_btf_id(f"btf_trace_{target}", "typedef", "BTF tracepoint")
    if info.kind in ("lsm", "lsm.s", "lsm_cgroup"):
        return _kernel_btf_id(f"bpf_lsm_{target}", "func", "LSM hook")
    if info.kind in ("iter", "iter.s"):
        return _kernel_btf_id(f"bpf_iter_{target}", "func", "BPF iterator")
    if info.kind == "freplace":
        raise NotSupportedError("freplace programs", detail="loading needs a target program")
    return _kernel_btf_id(target, "func", "kernel function")


def _load_program(obj: LoadedObject, prog: ProgramSpec, log_level: int) -> int:
    info = sections.classify(prog.section)
    prog_type = prog.prog_type or int(info.prog_type)
    if not prog_type:
        raise ELFError(f"program {prog.name!r} in section {prog.section!r} has no program type")
    linked = _link(obj, prog)
    with_btf = obj.btf_fd is not None
    flags = info.prog_flags | (BPF_F_SLEEPABLE if prog.sleepable else 0)
    try:
        res = sys_.prog_load(
            prog_type, linked.insns, obj.spec.license,
            name=_kernel_name(prog.name),
            expected_attach_type=prog.expected_attach_type or info.expected_attach_type,
            prog_btf_fd=obj.btf_fd or 0,
            func_info=linked.func_info if with_btf else b"",
            line_info=linked.line_info if with_btf else b"",
            attach_btf_id=prog.attach_btf_id or _attach_btf_id(info),
            kern_version=obj.spec.kern_version,
            prog_flags=flags,
            log_level=log_level,
        )
    except sys_.ProgLoadError as exc:
        raise verifier_error(prog.name, prog_type, exc.errno, exc.log, linked.lines) from None
    if res.log:
        obj.logs[prog.name] = res.log
    return obj.own(res.fd)


# --- verifier errors ----------------------------------------------------------------------

_INSN_LINE = re.compile(r"^(\d+): \([0-9a-f]{2}\)")
_SOURCE_LINE = re.compile(r"^; (.*) @ (.+):(\d+)$")

# (substring of the verifier's reason, hint); the first match wins.
_HINTS: tuple[tuple[str, str], ...] = (
    ("map_value_or_null", "check the result of lookup() for None before using it"),
    ("_or_null", "check the pointer for None before using it"),
    ("invalid access to packet", "check data + size <= data_end before reading the packet "
     "(use ctx.header())"),
    ("back-edge", "bound the loop (for i in range(N)) or use bpf.loop()"),
    ("infinite loop", "bound the loop (for i in range(N)) or use bpf.loop()"),
    ("BPF program is too large", "bound the loop (for i in range(N)) or use bpf.loop()"),
    # _CORE_POISON_HELPER (0xbad2310): a relocated kernel-struct member the loading
    # kernel lacks, or has with a type of another kind.
    ("unknown#195896080", "this kernel's BTF has no such member of a compatible type (a "
     "struct where an integer was compiled, an integer where an array was): the CO-RE "
     "relocation of this access failed; compile against this kernel's struct layout"),
    ("unknown func", "this helper is not available for this program type"),
    ("cannot use helper", "this helper is not available for this program type"),
    ("!read_ok", "return a value"),
    ("invalid indirect read from stack", "initialise the variable before passing its address"),
    ("invalid read from stack", "initialise the variable before reading it"),
)


def _failing_insn(log: str) -> int | None:
    last = None
    for line in log.splitlines():
        m = _INSN_LINE.match(line)
        if m:
            last = int(m.group(1))
    return last


def _line_for(insn: int, lines: list[LineInfo]) -> LineInfo | None:
    ordered = sorted(lines, key=lambda li: li.insn)
    i = bisect.bisect_right([li.insn for li in ordered], insn) - 1
    return ordered[i] if i >= 0 else None


def _hint(reason: str) -> str:
    return next((hint for needle, hint in _HINTS if needle in reason), "")


def verifier_error(program: str, prog_type: int, err: int, log: str,
                   lines: Iterable[LineInfo] = ()) -> BPFError:
    """Turn a failed ``BPF_PROG_LOAD`` into the error a user should see.

    With a verifier log: a :class:`VerifierError` at the source line of the
    last instruction the verifier printed (through ``lines``, else the
    ``; source @ file:line`` annotations of the log).  With an empty log the
    kernel refused before verifying: a :class:`NotSupportedError` for
    trampoline programs (fentry/fexit/lsm/freplace), else a :class:`SyscallError`.
    """
    reason = sys_.log_reason(log)
    if not reason:
        if err == _errno.EPERM and prog_type in _TRAMPOLINE_TYPES:
            kind = ProgramType(prog_type).name
            return NotSupportedError(
                f"loading {kind} programs (fentry/fexit/fmod_ret/lsm/freplace) here",
                detail="BPF_PROG_LOAD returned EPERM with an empty verifier log: the kernel "
                       "refused the program before verifying it (lockdown or security policy)")
        detail = "empty verifier log"
        if err == _errno.EPERM:
            detail = ("the kernel refused the program before verifying it (lockdown or "
                      "security policy), empty verifier log")
        return SyscallError("BPF_PROG_LOAD", err, f"program {program!r}: {detail}")
    filename = lineno = None
    source = ""
    insn = _failing_insn(log)
    line = _line_for(insn, list(lines)) if insn is not None else None
    if line is not None and line.line:
        filename, lineno, source = line.file or None, line.line, line.source
    else:
        for text in log.splitlines():
            m = _SOURCE_LINE.match(text)
            if m:
                source, filename, lineno = m.group(1), m.group(2), int(m.group(3))
    return VerifierError(program, reason, log, errno=err, filename=filename, lineno=lineno,
                         source_line=source, hint=_hint(reason))
