"""struct_ops: a kernel ops table implemented in Python (a TCP congestion control, ...).

::

    @bpf.struct_ops("tcp_congestion_ops", name="pyebpf_reno")
    class Reno:
        def ssthresh(sk) -> u32:
            return reno_ssthresh(sk)
        ...

    with Reno.attach():            # registered: "pyebpf_reno" is a congestion control now
        ...

Where this sits in the data flow: each method of the class is a
:class:`StructOpsMethod` (a :class:`~pyebpf.programs.Program` of type
``BPF_PROG_TYPE_STRUCT_OPS``) whose parameters are the arguments of the
kernel struct's function-pointer member, typed from the member's BTF
``FUNC_PROTO`` (:func:`method_context`).  All methods compile into one
object; each loads with ``attach_btf_id`` = the kernel struct's BTF id and
``expected_attach_type`` = the member's index.  Then a
``BPF_MAP_TYPE_STRUCT_OPS`` map (``btf_vmlinux_value_type_id`` =
``struct bpf_struct_ops_<name>``, ``BPF_F_LINK``) gets one value, the
``bpf_struct_ops_<name>`` layout whose ``data`` member is the kernel struct:
program fds in the function pointers, keyword arguments in the data members.
``BPF_LINK_CREATE`` on the map (``BPF_STRUCT_OPS``) registers the table;
closing the link unregisters it, and ``BPF_LINK_UPDATE`` with another map
swaps implementations in place.
"""

from __future__ import annotations

import copy
import errno as _errno
import inspect
import linecache
import os
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

from . import links
from ._record import Record, record
from .errors import BPFError, BTFError, CompileError, SyscallError, debug_tracebacks, reported_here
from .lang.contexts import ContextType, CtxField, KernelWrites
from .lang.decorators import Hook
from .programs import CompiledProgram, Program
from .tracefs import attach_error
from .types import BPFType, IntType

__all__ = ["struct_ops", "StructOps", "StructOpsMethod", "StructOpsLink", "OpsStruct",
           "OpsMember", "ops_struct", "method_context", "available", "MANDATORY", "WRITABLE",
           "nullable_args"]

# Members the kernel refuses a table without (its ->validate()), as groups of which one
# is enough: net/ipv4/tcp_cong.c tcp_validate_congestion_control.
MANDATORY: dict[str, tuple[tuple[str, ...], ...]] = {
    "tcp_congestion_ops": (("ssthresh",), ("undo_cwnd",), ("cong_avoid", "cong_control")),
}
_VALUE_PREFIX = "bpf_struct_ops_"  # the map value of ops struct X is struct bpf_struct_ops_X

# What methods may store to through the kernel-struct pointers they are given, per ops
# struct: the struct_ops' verifier_ops->btf_struct_access.  Other ops structs: the
# verifier decides at load time.
WRITABLE: dict[str, KernelWrites] = {
    # net/ipv4/bpf_tcp_ca.c bpf_tcp_ca_btf_struct_access: the `struct sock *` arguments
    # are tcp_socks to the verifier (bpf_tcp_ca_is_valid_access); a store must start at
    # one of these members (anywhere inside icsk_ca_priv) and end inside it.
    "tcp_congestion_ops": KernelWrites(
        "tcp_sock",
        fields=("sk_pacing_rate", "sk_pacing_status", "icsk_ack.pending", "snd_cwnd",
                "snd_cwnd_cnt", "snd_cwnd_stamp", "snd_ssthresh", "ecn_flags",
                "app_limited"),
        ranges=("icsk_ca_priv",),
        decider="the kernel (bpf_tcp_ca_btf_struct_access, net/ipv4/bpf_tcp_ca.c)",
        instead="change other TCP state through the kernel's kfuncs (tcp_slow_start, "
                "tcp_cong_avoid_ai, tcp_reno_*) or bpf.setsockopt; keep private state "
                "in icsk_ca_priv or a map (bpf_probe_write_user writes user memory, never "
                "kernel memory)"),
    # net/bpf/bpf_dummy_struct_ops.c bpf_dummy_ops_btf_struct_access: any member of the
    # state the test run passes in.
    "bpf_dummy_ops": KernelWrites(
        "bpf_dummy_ops_state",
        decider="the kernel (bpf_dummy_ops_btf_struct_access, net/bpf/bpf_dummy_struct_ops.c)",
        instead="write the fields of the bpf_dummy_ops_state argument only"),
}
_NULLABLE_SUFFIX = "__nullable"  # kernel/bpf/bpf_struct_ops.c MAYBE_NULL_SUFFIX


