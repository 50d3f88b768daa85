"""The native single-element map functions of :mod:`.fastpath`, as LLVM IR text.

Each function is a CPython builtin (``METH_O`` or ``METH_FASTCALL``) whose ``self``
is a ``bytearray``; its buffer is the map's *context*, laid out by the offsets
below.  Every address the code uses (libc, the CPython API, ``None``...) is read
from the runtime table the context points to, so the compiled code has no
relocations and can be cached as plain bytes.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ir", "RT_NAMES"]

# Offsets in a map's context (the bytearray's buffer).
_ATTR = 0  # map_fd u32 @0, key ptr @8, value ptr @16, flags u64 @24 (bpf_attr, 32 bytes)
NR = 32  # syscall number of bpf(2)
KEY_SIZE = 40
VALUE_SIZE = 48
RT = 56  # pointer to the runtime table
KEY_BUF, VALUE_BUF, NEXT_BUF = 64, 72, 80  # the buffers (attr's pointers move for next_key)
# lookup_int: the key's bounds (as i64 bit patterns) and the signedness of key and value
KEY_MIN, KEY_MAX, KEY_SIGNED, VALUE_SIGNED = 88, 96, 104, 112
VALUE_MIN, VALUE_MAX = 120, 128  # update_int: the value's bounds
HEADER = 136

# The runtime table: entry points by index (8 bytes each).
RT_NAMES = (
    "syscall", "__errno_location", "memcpy",
    "PyBytes_AsStringAndSize", "PyBytes_FromStringAndSize", "Py_IncRef",
    "PyErr_SetFromErrno", "PyErr_SetString", "PyLong_AsUnsignedLongLongMask",
    "Py_None", "Py_True", "Py_False", "PyExc_OSError", "PyExc_ValueError", "size_message",
    "PyExc_TypeError", "args_message",
    "PyLong_AsLongLong", "PyLong_AsUnsignedLongLong", "PyErr_Occurred",
    "PyLong_FromLongLong", "PyLong_FromUnsignedLongLong", "PyExc_OverflowError", "range_message",
)
RT_INDEX = {name: i for i, name in enumerate(RT_NAMES)}

_ENOENT, _EINTR = 2, 4
_CMD_LOOKUP, _CMD_UPDATE, _CMD_DELETE, _CMD_NEXT_KEY = 1, 2, 3, 4  # enum bpf_cmd
# How much of bpf_attr each command reads: the kernel wants the rest zero, and
# DELETE_ELEM ends at ``key`` (our ``value`` pointer would make it EINVAL).
_ATTR_SIZE = {_CMD_LOOKUP: 32, _CMD_UPDATE: 32, _CMD_DELETE: 16, _CMD_NEXT_KEY: 24}

# Where a bytearray keeps its buffer pointer (PyByteArrayObject.ob_start); checked
# against the real address before anything is compiled.
BYTEARRAY_START = 5 * 8

def ir() -> str:
    """The functions in LLVM IR; every external address comes from the table."""
    rt = {name: i for name, i in RT_INDEX.items()}

    def fn(var: str, name: str) -> str:
        return (f"  %{var}.p = getelementptr i64, ptr %rt, i64 {rt[name]}\n"
                f"  %{var} = load ptr, ptr %{var}.p\n")

    prologue = (
        f"  %ctx.p = getelementptr i8, ptr %self, i64 {BYTEARRAY_START}\n"
        "  %ctx = load ptr, ptr %ctx.p\n"
        f"  %rt.p = getelementptr i8, ptr %ctx, i64 {RT}\n"
        "  %rt = load ptr, ptr %rt.p\n"
    )

    def copy_in(tag: str, obj: str, size_off: int, ptr_off: int, fail: str) -> str:
        """Copy a bytes argument of exactly the context's size into its buffer."""
        return (
            fn(f"asb.{tag}", "PyBytes_AsStringAndSize")
            + f"  %buf.{tag} = alloca ptr\n  %len.{tag} = alloca i64\n"
            f"  %r.{tag} = call i32 %asb.{tag}(ptr {obj}, ptr %buf.{tag}, ptr %len.{tag})\n"
            f"  %bad.{tag} = icmp ne i32 %r.{tag}, 0\n"
            f"  br i1 %bad.{tag}, label %null, label %sz.{tag}\n"
            f"sz.{tag}:\n"
            f"  %want.p.{tag} = getelementptr i8, ptr %ctx, i64 {size_off}\n"
            f"  %want.{tag} = load i64, ptr %want.p.{tag}\n"
            f"  %got.{tag} = load i64, ptr %len.{tag}\n"
            f"  %ok.{tag} = icmp eq i64 %want.{tag}, %got.{tag}\n"
            f"  br i1 %ok.{tag}, label %cp.{tag}, label %{fail}\n"
            f"cp.{tag}:\n"
            f"  %dst.p.{tag} = getelementptr i8, ptr %ctx, i64 {ptr_off}\n"
            f"  %dst.{tag} = load ptr, ptr %dst.p.{tag}\n"
            f"  %src.{tag} = load ptr, ptr %buf.{tag}\n"
            + fn(f"mc.{tag}", "memcpy")
            + f"  call ptr %mc.{tag}(ptr %dst.{tag}, ptr %src.{tag}, i64 %want.{tag})\n"
        )

    def syscall(cmd: int, ok: str) -> str:
        """bpf(cmd, &attr, 32), again on EINTR; on failure %errno holds the error."""
        return (
            fn("sc", "syscall") + fn("el", "__errno_location")
            + f"  %nr.p = getelementptr i8, ptr %ctx, i64 {NR}\n"
            "  %nr = load i64, ptr %nr.p\n"
            "  br label %call\n"
            "call:\n"
            f"  %ret = call i64 (i64, ...) %sc(i64 %nr, i64 {cmd}, ptr %ctx, i64 {_ATTR_SIZE[cmd]})\n"
            "  %failed = icmp slt i64 %ret, 0\n"
            f"  br i1 %failed, label %err, label %{ok}\n"
            "err:\n"
            "  %errno.p = call ptr %el()\n"
            "  %errno = load i32, ptr %errno.p\n"
            f"  %intr = icmp eq i32 %errno, {_EINTR}\n"
            "  br i1 %intr, label %call, label %notintr\n"
            "notintr:\n"
            f"  %noent = icmp eq i32 %errno, {_ENOENT}\n"
        )

    def give(obj_name: str) -> str:
        """Return a new reference to None/True/False."""
        return (fn(f"o.{obj_name}", obj_name) + fn(f"inc.{obj_name}", "Py_IncRef")
                + f"  call void %inc.{obj_name}(ptr %o.{obj_name})\n"
                f"  ret ptr %o.{obj_name}\n")

    raise_oserror = (
        "oserror:\n" + fn("sfe", "PyErr_SetFromErrno") + fn("exc", "PyExc_OSError")
        + "  %exc.v = load ptr, ptr %exc\n"
        "  call ptr %sfe(ptr %exc.v)\n"
        "  ret ptr null\n"
    )
    def raise_with(label: str, exc: str, message: str) -> str:
        """Block ``label``: set ``exc`` with the table's ``message`` and return NULL."""
        return (
            f"{label}:\n" + fn(f"{label}.set", "PyErr_SetString") + fn(f"{label}.exc", exc)
            + fn(f"{label}.msg", message)
            + f"  %{label}.e = load ptr, ptr %{label}.exc\n"
            f"  call void %{label}.set(ptr %{label}.e, ptr %{label}.msg)\n"
            "  ret ptr null\n"
        )

    raise_size = raise_with("badsize", "PyExc_ValueError", "size_message")
    raise_args = raise_with("badargs", "PyExc_TypeError", "args_message")
    null = "null:\n  ret ptr null\n"

    lookup = (
        "define ptr @pyebpf_lookup(ptr %self, ptr %key) {\n"
        "entry:\n" + prologue
        + copy_in("k", "%key", KEY_SIZE, _ATTR + 8, "badsize")
        + syscall(_CMD_LOOKUP, "found")
        + "  br i1 %noent, label %missing, label %oserror\n"
        "missing:\n" + give("Py_None")
        + "found:\n"
        + fn("fsz", "PyBytes_FromStringAndSize")
        + f"  %vs.p = getelementptr i8, ptr %ctx, i64 {VALUE_SIZE}\n"
        "  %vs = load i64, ptr %vs.p\n"
        f"  %vp.p = getelementptr i8, ptr %ctx, i64 {_ATTR + 16}\n"
        "  %vp = load ptr, ptr %vp.p\n"
        "  %res = call ptr %fsz(ptr %vp, i64 %vs)\n"
        "  ret ptr %res\n"
        + raise_oserror + raise_size + null + "}\n"
    )
    delete = (
        "define ptr @pyebpf_delete(ptr %self, ptr %key) {\n"
        "entry:\n" + prologue
        + copy_in("k", "%key", KEY_SIZE, _ATTR + 8, "badsize")
        + syscall(_CMD_DELETE, "done")
        + "  br i1 %noent, label %missing, label %oserror\n"
        "missing:\n" + give("Py_False")
        + "done:\n" + give("Py_True")
        + raise_oserror + raise_size + null + "}\n"
    )
    # METH_FASTCALL (key, value, flags): the arguments, and the command that ends both updates
    three_args = (
        "  %three = icmp eq i64 %nargs, 3\n"
        "  br i1 %three, label %args3, label %badargs\n"
        "args3:\n"
        "  %key = load ptr, ptr %args\n"
        "  %value.p = getelementptr ptr, ptr %args, i64 1\n"
        "  %value = load ptr, ptr %value.p\n"
        "  %flags.p = getelementptr ptr, ptr %args, i64 2\n"
        "  %flags.o = load ptr, ptr %flags.p\n"
    )
    update_with_flags = (
        fn("asull", "PyLong_AsUnsignedLongLongMask")
        + "  %flags = call i64 %asull(ptr %flags.o)\n"
        f"  %fl.p = getelementptr i8, ptr %ctx, i64 {_ATTR + 24}\n"
        "  store i64 %flags, ptr %fl.p\n"
        + syscall(_CMD_UPDATE, "done")
        + "  store i64 0, ptr %fl.p\n"
        "  br label %oserror\n"
        "done:\n"
        "  store i64 0, ptr %fl.p\n"  # lookups read the same attr: flags back to 0
        + give("Py_None")
    )
    update = (
        "define ptr @pyebpf_update(ptr %self, ptr %args, i64 %nargs) {\n"
        "entry:\n" + prologue
        + three_args
        + copy_in("k", "%key", KEY_SIZE, _ATTR + 8, "badsize")
        + copy_in("v", "%value", VALUE_SIZE, _ATTR + 16, "badsize")
        + update_with_flags
        + raise_oserror + raise_size + raise_args + null + "}\n"
    )
    def ctx_ptr(var: str, off: int) -> str:
        return (f"  %{var}.p = getelementptr i8, ptr %ctx, i64 {off}\n"
                f"  %{var} = load ptr, ptr %{var}.p\n")

    # next_key(None) is the first key; attr.key is NULL for it, and attr's second
    # pointer is the next-key buffer during the call.
    next_key = (
        "define ptr @pyebpf_next_key(ptr %self, ptr %key) {\n"
        "entry:\n" + prologue
        + fn("none", "Py_None")
        + f"  %akey.p = getelementptr i8, ptr %ctx, i64 {_ATTR + 8}\n"
        f"  %aval.p = getelementptr i8, ptr %ctx, i64 {_ATTR + 16}\n"
        "  %first = icmp eq ptr %key, %none\n"
        "  br i1 %first, label %nokey, label %given\n"
        "nokey:\n"
        "  store ptr null, ptr %akey.p\n"
        "  br label %go\n"
        "given:\n"
        + copy_in("k", "%key", KEY_SIZE, _ATTR + 8, "badsize")
        + "  br label %go\n"
        "go:\n"
        + ctx_ptr("nbuf", NEXT_BUF)
        + "  store ptr %nbuf, ptr %aval.p\n"
        + syscall(_CMD_NEXT_KEY, "found")
        + "  br label %restore\n"
        "restore:\n"
        + ctx_ptr("kbuf.r", KEY_BUF) + ctx_ptr("vbuf.r", VALUE_BUF)
        + "  store ptr %kbuf.r, ptr %akey.p\n"
        "  store ptr %vbuf.r, ptr %aval.p\n"
        "  br i1 %noent, label %missing, label %oserror\n"
        "missing:\n" + give("Py_None")
        + "found:\n"
        + ctx_ptr("kbuf.f", KEY_BUF) + ctx_ptr("vbuf.f", VALUE_BUF)
        + "  store ptr %kbuf.f, ptr %akey.p\n"
        "  store ptr %vbuf.f, ptr %aval.p\n"
        + fn("fsz", "PyBytes_FromStringAndSize")
        + f"  %ks.p = getelementptr i8, ptr %ctx, i64 {KEY_SIZE}\n"
        "  %ks = load i64, ptr %ks.p\n"
        "  %res = call ptr %fsz(ptr %nbuf, i64 %ks)\n"
        "  ret ptr %res\n"
        + raise_oserror + raise_size + null + "}\n"
    )
    def load_ctx(var: str, off: int) -> str:
        return (f"  %{var}.p = getelementptr i8, ptr %ctx, i64 {off}\n"
                f"  %{var} = load i64, ptr %{var}.p\n")

    def by_width(var: str, size: str, body: Callable[[int], str], join: str) -> str:
        """A switch on ``size`` (1, 2, 4, else 8) into one block per width, then ``join``."""
        out = (f"  switch i64 {size}, label %{var}8 [i64 1, label %{var}1 "
               f"i64 2, label %{var}2 i64 4, label %{var}4]\n")
        for bits in (1, 2, 4, 8):
            out += f"{var}{bits}:\n" + body(bits * 8) + f"  br label %{join}\n"
        return out

    def to_int(signed: bool, conv: str, ok: str, obj: str = "%key",
               bounds: tuple[int, int] = (KEY_MIN, KEY_MAX)) -> str:
        """``%{conv}.v``: ``obj`` as i64 within ``bounds``; NULL out on a conversion error."""
        api = "PyLong_AsLongLong" if signed else "PyLong_AsUnsignedLongLong"
        low, high = bounds
        return (
            f"{conv}:\n" + fn(f"{conv}.f", api)
            + f"  %{conv}.v = call i64 %{conv}.f(ptr {obj})\n"
            f"  %{conv}.e = icmp eq i64 %{conv}.v, -1\n"
            f"  br i1 %{conv}.e, label %{conv}.chk, label %{conv}.rng\n"
            f"{conv}.chk:\n" + fn(f"{conv}.occ", "PyErr_Occurred")
            + f"  %{conv}.o = call ptr %{conv}.occ()\n"
            f"  %{conv}.on = icmp ne ptr %{conv}.o, null\n"
            f"  br i1 %{conv}.on, label %null, label %{conv}.rng\n"
            f"{conv}.rng:\n"
            + load_ctx(f"{conv}.max", high)
            + (load_ctx(f"{conv}.min", low)
               + f"  %{conv}.lo = icmp slt i64 %{conv}.v, %{conv}.min\n"
               f"  %{conv}.hi = icmp sgt i64 %{conv}.v, %{conv}.max\n"
               f"  %{conv}.out = or i1 %{conv}.lo, %{conv}.hi\n"
               if signed else
               f"  %{conv}.out = icmp ugt i64 %{conv}.v, %{conv}.max\n")
            + f"  br i1 %{conv}.out, label %overflow, label %{ok}\n"
        )

    def store(var: str, buf: str) -> Callable[[int], str]:
        def one(bits: int) -> str:
            if bits == 64:
                return f"  store i64 %{var}, ptr %{buf}\n"
            return (f"  %{var}t{bits} = trunc i64 %{var} to i{bits}\n"
                    f"  store i{bits} %{var}t{bits}, ptr %{buf}\n")
        return one

    def int_arg(tag: str, obj: str, signed_off: int, bounds: tuple[int, int]) -> str:
        """Convert ``obj`` by its signedness into ``%{tag}`` and store it in its buffer."""
        return (
            load_ctx(f"{tag}sg", signed_off)
            + f"  %{tag}issigned = icmp ne i64 %{tag}sg, 0\n"
            f"  br i1 %{tag}issigned, label %{tag}s, label %{tag}u\n"
            + to_int(True, f"{tag}s", f"{tag}have.s", obj, bounds)
            + to_int(False, f"{tag}u", f"{tag}have.u", obj, bounds)
            + f"{tag}have.s:\n  br label %{tag}have\n{tag}have.u:\n  br label %{tag}have\n"
            f"{tag}have:\n"
            f"  %{tag} = phi i64 [%{tag}s.v, %{tag}have.s], [%{tag}u.v, %{tag}have.u]\n"
        )

    overflow = raise_with("overflow", "PyExc_OverflowError", "range_message")

    def load_value(bits: int) -> str:
        if bits == 64:
            return "  %v64 = load i64, ptr %vb\n"
        return (f"  %a{bits} = load i{bits}, ptr %vb\n"
                f"  %s{bits} = sext i{bits} %a{bits} to i64\n"
                f"  %z{bits} = zext i{bits} %a{bits} to i64\n"
                f"  %v{bits} = select i1 %vsigned, i64 %s{bits}, i64 %z{bits}\n")

    # lookup_int(key: int) -> int | None, for maps of plain integers: no packing,
    # no bytes object.  Widths and signedness come from the context.
    lookup_int = (
        "define ptr @pyebpf_lookup_int(ptr %self, ptr %key) {\n"
        "entry:\n" + prologue
        + int_arg("k", "%key", KEY_SIGNED, (KEY_MIN, KEY_MAX))
        + ctx_ptr("kb", KEY_BUF) + load_ctx("ksz", KEY_SIZE)
        + by_width("kw", "%ksz", store("k", "kb"), "go")
        + "go:\n"
        + syscall(_CMD_LOOKUP, "found")
        + "  br i1 %noent, label %missing, label %oserror\n"
        "missing:\n" + give("Py_None")
        + "found:\n"
        + ctx_ptr("vb", VALUE_BUF) + load_ctx("vsz", VALUE_SIZE)
        + load_ctx("vsg", VALUE_SIGNED)
        + "  %vsigned = icmp ne i64 %vsg, 0\n"
        + by_width("vw", "%vsz", load_value, "conv")
        + "conv:\n"
        "  %v = phi i64 [%v8, %vw1], [%v16, %vw2], [%v32, %vw4], [%v64, %vw8]\n"
        + fn("fll", "PyLong_FromLongLong") + fn("full", "PyLong_FromUnsignedLongLong")
        + "  %mk = select i1 %vsigned, ptr %fll, ptr %full\n"
        "  %res = call ptr %mk(i64 %v)\n"
        "  ret ptr %res\n"
        + overflow + raise_oserror + null + "}\n"
    )
    # update_int(key: int, value: int, flags: int) -> None, the same for writes.
    update_int = (
        "define ptr @pyebpf_update_int(ptr %self, ptr %args, i64 %nargs) {\n"
        "entry:\n" + prologue
        + three_args
        + int_arg("k", "%key", KEY_SIGNED, (KEY_MIN, KEY_MAX))
        + int_arg("v", "%value", VALUE_SIGNED, (VALUE_MIN, VALUE_MAX))
        + ctx_ptr("kb", KEY_BUF) + load_ctx("ksz", KEY_SIZE)
        + by_width("kw", "%ksz", store("k", "kb"), "vstore")
        + "vstore:\n"
        + ctx_ptr("vb", VALUE_BUF) + load_ctx("vsz", VALUE_SIZE)
        + by_width("vw", "%vsz", store("v", "vb"), "go")
        + "go:\n"
        + update_with_flags
        + overflow + raise_oserror + raise_args + null + "}\n"
    )
    return lookup + delete + update + next_key + lookup_int + update_int
