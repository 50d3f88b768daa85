"""Calls in programs -> typed IR: casts, helpers, kfuncs, intrinsics and functions.

:meth:`CallLowering.expr_Call` dispatches on what is called: an integer type
(a cast) or a struct or array type (a constructor), a kernel helper (one
entry of ``lang/helpers.py``) or kfunc, a pyebpf intrinsic (atomics,
``trace_printk``, ``seq_printf``, ``bpf.loop``, byte order, ``log2``), a
``ctx`` method, a map method (:mod:`.mapops`), or the user's own function: a
``@bpf.func`` (a BPF-to-BPF call) or a plain function (inlined).  A mixin of
:class:`~pyebpf.compiler.frontend.Frontend`, whose expression and conversion
methods it uses.
"""

from __future__ import annotations

import ast
import types as pytypes
from typing import Any

from .. import features
from ..lang.helpers import Helper
from ..sections import classify
from ..types import (
    ArrayType,
    BPFType,
    IntType,
    PointerType,
    Struct,
    StructType,
    bool_,
    i32,
    i64,
    u16,
    u32,
    u64,
)
from . import tir as T
from .source import Loc, error, type_error
from .values import (
    ArrayCtor,
    BoundMapMethod,
    BytesMethod,
    CtxMethod,
    Known,
    Lit,
    Place,
    StructCtor,
    Value,
    char_type,
    is_ctx,
    is_kernel_struct,
    is_map_obj,
    is_subprogram,
)

__all__ = ["CallLowering"]

_ATOMICS = {"atomic_add": "add", "atomic_and": "and", "atomic_or": "or", "atomic_xor": "xor",
            "atomic_xchg": "xchg", "atomic_cmpxchg": "cmpxchg"}