# --------------------------------------------------------------------------- the kernel struct


@record
class OpsMember(Record):
    """One member of a kernel ops struct: a function pointer (``proto`` set) or data."""

    name: str
    index: int  # what BPF_PROG_LOAD's expected_attach_type names
    offset: int  # bytes into the kernel struct
    size: int
    proto: Any = None  # btf.FuncProto of a function-pointer member
    type: BPFType | None = None  # data members pyebpf can set: an integer or char array


@record
class OpsStruct(Record):
    """A kernel struct that BPF may implement, as the running kernel's BTF describes it."""

    name: str
    type_id: int  # struct <name>: attach_btf_id of its programs
    value_type_id: int  # struct bpf_struct_ops_<name>: the map's value type
    value_size: int
    data_offset: int  # where the <name> struct starts in the map value
    members: dict[str, OpsMember]

    @property
    def functions(self) -> list[str]:
        return [m.name for m in self.members.values() if m.proto is not None]

    @property
    def data(self) -> list[str]:
        return [m.name for m in self.members.values() if m.proto is None]


def available() -> list[str]:
    """The ops structs this kernel lets BPF implement (``bpf_struct_ops_<name>`` in its BTF)."""
    from .btf import BTF

    return sorted(t.name[len(_VALUE_PREFIX):] for t in BTF.kernel().types
                  if t.kind == "struct" and (t.name or "").startswith(_VALUE_PREFIX)
                  and t.name not in ("bpf_struct_ops_common_value", "bpf_struct_ops_value",
                                     "bpf_struct_ops_map", "bpf_struct_ops_link",
                                     "bpf_struct_ops_desc", "bpf_struct_ops_arg_info"))


@cache
def ops_struct(name: str) -> OpsStruct:
    """Describe kernel ops struct ``name`` (e.g. ``"tcp_congestion_ops"``); BTFError if
    this kernel has no ``struct bpf_struct_ops_<name>`` (BPF cannot implement it here)."""
    from . import btf as B
    from .kernel import _type_of

    vmlinux = B.BTF.kernel()
    try:
        value = vmlinux.find(_VALUE_PREFIX + name, "struct")
        st = vmlinux.find(name, "struct")
    except BTFError:
        raise BTFError(f"this kernel has no struct_ops type {name!r} (known here: "
                       f"{', '.join(available()) or 'none'})") from None
    data = next((m for m in vmlinux.members(value.id) if m.name == "data"), None)
    if data is None:  # pragma: no cover - every bpf_struct_ops_<name> has it
        raise BTFError(f"struct {_VALUE_PREFIX}{name} has no `data` member")
    members: dict[str, OpsMember] = {}
    for index, m in enumerate(vmlinux.members(st.id)):
        t = vmlinux.resolved(m.type)
        size = getattr(t, "size", 8)
        proto = None
        if isinstance(t, B.Ptr) and t.type and isinstance(vmlinux.resolved(t.type), B.FuncProto):
            proto = vmlinux.resolved(t.type)
            size = 8
        ty: BPFType | None = None
        if proto is None:
            try:
                ty = _type_of(m.type)
            except BTFError:
                ty = None
            if ty is not None and not (isinstance(ty, IntType) or _is_char_array(ty)):
                ty = None
            if ty is not None:
                size = ty.size
        members[m.name] = OpsMember(m.name, index, m.byte_offset, size, proto, ty)
    return OpsStruct(name, st.id, value.id, value.size, data.byte_offset, members)


def _is_char_array(ty: BPFType) -> bool:
    from .types import ArrayType

    return isinstance(ty, ArrayType) and ty.elem.size == 1


@cache
def nullable_args(struct: str, member: str) -> frozenset[int]:
    """Indexes of the arguments of ``struct.member`` the kernel may pass as NULL.

    The kernel reads this from the member's stub function ``<struct>__<member>``
    (its ``cfi_stubs``): a parameter whose name ends in ``__nullable`` is typed
    ``PTR_MAYBE_NULL`` for the verifier (kernel/bpf/bpf_struct_ops.c
    prepare_arg_info).  No such stub: none.
    """
    from .btf import BTF

    btf = BTF.kernel()
    try:
        stub = btf.func_proto(f"{struct}__{member}")
    except (BTFError, KeyError, LookupError):
        return frozenset()
    return frozenset(i for i, p in enumerate(x for x in stub.params if x.type)
                     if (p.name or "").endswith(_NULLABLE_SUFFIX))


