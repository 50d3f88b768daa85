"""Map and event operations in programs -> typed IR.

Kernel-side map methods (``lookup``, ``get``, ``update``, ``delete``,
``increment``, ``m[k] = v``, ``del m[k]``), queues, stacks and bloom filters
(``push``/``pop``/``peek``), ring and perf buffers (``reserve``, ``submit``,
``discard``, ``output``) and tail calls, with each map named once per object.
A mixin of :class:`~pyebpf.compiler.frontend.Frontend`, whose expression and
conversion methods it uses.
"""

from __future__ import annotations

import ast
from typing import Any

from ..types import (
    ArrayType,
    BPFType,
    IntType,
    PointerType,
    StructType,
    bool_,
    i64,
    u32,
    u64,
)
from . import tir as T
from .source import Loc, error, type_error
from .values import (
    BoundMapMethod,
    InnerMapType,
    Known,
    Lit,
    MapUse,
    StmtValue,
    StructCtor,
    Value,
    is_map_obj,
)

__all__ = ["MapLowering"]

_RINGBUF = 27  # BPF_MAP_TYPE_RINGBUF
_PROG_ARRAY = 3  # BPF_MAP_TYPE_PROG_ARRAY
_BLOOM_FILTER = 30  # BPF_MAP_TYPE_BLOOM_FILTER
_MAPS_OF_MAPS = {12, 13}  # BPF_MAP_TYPE_ARRAY_OF_MAPS, HASH_OF_MAPS
_KEYLESS = {22, 23, _BLOOM_FILTER}  # BPF_MAP_TYPE_QUEUE, STACK, BLOOM_FILTER
_F_CURRENT_CPU = 0xFFFFFFFF  # BPF_F_CURRENT_CPU: perf_event_output to this CPU's buffer