class CallLowering:
    """``expr_Call`` and the lowering of each kind of call (a :class:`Frontend` mixin)."""

    def expr_Call(self, node: ast.Call) -> Value:
        loc = self.src.loc(node)
        callee = self.expr(node.func)
        if not isinstance(callee, Known):
            error(loc, "only helpers, map methods, casts and @bpf.func functions can be called")
        obj = callee.obj
        if isinstance(obj, BoundMapMethod):
            return self.map_method(obj, node, loc)
        if isinstance(obj, BytesMethod):
            self._no_keywords(node, loc)
            if len(node.args) != 1:
                error(loc, "startswith() takes one bytes literal")
            prefix = self.expr(node.args[0])
            if not (isinstance(prefix, Known) and isinstance(prefix.obj, bytes)):
                error(loc, "startswith() takes a bytes literal", 'comm.startswith(b"py")')
            return self.bytes_equal(obj.place, prefix.obj, terminated=False, loc=loc)
        if isinstance(obj, CtxMethod):
            if obj.method == "arg":
                return self.ctx_arg(node, loc)
            return self.ctx_header(node, loc)
        if isinstance(obj, IntType):
            return self.cast(obj, node, loc)
        if isinstance(obj, type) and issubclass(obj, Struct) and obj is not Struct:
            return self.struct_ctor(obj, node, loc)
        if is_kernel_struct(obj):
            # bpf.kernel.task_struct(addr): an untrusted kernel pointer; its fields are
            # read with bpf_probe_read_kernel (BPF_CORE_READ-style), offsets from BTF.
            self._no_keywords(node, loc)
            if len(node.args) != 1:
                error(loc, f"{obj!r}(address) takes one address")
            arg = self.expr(node.args[0])
            ty = getattr(arg, "type", None)
            if isinstance(ty, PointerType) and ty.kind == "btf":
                # A pointer the verifier trusts, seen as another struct (C's cast): it stays
                # trusted, and the verifier checks each access against its own idea of the type.
                ptr = self.scalar(arg, loc)
                self.require_nonnull(ptr, loc)
                return T.Cast(PointerType(obj, "btf"), loc, ptr)
            addr = self.convert(self.to_expr(arg, u64, loc), u64, loc)
            return T.Cast(PointerType(obj, "kernel"), loc, addr)
        if isinstance(obj, ArrayType):
            if node.args or node.keywords:
                error(loc, f"{obj!r}() takes no arguments: it makes a zeroed array",
                      "fill it afterwards, or assign a bytes literal")
            return ArrayCtor(obj)
        if isinstance(obj, Helper):
            return self.helper_call(obj, node, loc)
        if obj is bool:
            self._no_keywords(node, loc)
            if len(node.args) != 1:
                error(loc, "bool() takes one argument")
            return self.truth(self.expr(node.args[0]), loc)
        if type(obj).__name__ == "KFunc":
            return self.kfunc_call(obj, node, loc)
        if is_subprogram(obj):
            return self.call_function(obj.fn, node, loc, annotated=True,
                                      is_global=obj.linkage == "global")
        special = getattr(obj, "__pyebpf_intrinsic__", None)
        if special in _ATOMICS:
            return self.atomic(_ATOMICS[special], node, loc)
        if special == "trace_printk":
            return self.trace_printk(node, loc)
        if special == "seq_printf":
            return self.seq_printf(node, loc)
        if special == "loop":
            return self.bpf_loop(node, loc)
        if special == "log2":
            self._no_keywords(node, loc)
            if len(node.args) != 1:
                error(loc, "bpf.log2(x) takes one integer")
            v = self.expr(node.args[0])
            if isinstance(v, Lit):
                return T.Const(u64, loc, u64.wrap(v.value).bit_length())
            return T.BitLength(u64, loc, self.convert(self.int_expr(v, loc), u64, loc))
        if special in ("bswap16", "bswap32", "bswap64"):
            return self.byte_swap({"bswap16": u16, "bswap32": u32, "bswap64": u64}[special],
                                  node, loc)
        if obj is ord and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and \
                isinstance(node.args[0].value, (str, bytes)) and len(node.args[0].value) == 1:
            return Lit(ord(node.args[0].value), loc)  # a character constant, as C's 'm'
        if obj is len or obj is print or obj is range:
            hint = {len: "use the array size (a constant)",
                    print: 'use bpf.trace_printk(b"fmt %d", x)',
                    range: "range() is only for `for` loops"}[obj]
            error(loc, f"`{obj.__name__}()` is not available in eBPF programs", hint)
        module = getattr(obj, "__module__", None) or ""
        if isinstance(obj, pytypes.FunctionType) and module != "builtins" and \
                module != "pyebpf" and not module.startswith("pyebpf."):
            return self.call_function(obj, node, loc, annotated=False, is_global=False)
        name = getattr(obj, "__name__", type(obj).__name__)
        error(loc, f"`{name}` cannot be called inside an eBPF program",
              "call helpers as bpf.<helper>(...), or mark the function with @bpf.func")

    def _no_keywords(self, node: ast.Call, loc: Loc) -> None:
        if node.keywords:
            error(loc, "keyword arguments are not supported here")

    def cast(self, ty: IntType, node: ast.Call, loc: Loc) -> T.Expr:
        self._no_keywords(node, loc)
        if len(node.args) != 1:
            error(loc, f"{ty!r}() takes one argument")
        v = self.expr(node.args[0])
        if isinstance(v, Lit):
            return T.Const(ty, loc, ty.wrap(v.value))
        e = self.scalar(v, loc)
        if isinstance(e.type, PointerType):
            if ty.size != 8:
                type_error(loc, "a pointer can only be cast to u64 or i64")
            self.require_nonnull(e, loc)
            return T.Cast(ty, loc, e)
        if ty.is_bool:
            return T.Truth(bool_, loc, e)
        return T.Cast(ty, loc, e) if e.type != ty else e

    def atomic(self, op: str, node: ast.Call, loc: Loc) -> T.Expr:
        """``bpf.atomic_add(p.count, 1)`` & co.: atomic on a 4- or 8-byte integer in memory."""
        self._no_keywords(node, loc)
        want = 3 if op == "cmpxchg" else 2
        if len(node.args) != want:
            what = "(place, expected, new)" if op == "cmpxchg" else "(place, value)"
            error(loc, f"bpf.atomic_{op}{what}")
        target = self.expr(node.args[0])
        if not isinstance(target, Place) or not isinstance(target.type, IntType) or \
                target.type.size not in (4, 8):
            type_error(self.src.loc(node.args[0]), f"bpf.atomic_{op}() works on a u32/u64 "
                       "(or i32/i64) field or element in memory, e.g. p.count")
        if target.index is not None:
            error(loc, "atomics need a constant index", "bound-check and index with a constant")
        self.require_writable(target, loc)
        ty = target.type
        values = [self.convert(self.to_expr(self.expr(a), ty, loc), ty, loc, implicit=True)
                  for a in node.args[1:]]
        if op == "cmpxchg":
            return T.CmpXchg(ty, loc, target.pointer, target.offset, values[0], values[1])
        return T.AtomicRMW(ty, loc, op, target.pointer, target.offset, values[0])

    def bytes_equal(self, place: Place, data: bytes, *, terminated: bool, loc: Loc) -> T.Expr:
        """A char/u8 array compared with a bytes literal, as C strings when ``terminated``."""
        ty = place.type
        if not (isinstance(ty, ArrayType) and ty.is_bytes):
            type_error(loc, f"only char/u8 arrays compare with bytes, not a {ty!r}")
        if len(data) > ty.size:
            return T.Const(bool_, loc, 0)  # can never match
        if terminated and len(data) < ty.size:
            data = data + b"\0"
        return T.BytesEqual(bool_, loc, place.pointer, place.offset, data)

    def byte_swap(self, ty: IntType, node: ast.Call, loc: Loc) -> Value:
        self._no_keywords(node, loc)
        if len(node.args) != 1:
            error(loc, "byte-order functions take one argument")
        v = self.expr(node.args[0])
        if isinstance(v, Lit):
            raw = ty.wrap(v.value).to_bytes(ty.size, "little")
            return T.Const(ty, loc, int.from_bytes(raw, "big"))
        return T.ByteSwap(ty, loc, self.convert(self.int_expr(v, loc), ty, loc))

    def struct_ctor(self, cls: type[Struct], node: ast.Call, loc: Loc) -> Value:
        if node.args:
            error(loc, f"{cls.__name__}(...) takes keyword arguments only",
                  f"write {cls.__name__}(field=value, ...)")
        st = cls.__bpf_type__
        fields = {}
        for kw in node.keywords:
            if kw.arg is None or kw.arg not in st.by_name:
                error(self.src.loc(kw.value), f"struct {st.name} has no field `{kw.arg}`",
                      f"fields: {', '.join(f.name for f in st.fields)}")
            fields[kw.arg] = kw.value
        return StructCtor(st, fields, loc)

    def ctx_header(self, node: ast.Call, loc: Loc) -> T.Expr:
        assert self.ctx_type is not None
        if not self.ctx_type.packet_access:
            error(loc, "this program type has no direct packet access",
                  "use bpf.skb_load_bytes(ctx, offset, buf)")
        if len(node.args) != 2 or node.keywords:
            error(loc, "ctx.header() takes a header type and an offset", "ctx.header(EthHdr, 0)")
        ty_v = self.expr(node.args[0])
        if not isinstance(ty_v, Known):
            error(loc, "the first argument of ctx.header() must be a header type")
        ty = self.type_from_object(ty_v.obj, self.src.loc(node.args[0]))
        off = self.expr(node.args[1])
        off_e = self.convert(self.to_expr(off, u64, loc), u64, loc)
        ctx = T.Local(PointerType(None, "ctx"), loc, "ctx")
        fdata, fend = self.ctx_type.fields["data"], self.ctx_type.fields["data_end"]
        data = T.CtxPacketPtr(PointerType(None, "packet"), loc, ctx, fdata.offset,
                              8 if fdata.kind.endswith("64") else 4)
        end = T.CtxPacketPtr(PointerType(None, "packet_end"), loc, ctx, fend.offset,
                             8 if fend.kind.endswith("64") else 4)
        return T.HeaderPtr(PointerType(ty, "packet", nullable=True), loc, data, end, off_e, ty.size)

    def call_function(self, fn: Any, node: ast.Call, loc: Loc, *, annotated: bool,
                      is_global: bool) -> T.Expr:
        """A call of a ``@bpf.func`` (a BPF-to-BPF call) or a plain function (inlined)."""
        self._no_keywords(node, loc)
        values = [self.expr(a) for a in node.args]
        arg_types = None
        if not annotated:
            want = fn.__code__.co_argcount
            if len(values) != want and not fn.__defaults__:  # (defaults are refused later)
                error(loc, f"{fn.__name__}() takes {want} argument(s), got {len(values)}")
            arg_types = [self.infer_type(v, loc) if not isinstance(v, Lit) else i64
                         for v in values]
            for i, (v, t) in enumerate(zip(values, arg_types)):
                if isinstance(v, Place) and isinstance(t, (StructType, ArrayType)):
                    # An aggregate goes by address, as C passes a struct pointer.
                    values[i] = self.place_address(v)
                    arg_types[i] = PointerType(t, "stack")
                elif isinstance(t, PointerType):
                    arg_types[i] = PointerType(t.target, t.kind)
            passes_ctx = any(is_ctx(t) for t in arg_types)
        else:
            passes_ctx = any(isinstance(v, T.Expr) and is_ctx(v.type) for v in values)
        callee = self.registry.request(fn, arg_types, annotated, is_global, loc,
                                       ctx_type=self.ctx_type if passes_ctx else None)
        params = callee.params[:-1] if callee.result is not None else callee.params
        if len(values) != len(params):
            error(loc, f"{callee.name}() takes {len(params)} argument(s), got {len(values)}")
        args = []
        for v, (pname, ty), a_node in zip(values, params, node.args):
            if annotated and isinstance(ty, PointerType):
                args.append(self.pointer_arg(fn.__name__, is_global, pname, ty, v,
                                             self.src.loc(a_node)))
                continue
            a = self.convert(self.to_expr(v, ty, loc), ty, loc, implicit=True)
            if isinstance(a.type, PointerType):
                self.require_nonnull(a, loc)
            args.append(a)
        if callee.result is None:
            return T.Call(callee.return_type, loc, callee.name, tuple(args))
        # A struct or array result: into a temporary of the caller's, read as a place.
        slot = self.temp(callee.result, loc)
        ptr = PointerType(callee.result, "stack")
        call = T.Call(callee.return_type, loc, callee.name, (*args, T.AddrOf(ptr, loc, slot)))
        return Place(T.ResultOf(ptr, loc, call, slot), 0, callee.result, loc, writable=False)

    def pointer_arg(self, fname: str, is_global: bool, pname: str, ty: PointerType, v: Value,
                    loc: Loc) -> T.Expr:
        """An argument for a ``@bpf.func`` pointer parameter (see :meth:`annotated_param`).

        A static function is verified at each call with the caller's pointer as it is
        (stack, map value, packet, ctx); a global one is verified once, from its BTF:
        the context, or memory of the parameter's size it may read and write.
        """
        if ty.kind == "ctx":
            if not (isinstance(v, T.Expr) and is_ctx(v.type)):
                type_error(loc, f"this parameter of {fname}() has no type annotation, so it "
                           "takes the program's context", "pass ctx here, or annotate the "
                           "parameter (an integer, struct or array type)")
            return v  # type: ignore[return-value]
        target = ty.target
        hint = (f"pass a local {target!r}, a map value (`p = m.lookup(k)`, checked with `if p "
                f"is None: ...`), or a checked ctx.header({target!r}, offset)")
        if isinstance(v, Place) and v.type == target:
            if isinstance(v.pointer.type, PointerType) and v.pointer.type.kind == "ctx":
                error(loc, "a context field cannot be passed by reference",
                      "copy it to a local first")
            # (A function's result is a temporary, not read-only: a callee may change it.)
            if is_global and not v.writable and not isinstance(v.pointer, T.ResultOf):
                error(loc, f"{fname}() is a global function: the kernel lets it write through "
                      f"`{pname}`, and this memory is read-only",
                      "copy it to a local first, or drop linkage=\"global\" (a static "
                      "function is checked with what it really does)")
            return self.place_address(v)
        if isinstance(v, T.Expr) and isinstance(v.type, PointerType) and v.type.target == target:
            self.require_nonnull(v, loc)
            return v
        got = v.type if isinstance(v, (T.Expr, Place)) else None
        if isinstance(got, PointerType) and got.target is None and got.kind == "packet":
            hint = f"bounds-check it first: h = ctx.header({target!r}, offset)"
        what = f"a {got!r}" if got is not None else "this value"
        type_error(loc, f"`{pname}` of {fname}() takes a {target!r} by reference, not {what}",
                   hint)

    def ctx_arg(self, node: ast.Call, loc: Loc) -> Value:
        """``ctx.arg(n)``: the n-th argument register of a probed function (pt_regs)."""
        assert self.ctx_type is not None
        if len(node.args) != 1 or node.keywords:
            error(loc, "ctx.arg(n) takes one constant argument number")
        n = self.expr(node.args[0])
        if not isinstance(n, Lit):
            error(self.src.loc(node.args[0]), "ctx.arg(n) needs a constant n")
        f = self.ctx_type.field(f"arg{n.value}")
        if f is None:
            have = sorted(k for k in self.ctx_type.fields if k.startswith("arg"))
            error(loc, f"the {self.ctx_type.name} context has no argument {n.value}",
                  f"available: {', '.join(have) or 'none (use the fields instead)'}")
        ctx = T.Local(PointerType(None, "ctx"), loc, "ctx")
        if self.ctx_type.arg_reader is not None:  # USDT: decoded at run time (usdt_args.py)
            fn = self.registry.request(self.ctx_type.arg_reader, [ctx.type, u32], False, False,
                                       loc, ctx_type=self.ctx_type)
            call = T.Call(fn.return_type, loc, fn.name, (ctx, T.Const(u32, loc, n.value)))
            return self.convert(call, f.type, loc)
        return Place(ctx, f.offset, f.type, loc, writable=False)

    def helper_call(self, h: Helper, node: ast.Call, loc: Loc) -> T.Expr:
        self._no_keywords(node, loc)
        if self.section is not None:  # an entry program (a @bpf.func may serve several types)
            where = classify(self.section)
            if features.helper_available(where.prog_type, where.expected_attach_type, h.id,
                                         sleepable=where.sleepable) is False:
                error(loc, f"`bpf.{h.name}` (bpf_{h.name}) is not available to "
                      f"{features.program_kind(where.prog_type)} programs on this kernel",
                      features.helper_hint(h.id))
        user_args = h.user_args
        if len(node.args) != len(user_args):
            error(loc, f"bpf.{h.name}() takes {len(user_args)} argument(s), got {len(node.args)}",
                  f"arguments: {', '.join(user_args) or 'none'}")
        args: list[T.Expr] = []
        it = iter(node.args)
        last_size = 0
        last_map: Any = None
        for kind in h.args:
            if kind == "size":
                args.append(T.Const(u32, loc, last_size))
                continue
            a_node = next(it)
            a_loc = self.src.loc(a_node)
            v = self.expr(a_node)
            key_map, last_map = last_map, None  # only the argument right after a map is a key
            if kind == "ctx":
                if not (isinstance(v, T.Expr) and isinstance(v.type, PointerType) and v.type.kind == "ctx"):
                    type_error(a_loc, f"bpf.{h.name}() needs the program's context here")
                args.append(v)
            elif kind == "map":
                if not (isinstance(v, Known) and is_map_obj(v.obj)):
                    type_error(a_loc, f"bpf.{h.name}() needs a map here")
                m = self.use_map(v.obj, a_loc)
                last_map = m.map
                args.append(T.MapRef(PointerType(None, "map"), a_loc, m.name))
                continue
            elif kind == "ptr" and key_map is not None and not (
                    isinstance(v, Place) or isinstance(v, T.Expr)
                    and isinstance(v.type, PointerType)):
                # The key after a map argument (sock_hash_update, msg_redirect_hash, ...):
                # the helper reads it from memory, so a number goes to a stack slot.
                kt = getattr(key_map, "key_type", None)
                if not isinstance(kt, IntType):
                    type_error(a_loc, f"bpf.{h.name}() reads this key from memory",
                               "pass a local array or struct holding the key")
                tmp = self.temp(kt, a_loc)
                self.pending.append(T.Assign(a_loc, tmp, self.convert(
                    self.to_expr(v, kt, a_loc), kt, a_loc, implicit=True)))
                args.append(T.AddrOf(PointerType(kt, "stack"), a_loc, tmp))
            elif kind == "buf":
                place = self.as_place(v, a_loc)
                if place is None or not isinstance(place.type, (ArrayType, StructType)):
                    type_error(a_loc, f"bpf.{h.name}() needs a local array or struct to write into",
                               "declare one first, e.g. `buf: char[16]`")
                self.require_writable(place, a_loc)
                last_size = place.type.size
                args.append(self.place_address(place))
            elif kind == "ptr":
                if isinstance(v, Known) and isinstance(v.obj, bytes):
                    # A string for a `const char *` argument: a constant in .rodata (helpers
                    # like bpf_strncmp want read-only memory, not the stack).
                    var = self.registry.string_constant(v.obj)
                    use = self.registry.use_global(var, var.name, self.env, a_loc)
                    args.append(T.GlobalAddr(PointerType(var.type, "global"), a_loc, use.name))
                elif isinstance(v, Place) and isinstance(v.type, (ArrayType, StructType)):
                    args.append(self.place_address(v))
                elif isinstance(v, T.Expr) and isinstance(v.type, PointerType):
                    self.require_nonnull(v, a_loc)
                    args.append(v)
                else:
                    args.append(self.convert(self.to_expr(v, u64, a_loc), u64, a_loc))
            else:
                ty = {"u64": u64, "u32": u32, "i32": i32, "i64": i64}[kind]
                args.append(self.convert(self.to_expr(v, ty, a_loc), ty, a_loc, implicit=True))
        ret: BPFType
        if h.name == "get_current_task_btf":
            from .. import kernel

            return T.HelperCall(PointerType(kernel.struct("task_struct"), "btf"), loc, h.name,
                                h.id, tuple(args))
        if h.returns == "ptr":
            ret = PointerType(None, "mem", nullable=True)
        elif h.returns == "void":
            ret = u64
        else:
            ret = {"u64": u64, "u32": u32, "i32": i32, "i64": i64}[h.returns]
        return T.HelperCall(ret, loc, h.name, h.id, tuple(args))

    def kfunc_call(self, kf: Any, node: ast.Call, loc: Loc) -> T.Expr:
        """A kfunc call, typed from the running kernel's BTF."""
        from ..errors import NotSupportedError

        self._no_keywords(node, loc)
        try:
            params, ret = kf.signature()
        except (NotSupportedError, Exception) as e:  # a kernel without it, or odd BTF
            error(loc, f"cannot call {kf.name}(): {e}")
        if len(node.args) != len(params):
            error(loc, f"{kf.name}() takes {len(params)} argument(s), got {len(node.args)}")
        args = []
        for a_node, ty in zip(node.args, params):
            a_loc = self.src.loc(a_node)
            v = self.expr(a_node)
            if isinstance(ty, PointerType):
                e = self.scalar(v, a_loc) if not isinstance(v, Lit) else None
                if e is None or not isinstance(e.type, PointerType):
                    type_error(a_loc, f"{kf.name}() takes a pointer here")
                self.require_nonnull(e, a_loc)
                args.append(e)
            else:
                args.append(self.convert(self.to_expr(v, ty, a_loc), ty, a_loc, implicit=True))
        if ret is None:
            rtype: BPFType = u64
        elif isinstance(ret, PointerType):
            rtype = PointerType(ret.target, ret.kind, nullable=True)
        else:
            rtype = ret
        return T.KfuncCall(rtype, loc, kf.name, tuple(args), tuple(params), ret is None)

    def bpf_loop(self, node: ast.Call, loc: Loc) -> T.Expr:
        """``bpf.loop(n, callback)``: call ``callback(i)`` for i < n (bpf_loop, Linux 5.17)."""
        self._no_keywords(node, loc)
        if len(node.args) != 2:
            error(loc, "bpf.loop(n, callback) takes a count and a @bpf.func callback")
        n = self.convert(self.to_expr(self.expr(node.args[0]), u32, loc), u32, loc,
                         implicit=True)
        cb = self.expr(node.args[1])
        if not (isinstance(cb, Known) and is_subprogram(cb.obj)):
            error(self.src.loc(node.args[1]), "the callback must be a @bpf.func function",
                  "@bpf.func\ndef body(i: u64, ctx) -> i64: ...")
        callee = self.registry.request(cb.obj.fn, None, True, False, loc, callback=True)
        fn_ptr = T.FuncAddr(PointerType(None, "func"), loc, callee.name)
        null = T.Const(PointerType(None, "mem"), loc, 0)
        return T.HelperCall(i64, loc, "loop", 181, (n, fn_ptr, null, T.Const(u64, loc, 0)))

    def trace_printk(self, node: ast.Call, loc: Loc) -> T.Expr:
        self._no_keywords(node, loc)
        if not node.args:
            error(loc, 'bpf.trace_printk() needs a format: bpf.trace_printk(b"x=%d", x)')
        fmt = self.expr(node.args[0])
        if not (isinstance(fmt, Known) and isinstance(fmt.obj, bytes)):
            error(self.src.loc(node.args[0]), "the format must be a bytes literal", 'b"pid %d\\n"')
        data = fmt.obj + b"\0"
        values = [self.printf_value(a) for a in node.args[1:]]
        if len(values) > 12:
            error(loc, "bpf.trace_printk() takes at most 12 values", "split the message")
        name = self.temp(ArrayType(char_type(), len(data)), loc)
        buf = T.AddrOf(PointerType(None, "stack"), loc, name)
        self.pending.append(T.FillBytes(loc, buf, data, len(data)))
        if len(values) <= 3:
            args = (buf, T.Const(u32, loc, len(data)), *values)
            return T.HelperCall(i64, loc, "trace_printk", 6, args)
        # More than three values: bpf_trace_vprintk takes them as an array of u64.
        arr = self.temp(ArrayType(u64, len(values)), loc)
        addr = T.AddrOf(PointerType(None, "stack"), loc, arr)
        for i, v in enumerate(values):
            self.pending.append(T.Store(loc, addr, i * 8, v))
        args = (buf, T.Const(u32, loc, len(data)), addr, T.Const(u32, loc, 8 * len(values)))
        return T.HelperCall(i64, loc, "trace_vprintk", 177, args)

    def printf_value(self, node: ast.expr) -> T.Expr:
        """A printf argument as u64: numbers widened, arrays (for %s) and pointers as addresses."""
        loc = self.src.loc(node)
        v = self.expr(node)
        if isinstance(v, Place) and isinstance(v.type, (ArrayType, StructType)):
            return T.Cast(u64, loc, self.place_address(v))
        e = self.to_expr(v, u64, loc)
        if isinstance(e.type, PointerType):
            self.require_nonnull(e, loc)
            return T.Cast(u64, loc, e)
        return self.convert(e, u64, loc)

    def seq_printf(self, node: ast.Call, loc: Loc) -> T.Expr:
        """``bpf.seq_printf(seq, b"fmt", ...)``: an iterator's output line (bpf_seq_printf)."""
        self._no_keywords(node, loc)
        if len(node.args) < 2:
            error(loc, 'bpf.seq_printf(ctx.meta.seq, b"fmt %d\\n", value, ...)')
        seq = self.scalar(self.expr(node.args[0]), loc)
        if not isinstance(seq.type, PointerType):
            type_error(loc, "the first argument is the iterator's seq_file (ctx.meta.seq)")
        self.require_nonnull(seq, loc)
        fmt_node = node.args[1]
        fmt = self.expr(fmt_node)
        if not (isinstance(fmt, Known) and isinstance(fmt.obj, bytes)):
            error(self.src.loc(fmt_node), "the format must be a bytes literal", 'b"%d\\n"')
        values = [self.printf_value(a) for a in node.args[2:]]
        if len(values) > 12:
            error(loc, "bpf.seq_printf() takes at most 12 values")
        data = fmt.obj + b"\0"
        buf_name = self.temp(ArrayType(char_type(), len(data)), loc)
        buf = T.AddrOf(PointerType(None, "stack"), loc, buf_name)
        self.pending.append(T.FillBytes(loc, buf, data, len(data)))
        if values:
            arr = self.temp(ArrayType(u64, len(values)), loc)
            addr: T.Expr = T.AddrOf(PointerType(None, "stack"), loc, arr)
            for i, v in enumerate(values):
                self.pending.append(T.Store(loc, addr, i * 8, v))
        else:
            addr = T.Const(PointerType(None, "mem"), loc, 0)
        return T.HelperCall(i64, loc, "seq_printf", 126, (
            seq, buf, T.Const(u32, loc, len(data)), addr, T.Const(u32, loc, 8 * len(values))))