def _slot_type(btf: Any, type_id: int, nullable: bool = False) -> BPFType:
    """The pyebpf type of one argument: a trusted kernel-struct pointer (None-able when the
    kernel says so), or its integer type."""
    from . import btf as B
    from .kernel import _type_of
    from .types import PointerType, u64

    t = btf.resolved(type_id)
    if isinstance(t, B.Ptr):
        target = _type_of(type_id).target if t.type and isinstance(  # type: ignore[attr-defined]
            btf.resolved(t.type), B.Struct) else None
        return PointerType(target, "btf", nullable=nullable)
    if isinstance(t, (B.Int, B.Enum)):
        return _type_of(type_id)
    return u64


@cache
def method_context(struct: str, member: str) -> ContextType:
    """The context of a method implementing ``struct.member``: its arguments, in order.

    Argument i is the u64 slot ``8 * i`` of the context (as for ``tp_btf``),
    read as its own type: ``struct sock *`` is a pointer the verifier trusts
    (``sk.sk_pacing_rate`` reads directly), ``u32 ack`` a u32; a pointer the
    kernel may pass as NULL (:func:`nullable_args`) must be checked for None.
    ``result`` is the member's return type, None for a void member.  Stores
    through the pointers follow :data:`WRITABLE`.
    """
    from .btf import BTF

    ops = ops_struct(struct)
    m = ops.members.get(member)
    if m is None or m.proto is None:
        raise BTFError(f"{struct} has no function member {member!r}")
    btf = BTF.kernel()
    fields: dict[str, CtxField] = {}
    params = []
    nullable = nullable_args(struct, member)
    for i, p in enumerate(x for x in m.proto.params if x.type):
        name = f"arg{i}"
        fields[name] = CtxField(name, 8 * i, _slot_type(btf, p.type, i in nullable))
        params.append(name)
    result = _slot_type(btf, m.proto.return_type) if m.proto.return_type else None
    return ContextType(f"{struct}.{member}", fields, params=tuple(params), result=result,
                       kernel_writes=WRITABLE.get(struct))


@record
class _MethodHook(Hook):
    """The hook of a struct_ops method: ``target`` is ``"<struct>.<member>"``."""

    def context(self) -> ContextType:
        struct, _, member = self.target.partition(".")
        return method_context(struct, member)


# --------------------------------------------------------------------------- errors


@record
class _Where(Record):
    """A place in the user's source, for errors about the table rather than one statement."""

    filename: str
    lineno: int

    def error(self, message: str, hint: str = "") -> CompileError:
        line = linecache.getline(self.filename, self.lineno)
        col = len(line) - len(line.lstrip())
        return CompileError(message, self.filename, self.lineno, col, line, hint)


def _where_of(fn: Callable[..., Any]) -> _Where:
    code = getattr(fn, "__code__", None)
    if code is None:  # pragma: no cover - methods are plain functions
        return _Where("<unknown>", 0)
    return _Where(code.co_filename, code.co_firstlineno)


def _clean(exc: BPFError) -> BPFError:
    """The user's error without pyebpf's own frames (PYEBPF_DEBUG=1 keeps them)."""
    return exc if debug_tracebacks() else exc.with_traceback(None)


# --------------------------------------------------------------------------- methods


class StructOpsMethod(Program):
    """One method of a :class:`StructOps`: a ``BPF_PROG_TYPE_STRUCT_OPS`` program.

    It loads with its table (``ops.load()``), never on its own, since the
    kernel checks it against the member it implements; ``test_run`` works
    for tables whose kernel side supports it (``bpf_dummy_ops``).
    """

    def __init__(self, fn: Any, owner: StructOps, member: str) -> None:
        super().__init__(fn, _MethodHook("struct_ops", f"struct_ops/{member}",
                                         target=f"{owner.struct_name}.{member}"))
        self.owner = owner
        self.member = member

    @reported_here
    def compile(self, *, cpu: str | None = None) -> CompiledProgram:
        """Compile the whole table (its methods share one object)."""
        return self.owner.compile(cpu=cpu)

    @reported_here
    def load(self, *, constants: dict[str, int] | None = None,
             log_level: int = 0) -> StructOpsMethod:
        """Load the whole table (see :meth:`StructOps.load`)."""
        self.owner.load(constants=constants, log_level=log_level)
        return self

    @reported_here
    def attach(self, **options: Any) -> links.Link:
        raise _clean(attach_error(
            f"{self.name} is one method of the {self.owner.struct_name} table "
            f"{self.owner.name}: attach the table ({self.owner.name}.attach())", _errno.EINVAL))