class MapLowering:
    """Map and event method calls (a :class:`Frontend` mixin)."""

    def _is_map(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Name) and node.id not in self.locals:
            found, obj = self.env.lookup(node.id)
            return found and is_map_obj(obj)
        if isinstance(node, ast.Attribute):
            try:
                v = self.expr(node)
            except Exception:
                return False
            return isinstance(v, Known) and is_map_obj(v.obj)
        return False

    def map_of(self, node: ast.expr) -> MapUse:
        v = self.expr(node)
        assert isinstance(v, Known)
        return self.use_map(v.obj, self.src.loc(node))

    def use_map(self, m: Any, loc: Loc) -> MapUse:
        use = self.maps.get(id(m))
        if use is None:
            name = getattr(m, "name", None) or self._global_name(m)
            if name is None:
                error(loc, "this map has no name", "declare it at module level or pass name=...")
            use = MapUse(name, m)
            self.maps[id(m)] = use
        return use

    def _global_name(self, m: Any) -> str | None:
        for scope in (self.env.closure, self.env.globals):
            for k, v in scope.items():
                if v is m:
                    return k
        return None

    def map_key(self, m: MapUse, node: ast.expr) -> T.Expr:
        return self.map_arg(m.map.key_type, node, "key")

    def map_value_arg(self, m: MapUse, node: ast.expr) -> T.Expr:
        return self.map_arg(m.map.value_type, node, "value")

    def map_arg(self, ty: BPFType, node: ast.expr, what: str) -> T.Expr:
        loc = self.src.loc(node)
        v = self.expr(node)
        if isinstance(ty, (StructType, ArrayType)):
            if isinstance(v, StructCtor) or isinstance(v, Known) and isinstance(v.obj, bytes):
                name = self.temp(ty, loc)
                self.pending.extend(self.aggregate_init(name, ty, v, node, loc))
                return T.AddrOf(PointerType(ty, "stack"), loc, name)
            place = self.as_place(v, loc)
            if place is None or place.type != ty:
                type_error(loc, f"the map's {what} is a {ty!r}",
                           f"pass a {ty!r} (a local built with {ty.name}(...))")
            return self.place_address(place)
        if not isinstance(ty, IntType):
            type_error(loc, f"unsupported map {what} type {ty!r}")
        return self.convert(self.to_expr(v, ty, loc), ty, loc, implicit=True)

    def map_method(self, bm: BoundMapMethod, node: ast.Call, loc: Loc) -> Value:
        if bm.map_ptr is not None:  # an inner map, found through a map of maps at run time
            m = MapUse("", bm.map)
        else:
            m = self.use_map(bm.map, loc)
        mp = bm.map_ptr
        name = bm.method
        args = node.args
        kw = {k.arg: k.value for k in node.keywords}
        if hasattr(m.map, "event_type"):
            return self.event_method(m, name, node, loc)
        if int(m.map.map_type) in _KEYLESS:
            return self.keyless_method(m, name, node, loc)
        vt = m.map.value_type
        if name == "lookup":
            if len(args) != 1 or kw:
                error(loc, "m.lookup(key) takes one argument")
            key = self.map_key(m, args[0])
            if int(m.map.map_type) in _MAPS_OF_MAPS:
                inner = PointerType(InnerMapType(m.map.inner), "map", nullable=True)
                return T.MapLookup(inner, loc, m.name, key, mp)
            return T.MapLookup(PointerType(vt, "map_value", nullable=True), loc, m.name, key, mp)
        if name == "get":
            if not 1 <= len(args) <= 2 or kw:
                error(loc, "m.get(key, default=0) takes one or two arguments")
            if not isinstance(vt, IntType):
                error(loc, "m.get() copies integer values only",
                      "use p = m.lookup(key) and check p for None")
            key = self.map_key(m, args[0])
            default = self.expr(args[1]) if len(args) == 2 else Lit(0, loc)
            ptr_name = self.temp(PointerType(vt, "map_value", nullable=True), loc)
            self.pending.append(T.Assign(loc, ptr_name, T.MapLookup(
                PointerType(vt, "map_value", nullable=True), loc, m.name, key, mp)))
            p = T.Local(PointerType(vt, "map_value", nullable=True), loc, ptr_name)
            p_nn = T.Local(PointerType(vt, "map_value"), loc, ptr_name)
            d = self.convert(self.to_expr(default, vt, loc), vt, loc, implicit=True)
            return T.Conditional(vt, loc, T.Truth(bool_, loc, p), T.Load(vt, loc, p_nn, 0), d)
        if name in ("update",):
            if not 2 <= len(args) <= 3:
                error(loc, "m.update(key, value, flags=0)")
            key = self.map_key(m, args[0])
            val = self.map_value_arg(m, args[1])
            flags = self.optional_u64(args[2] if len(args) == 3 else kw.get("flags"), 0, loc)
            return StmtValue(T.MapUpdate(loc, m.name, key, val, flags, mp))
        if name in ("delete", "__delitem__"):
            if len(args) != 1:
                error(loc, "m.delete(key) takes one argument")
            return StmtValue(T.MapDelete(loc, m.name, self.map_key(m, args[0]), mp))
        if name == "tail_call":
            if int(m.map.map_type) != _PROG_ARRAY:
                error(loc, "tail_call() is a method of bpf.ProgArray")
            if len(args) != 2 or kw:
                error(loc, "progs.tail_call(ctx, index)")
            ctx = self.expr(args[0])
            if not (isinstance(ctx, T.Expr) and isinstance(ctx.type, PointerType)
                    and ctx.type.kind == "ctx"):
                type_error(loc, "the first argument of tail_call() is the program's ctx")
            index = self.convert(self.to_expr(self.expr(args[1]), u32, loc), u32, loc,
                                 implicit=True)
            mref = T.MapRef(PointerType(None, "map"), loc, m.name)
            # On success control never comes back; on failure the program goes on.
            call = T.HelperCall(i64, loc, "tail_call", 12, (ctx, mref, index))
            return StmtValue(T.ExprStmt(loc, call))
        if name == "increment":
            if not 1 <= len(args) <= 2:
                error(loc, "m.increment(key, by=1)")
            if not isinstance(vt, IntType) or vt.size not in (4, 8):
                error(loc, "m.increment() needs a map with u32/u64 (or signed) values")
            key = self.map_key(m, args[0])
            by_node = args[1] if len(args) == 2 else kw.get("by")
            by = (self.convert(self.to_expr(self.expr(by_node), vt, loc), vt, loc, implicit=True)
                  if by_node is not None else T.Const(vt, loc, 1))
            fixed = bool(getattr(m.map, "fixed_entries", False))
            return StmtValue(T.MapIncrement(loc, m.name, key, by, fixed, mp))
        error(loc, f"maps have no kernel-side method `{name}`",
              "kernel side: lookup, get, update, delete, increment, m[k] = v, del m[k]")

    def optional_u64(self, node: ast.expr | None, default: int, loc: Loc) -> T.Expr:
        """An optional integer argument (flags) as u64, or ``default`` when absent."""
        if node is None:
            return T.Const(u64, loc, default)
        return self.convert(self.to_expr(self.expr(node), u64, loc), u64, loc)

    def keyless_method(self, m: MapUse, name: str, node: ast.Call, loc: Loc) -> Value:
        """Queue and stack ``push/pop/peek``; bloom filter ``push`` and ``peek`` (maybe-in)."""
        vt = m.map.value_type
        bloom = int(m.map.map_type) == _BLOOM_FILTER
        args = list(node.args)
        kw = {k.arg: k.value for k in node.keywords}
        mref = T.MapRef(PointerType(None, "map"), loc, m.name)

        def value_ref(v_node: ast.expr) -> T.Expr:
            v = self.map_value_arg(m, v_node)
            if isinstance(vt, IntType):
                tmp = self.temp(vt, loc)
                self.pending.append(T.Assign(loc, tmp, v))
                return T.AddrOf(PointerType(vt, "stack"), loc, tmp)
            return v

        if name == "push":
            if not 1 <= len(args) <= 2:
                error(loc, "m.push(value, flags=0)")
            flags = self.optional_u64(args[1] if len(args) == 2 else kw.get("flags"), 0, loc)
            return T.HelperCall(i64, loc, "map_push_elem", 87, (mref, value_ref(args[0]), flags))
        if bloom and name == "peek":
            if len(args) != 1:
                error(loc, "bloom.peek(value): True when the value may be in the filter")
            rc = T.HelperCall(i64, loc, "map_peek_elem", 89, (mref, value_ref(args[0])))
            return T.Compare(bool_, loc, "==", rc, T.Const(i64, loc, 0))
        if not bloom and name in ("pop", "peek"):
            if not isinstance(vt, IntType):
                error(loc, f"m.{name}() gives integer values for now",
                      "use bpf.map_pop_elem(m, buf) with a local struct")
            if len(args) > 1:
                error(loc, f"m.{name}(default=0) gives the value, or default when empty")
            tmp = self.temp(vt, loc)
            rc = T.HelperCall(i64, loc, f"map_{name}_elem", 88 if name == "pop" else 89,
                              (mref, T.AddrOf(PointerType(vt, "stack"), loc, tmp)))
            default = (self.convert(self.to_expr(self.expr(args[0]), vt, loc), vt, loc,
                                    implicit=True) if args else T.Const(vt, loc, 0))
            return T.Conditional(vt, loc, T.Compare(bool_, loc, "==", rc, T.Const(i64, loc, 0)),
                                 T.Local(vt, loc, tmp), default)
        kind = "BloomFilterMap" if bloom else type(m.map).__name__
        error(loc, f"{kind} has no kernel-side method `{name}`",
              "queues and stacks: push/pop/peek; bloom filters: push/peek")

    def event_method(self, m: MapUse, name: str, node: ast.Call, loc: Loc) -> Value:
        """Kernel side of RingBuf (reserve/submit/discard/output) and PerfEventArray (output)."""
        et = m.map.event_type
        ring = int(m.map.map_type) == _RINGBUF
        args = list(node.args)
        kw = {k.arg: k.value for k in node.keywords}
        mref = T.MapRef(PointerType(None, "map"), loc, m.name)

        def event_arg(node_: ast.expr) -> T.Expr:
            if et is None:
                error(loc, f"declare the event type: {type(m.map).__name__}(..., event=T)")
            value = self.map_arg(et, node_, "event")
            if isinstance(et, IntType):  # the helper copies from memory: spill the number
                tmp = self.temp(et, loc)
                self.pending.append(T.Assign(loc, tmp, value))
                return T.AddrOf(PointerType(et, "stack"), loc, tmp)
            return value

        if ring and name == "reserve":
            if args or kw:
                error(loc, "events.reserve() takes no arguments (it reserves one event)")
            if et is None:
                error(loc, "reserve() needs the ring buffer's event type",
                      "declare it as bpf.RingBuf(size, event=MyEvent)")
            return T.HelperCall(PointerType(et, "ringbuf", nullable=True), loc, "ringbuf_reserve",
                                131, (mref, T.Const(u64, loc, et.size), T.Const(u64, loc, 0)))
        if ring and name in ("submit", "discard"):
            if not 1 <= len(args) <= 2:
                error(loc, f"events.{name}(e) takes the reserved event")
            e = self.expr(args[0])
            if not (isinstance(e, T.Expr) and isinstance(e.type, PointerType)
                    and e.type.kind == "ringbuf"):
                type_error(loc, f"events.{name}() takes a pointer from events.reserve()")
            self.require_nonnull(e, loc)
            hid = 132 if name == "submit" else 133
            call = T.HelperCall(u64, loc, f"ringbuf_{name}", hid,
                                (e, self.optional_u64(args[1] if len(args) > 1 else kw.get("flags"), 0, loc)))
            return StmtValue(T.ExprStmt(loc, call))
        if ring and name == "output":
            if not 1 <= len(args) <= 2:
                error(loc, "events.output(value, flags=0)")
            value = event_arg(args[0])
            return T.HelperCall(i64, loc, "ringbuf_output", 130, (
                mref, value, T.Const(u64, loc, et.size),
                self.optional_u64(args[1] if len(args) > 1 else kw.get("flags"), 0, loc)))
        if not ring and name == "output":
            if not 2 <= len(args) <= 3:
                error(loc, "events.output(ctx, value) sends one event to this CPU's buffer")
            ctx = self.expr(args[0])
            if not (isinstance(ctx, T.Expr) and isinstance(ctx.type, PointerType)
                    and ctx.type.kind == "ctx"):
                type_error(loc, "the first argument of output() is the program's ctx")
            value = event_arg(args[1])
            return T.HelperCall(i64, loc, "perf_event_output", 25, (
                ctx, mref, self.optional_u64(args[2] if len(args) > 2 else kw.get("flags"),
                                             _F_CURRENT_CPU, loc),
                value, T.Const(u64, loc, et.size)))
        kind = "RingBuf" if ring else "PerfEventArray"
        error(loc, f"{kind} has no kernel-side method `{name}`",
              "ring buffers: reserve/submit/discard/output; perf buffers: output(ctx, value)")