# --------------------------------------------------------------------------- the table


class StructOps:
    """A kernel ops table implemented by a Python class (made by :func:`struct_ops`).

    ``ops.methods`` maps member names to their :class:`StructOpsMethod`;
    ``ops.data`` holds the data members set by keyword.  ``compile()``,
    ``load()`` (programs + the struct_ops map, filled), ``attach()`` (alias
    ``register()``) -> :class:`StructOpsLink`, ``close()``; a context
    manager that loads and closes.
    """

    def __init__(self, cls: type, struct: str, data: dict[str, Any], where: _Where) -> None:
        self.cls = cls
        self.name: str = cls.__name__
        self.struct_name = struct
        self.data = dict(data)
        self.where = where
        self.__doc__ = cls.__doc__
        self.methods: dict[str, StructOpsMethod] = {}
        for attr, value in vars(cls).items():
            if attr.startswith("_") or not inspect.isfunction(value):
                continue
            self.methods[attr] = StructOpsMethod(value, self, attr)
        self._compiled: CompiledProgram | None = None
        self._object: Any = None  # loader.LoadedObject of the methods
        self._map_fd: int | None = None
        self._links: list[StructOpsLink] = []

    def __repr__(self) -> str:
        state = f"map fd={self._map_fd}" if self._map_fd is not None else \
            "loaded" if self._object is not None else "not loaded"
        return f"<bpf.StructOps {self.name} [{self.struct_name}: " \
               f"{', '.join(self.methods)}] {state}>"

    def __getattr__(self, name: str) -> StructOpsMethod:
        methods = self.__dict__.get("methods", {})
        if name in methods:
            return methods[name]
        raise AttributeError(f"{self.name} has no method {name!r}")

    # ------------------------------------------------------------ checks

    def ops(self) -> OpsStruct:
        """The kernel struct, checked against the class: members, arity, data, mandatory."""
        try:
            ops = ops_struct(self.struct_name)
        except BTFError as e:
            raise self.where.error(str(e), "name a struct this kernel's BTF has "
                                   "(struct bpf_struct_ops_<name>)") from None
        for member, method in self.methods.items():
            m = ops.members.get(member)
            if m is None or m.proto is None:
                what = "a data member" if m is not None else "no member"
                raise _where_of(method.fn).error(
                    f"{self.struct_name} has {what} {member!r}; methods implement its "
                    f"function members: {', '.join(ops.functions)}",
                    "rename the method, or prefix a helper's name with `_`")
        for group in MANDATORY.get(self.struct_name, ()):
            if not any(g in self.methods for g in group):
                need = " or ".join(group)
                raise self.where.error(f"{self.struct_name} needs a method {need}; {self.name} "
                                       "has none (the kernel refuses the table without it)",
                                       f"add `def {group[0]}(...)` to {self.name}")
        for key, value in self.data.items():
            self._data_bytes(ops, key, value)
        return ops

    def _data_bytes(self, ops: OpsStruct, key: str, value: Any) -> bytes:
        m = ops.members.get(key)
        if m is None or m.proto is not None:
            raise self.where.error(
                f"{self.struct_name} has no data member {key!r}" +
                (" (it is a function: write a method)" if m is not None else ""),
                f"data members: {', '.join(ops.data)}")
        if m.type is None:
            raise self.where.error(f"{self.struct_name}.{key} is not a number or a string; "
                                   "pyebpf cannot set it", "leave it to the kernel")
        if isinstance(m.type, IntType):
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.where.error(f"{key}= takes an int, not {type(value).__name__}")
            if not m.type.min <= value <= m.type.max:
                raise self.where.error(f"{key}={value} does not fit in {m.type!r}")
            return m.type.pack(value)
        raw = value.encode() if isinstance(value, str) else value
        if not isinstance(raw, bytes) or len(raw) >= m.size or not raw:
            raise self.where.error(f"{key}= takes a non-empty string of at most {m.size - 1} "
                                   f"bytes, not {value!r}")
        return raw.ljust(m.size, b"\0")

    def _value(self, ops: OpsStruct) -> bytes:
        """The map value: ``bpf_struct_ops_<name>`` with program fds and data members."""
        data = dict(self.data)
        name = ops.members.get("name")
        if "name" not in data and name is not None and name.type is not None \
                and _is_char_array(name.type):
            data["name"] = self.name  # the class's name, unless name= says otherwise
        value = bytearray(ops.value_size)
        for key, v in data.items():
            m = ops.members[key]
            start = ops.data_offset + m.offset
            value[start:start + m.size] = self._data_bytes(ops, key, v)
        for member, method in self.methods.items():
            start = ops.data_offset + ops.members[member].offset
            value[start:start + 8] = method.fd.to_bytes(8, "little")
        return bytes(value)

    # ------------------------------------------------------------ compile / load

    @reported_here
    def compile(self, *, cpu: str | None = None) -> CompiledProgram:
        """Compile every method into one object (cached); CompileError at the user's line."""
        from .programs import _compile

        if self._compiled is None or cpu is not None and cpu != self._compiled.cpu:
            try:
                self.ops()
            except CompileError as e:
                raise _clean(e) from None
            if not self.methods:
                raise _clean(self.where.error(f"{self.name} has no methods",
                                              f"implement members of {self.struct_name}"))
            self._compiled = _compile(list(self.methods.values()), cpu=cpu)
        return self._compiled

    @property
    def loaded(self) -> bool:
        return self._object is not None

    @reported_here
    def load(self, *, constants: dict[str, int] | None = None,
             log_level: int = 0) -> StructOps:
        """Load the methods (each against its member of the kernel struct); not registered.

        ``constants`` sets ``bpf.Const`` values, as ``Program.load`` does.
        """
        from .programs import _load_compiled

        if self._object is not None:
            return self
        compiled = self.compile()
        ops = self.ops()
        spec = compiled.spec
        programs = dict(spec.programs)
        for member, method in self.methods.items():
            programs[method.name] = programs[method.name].replace(
                attach_btf_id=ops.type_id, expected_attach_type=ops.members[member].index)
        patched = copy.copy(compiled)
        patched._spec = spec.replace(programs=programs)
        try:
            obj = _load_compiled(patched, dict(self.methods), log_level=log_level,
                                 constants=constants)
        except BPFError as e:
            raise _clean(e) from None
        self._object = obj
        for method in self.methods.values():
            method._compiled = compiled
            method._fd = os.dup(obj.programs[method.name])
        return self

    @property
    def map_fd(self) -> int:
        """The struct_ops map holding the table (loaded, created and filled on first use)."""
        from ._native import syscalls
        from .constants import BPF_F_LINK, MapType

        if self._map_fd is not None:
            return self._map_fd
        self.load()
        ops = self.ops()
        value = self._value(ops)
        btf_fd = self._object.btf_fd
        if btf_fd is None:
            raise _clean(BTFError(f"the kernel refused the BTF of {self.name}'s programs; a "
                                  "struct_ops map cannot be created without it"))
        # The kernel wants the object's BTF beside the vmlinux value type (map_create).
        fd = syscalls.map_create(MapType.STRUCT_OPS, 4, ops.value_size, 1, flags=BPF_F_LINK,
                                 name=self.name[:15], btf_fd=btf_fd,
                                 btf_vmlinux_value_type_id=ops.value_type_id)
        try:
            syscalls.map_update(fd, bytes(4), value)
        except SyscallError as e:
            syscalls.close(fd)
            raise _clean(self._refused(e, "BPF_MAP_UPDATE_ELEM")) from None
        self._map_fd = fd
        return fd

    fd = map_fd  # what BPF_LINK_CREATE / BPF_LINK_UPDATE take

    def _refused(self, e: SyscallError, op: str) -> BPFError:
        what = f"{self.struct_name} {self.data.get('name', self.name)!r}"
        if e.errno == _errno.EEXIST:
            return attach_error(f"the kernel already has a {what}: a name is registered once",
                                e.errno, op)
        if e.errno == _errno.EINVAL:
            return attach_error(f"the kernel refused the {what} table ({op}): a member it "
                                "requires is missing, or a data member has a value it does "
                                "not accept", e.errno, op)
        if e.errno in (_errno.EOPNOTSUPP, 524):  # ENOTSUPP, the kernel-internal one
            return attach_error(f"this kernel does not register {self.struct_name} tables "
                                f"made by BPF ({op})", e.errno, op)
        return attach_error(f"{op} for the {what} table failed", e.errno, op)

    # ------------------------------------------------------------ register

    @reported_here
    def attach(self) -> StructOpsLink:
        """Register the table with the kernel (``BPF_LINK_CREATE``); returns its link.

        The link is a context manager: closing it unregisters the table.
        """
        from ._native import syscalls
        from .constants import AttachType

        fd = self.map_fd
        try:
            link_fd = syscalls.link_create(fd, 0, AttachType.STRUCT_OPS)
        except SyscallError as e:
            raise _clean(self._refused(e, "BPF_LINK_CREATE")) from None
        link = StructOpsLink(link_fd, self)
        self._links.append(link)
        return link

    register = attach

    def close(self) -> None:
        """Unregister (close this table's links) and release the map and programs."""
        from ._native import syscalls

        for link in self._links:
            link.close()
        self._links.clear()
        if self._map_fd is not None:
            syscalls.close(self._map_fd)
            self._map_fd = None
        for method in self.methods.values():
            method.close()
        if self._object is not None:
            self._object.close()
            self._object = None

    def __enter__(self) -> StructOps:
        return self.load()

    def __exit__(self, *exc: object) -> None:
        self.close()


class StructOpsLink(links.Link):
    """A registered :class:`StructOps` table; closing it unregisters the table.

    ``update(other)`` swaps in another table of the same kernel struct
    (``BPF_LINK_UPDATE`` with its map), for a TCP congestion control one
    with the same ``name``: sockets using it move to the new methods.
    """

    def __init__(self, fd: int, ops: StructOps) -> None:
        super().__init__(fd, kind="struct_ops", target=f"{ops.struct_name} {ops.name}")
        self.ops = ops

    def update(self, new_ops: Any) -> None:
        """Replace the registered table with ``new_ops`` (a :class:`StructOps`), live."""
        from ._native import syscalls

        if not isinstance(new_ops, StructOps):
            raise TypeError(f"a struct_ops link is updated with another @bpf.struct_ops "
                            f"table, not {type(new_ops).__name__}")
        if new_ops.struct_name != self.ops.struct_name:
            raise TypeError(f"this link holds a {self.ops.struct_name} table, not a "
                            f"{new_ops.struct_name} one")
        try:
            syscalls.link_update(self.fd, new_ops.map_fd)
        except SyscallError as e:
            raise _clean(new_ops._refused(e, "BPF_LINK_UPDATE")) from None
        if self in self.ops._links:
            self.ops._links.remove(self)
        new_ops._links.append(self)
        self.ops = new_ops
        self.target = f"{new_ops.struct_name} {new_ops.name}"


def struct_ops(struct: str, **data: Any) -> Callable[[type], StructOps]:
    """Implement kernel ops struct ``struct`` with a class; its methods are BPF programs.

    Each method implements the function member of the same name; its
    parameters are that member's arguments (typed from kernel BTF, so
    annotations are optional and checked), and it returns what the member
    returns (nothing for a void member).  Keyword arguments set data members
    (``name=``, ``flags=``); ``name`` defaults to the class's name.  Names
    starting with ``_`` are ignored.  The result is a :class:`StructOps`::

        reno_ssthresh = bpf.kfunc("tcp_reno_ssthresh")

        @bpf.struct_ops("tcp_congestion_ops", name="pyebpf_reno")
        class Reno:
            def ssthresh(sk) -> u32:
                return reno_ssthresh(sk)
            ...

        with Reno.attach():
            ...
    """
    frame = sys._getframe(1)
    where = _Where(frame.f_code.co_filename, frame.f_lineno)
    del frame

    def wrap(cls: type) -> StructOps:
        if not isinstance(cls, type):
            raise TypeError("@bpf.struct_ops decorates a class whose methods implement the "
                            f"struct's members, not a {type(cls).__name__}")
        return StructOps(cls, struct, data, where)

    return wrap
