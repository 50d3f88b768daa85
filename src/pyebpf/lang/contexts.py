"""The context a program receives, per hook: its fields, offsets and types.

A :class:`ContextType` lists the fields a program may read as ``ctx.<name>``.
Offsets of the UAPI structs (``struct xdp_md``, ``struct __sk_buff``,
``struct bpf_raw_tracepoint_args``) are fixed by the kernel ABI; tracepoint
contexts are built from the running kernel's tracefs ``format`` file.

Probe contexts (kprobes, uprobes, perf events) are the architecture's
``struct pt_regs``, exposed as ``ctx.arg(n)`` / ``ctx.ret`` / ``ctx.ip`` /
``ctx.sp`` from a per-architecture table (checked against kernel BTF by a
test).  BTF-typed contexts (``tp_btf``, fentry/fexit, LSM, iterators) are
arrays of u64 whose names come from the running kernel's BTF.

Field kinds:

- ``"int"``: an integer (or array of integers, indexed with constants);
- ``"packet"`` / ``"packet_end"``: a u32 the verifier turns into a packet
  pointer (``data``, ``data_end``, ``data_meta``);
- ``"data_loc"``: a tracepoint ``__data_loc`` field; reading it gives a
  pointer to the variable-length data (a string, usually).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from .._record import Record, factory, record
from ..types import BPFType, Field, IntType, Struct, i8, i16, i32, i64, u8, u16, u32, u64

__all__ = ["CtxField", "ContextType", "XDP_MD", "SK_BUFF", "RAW_TRACEPOINT_ARGS",
           "tracepoint_context", "pt_regs_context", "perf_event_context", "tracing_context",
           "iter_context", "BPF_SOCK", "BPF_SOCK_ADDR", "BPF_SOCK_OPS", "SK_MSG_MD", "NF_CTX",
           "PT_REGS_LAYOUTS", "usdt_context", "syscall_context", "SK_LOOKUP", "FlowKeys",
           "FLOW_DISSECTOR_SKB", "BPF_SYSCTL", "BPF_SOCKOPT_GET", "BPF_SOCKOPT_SET",
           "CGROUP_DEV_CTX", "SK_REUSEPORT_MD", "KernelWrites", "READ_ONLY_KERNEL"]


@record
class CtxField(Record):
    name: str
    offset: int
    type: BPFType
    kind: str = "int"
    writable: bool = False


@record
class KernelWrites(Record):
    """Which kernel memory a program type may store to through trusted BTF pointers.

    The verifier decides with its program type's ``btf_struct_access``
    callback; program types without one get "only read is supported".
    ``object`` is the struct the verifier must see behind the pointer (a
    pointer to a struct at its offset 0, e.g. ``sock`` inside ``tcp_sock``,
    points at the same bytes); ``fields`` the members whose first byte a
    store may start at (dotted for nested ones; None: anywhere in
    ``object``), ``ranges`` the members a store may start anywhere inside.
    ``object=None``: no stores at all.  ``decider`` names the kernel code
    for messages, ``instead`` says what to do instead.
    """

    object: str | None
    fields: tuple[str, ...] | None = None
    ranges: tuple[str, ...] = ()
    decider: str = "the verifier"
    instead: str = ""


# Tracing program types (kprobe, tracepoint, perf_event, fentry/fexit/LSM/tp_btf, iterators)
# have no btf_struct_access: the verifier's check_ptr_to_btf_access says "only read is
# supported" for any store through a BTF pointer (kernel/bpf/verifier.c).
READ_ONLY_KERNEL = KernelWrites(
    None, decider='the verifier\'s check_ptr_to_btf_access: "only read is supported"',
    instead="keep the value in a map or a bpf.Global; change kernel objects through a kfunc "
            "made for it (bpf_probe_write_user writes user memory, never kernel memory)")


@record
class ContextType(Record):
    """What ``ctx`` is inside one kind of program."""

    name: str
    fields: dict[str, CtxField] = factory(dict)
    packet_access: bool = False  # ctx.header() / ctx.data are allowed
    # ``ctx.arg(n)`` calls this (inlined) function with ``(ctx, n)`` instead of reading a
    # field; the ``arg<n>`` field gives the result's type (USDT arguments, decoded at run time)
    arg_reader: Any = None
    # A program whose parameters are its arguments (struct_ops methods): parameter i reads
    # field ``params[i]``, and the program returns ``result`` (None: nothing, a void member).
    params: tuple[str, ...] | None = None
    result: BPFType | None = None
    # Stores through trusted kernel-struct pointers: what the verifier allows in this
    # program type, or None when pyebpf does not know (the verifier decides at load).
    kernel_writes: KernelWrites | None = None

    def field(self, name: str) -> CtxField | None:
        return self.fields.get(name)


def _struct(name: str, spec: list[tuple[str, int, BPFType, str]], *, packet: bool = False,
            writable: tuple[str, ...] = (), kernel_writes: KernelWrites | None = None
            ) -> ContextType:
    return ContextType(
        name,
        {n: CtxField(n, off, t, kind, n in writable) for n, off, t, kind in spec},
        packet,
        kernel_writes=kernel_writes,
    )


# struct xdp_md (include/uapi/linux/bpf.h)
XDP_MD = _struct(
    "xdp_md",
    [
        ("data", 0, u32, "packet"),
        ("data_end", 4, u32, "packet_end"),
        ("data_meta", 8, u32, "packet"),
        ("ingress_ifindex", 12, u32, "int"),
        ("rx_queue_index", 16, u32, "int"),
        ("egress_ifindex", 20, u32, "int"),
    ],
    packet=True,
)

# struct __sk_buff (include/uapi/linux/bpf.h)
_SK_BUFF_FIELDS: list[tuple[str, int, BPFType, str]] = [
    ("len", 0, u32, "int"),
    ("pkt_type", 4, u32, "int"),
    ("mark", 8, u32, "int"),
    ("queue_mapping", 12, u32, "int"),
    ("protocol", 16, u32, "int"),
    ("vlan_present", 20, u32, "int"),
    ("vlan_tci", 24, u32, "int"),
    ("vlan_proto", 28, u32, "int"),
    ("priority", 32, u32, "int"),
    ("ingress_ifindex", 36, u32, "int"),
    ("ifindex", 40, u32, "int"),
    ("tc_index", 44, u32, "int"),
    ("cb", 48, u32[5], "int"),
    ("hash", 68, u32, "int"),
    ("tc_classid", 72, u32, "int"),
    ("data", 76, u32, "packet"),
    ("data_end", 80, u32, "packet_end"),
    ("napi_id", 84, u32, "int"),
    ("family", 88, u32, "int"),
    ("remote_ip4", 92, u32, "int"),
    ("local_ip4", 96, u32, "int"),
    ("remote_ip6", 100, u32[4], "int"),
    ("local_ip6", 116, u32[4], "int"),
    ("remote_port", 132, u32, "int"),
    ("local_port", 136, u32, "int"),
    ("data_meta", 140, u32, "packet"),
    ("tstamp", 152, u64, "int"),
    ("wire_len", 160, u32, "int"),
    ("gso_segs", 164, u32, "int"),
    ("gso_size", 176, u32, "int"),
    ("tstamp_type", 180, u8, "int"),
    ("hwtstamp", 184, u64, "int"),
]

SK_BUFF = _struct("__sk_buff", _SK_BUFF_FIELDS, packet=True,
                  writable=("mark", "priority", "tc_index", "cb", "tc_classid", "queue_mapping"))
# Socket filters see __sk_buff but may not read packet memory directly.
SK_BUFF_NO_PACKET = _struct(
    "__sk_buff", [f for f in _SK_BUFF_FIELDS if f[3] == "int"], packet=False, writable=("cb",)
)

# struct bpf_raw_tracepoint_args { __u64 args[0]; }
RAW_TRACEPOINT_ARGS = _struct("bpf_raw_tracepoint_args", [("args", 0, u64[12], "int")])


def _pointer_to(target: BPFType) -> BPFType:
    """A context field holding a pointer the verifier hands out (``__bpf_md_ptr``)."""
    from ..types import PointerType

    return PointerType(target, "mem")


def _int_for(size: int, signed: bool) -> IntType:
    return {
        (1, False): u8, (2, False): u16, (4, False): u32, (8, False): u64,
        (1, True): i8, (2, True): i16, (4, True): i32, (8, True): i64,
    }.get((size, signed), u64)


@cache
def tracepoint_context(category: str, name: str) -> ContextType:
    """The context of ``tracepoint/<category>/<name>``, from its tracefs format."""
    from .. import tracefs

    fields: dict[str, CtxField] = {}
    for f in tracefs.event_format(category, name):
        if f.is_common:
            continue
        if f.is_data_loc:
            fields[f.name] = CtxField(f.name, f.offset, u32, "data_loc")
            continue
        if f.array_len:
            elem_size = max(f.size // f.array_len, 1)
            elem = _int_for(elem_size, bool(f.signed))
            if "char" in f.c_type and elem_size == 1:
                from ..types import char

                elem = char
            fields[f.name] = CtxField(f.name, f.offset, elem[f.array_len])
            continue
        fields[f.name] = CtxField(f.name, f.offset, _int_for(f.size, bool(f.signed)))
    return ContextType(f"trace_event_raw_{name}", fields, kernel_writes=READ_ONLY_KERNEL)


# --------------------------------------------------------------------------- probes: pt_regs

# Byte offsets in the kernel's ``struct pt_regs`` (what kprobe, uprobe and
# perf_event programs see) of the argument registers in calling-convention
# order, the return-value register, the instruction and stack pointers, and
# sizeof(struct pt_regs).  x86_64: arch/x86/include/asm/ptrace.h (di, si, dx,
# cx, r8, r9; ax; ip; sp).  aarch64: struct user_pt_regs (regs[0..7]; regs[0];
# pc; sp).  riscv64: struct user_regs_struct (a0..a7; a0; pc; sp).
PT_REGS_LAYOUTS: dict[str, tuple[tuple[int, ...], int, int, int, int]] = {
    "x86_64": ((112, 104, 96, 88, 72, 64), 80, 128, 152, 168),
    "aarch64": (tuple(8 * i for i in range(8)), 0, 256, 248, 272),
    "riscv64": (tuple(8 * i for i in range(10, 18)), 80, 0, 16, 256),
}


def _machine() -> str:
    import os

    return os.uname().machine


def _pt_regs_fields(machine: str) -> list[tuple[str, int, BPFType, str]]:
    try:
        args, ret, ip, sp, _size = PT_REGS_LAYOUTS[machine]
    except KeyError:
        raise ValueError(f"probe contexts are not described for {machine!r} yet; "
                         f"known: {', '.join(PT_REGS_LAYOUTS)}") from None
    fields: list[tuple[str, int, BPFType, str]] = [
        (f"arg{i}", off, u64, "int") for i, off in enumerate(args)
    ]
    fields += [("ret", ret, u64, "int"), ("ip", ip, u64, "int"), ("sp", sp, u64, "int")]
    return fields


@cache
def pt_regs_context(machine: str | None = None) -> ContextType:
    """``struct pt_regs`` of ``machine`` (default: this one): ``ctx.arg(0..5)``, ``ctx.ret``, ``ip``, ``sp``."""
    return _struct("pt_regs", _pt_regs_fields(machine or _machine()),
                   kernel_writes=READ_ONLY_KERNEL)


@cache
def perf_event_context(machine: str | None = None) -> ContextType:
    """``struct bpf_perf_event_data``: the registers, then ``sample_period`` and ``addr``."""
    machine = machine or _machine()
    size = PT_REGS_LAYOUTS[machine][4] if machine in PT_REGS_LAYOUTS else 0
    fields = _pt_regs_fields(machine)
    fields += [("sample_period", size, u64, "int"), ("addr", size + 8, u64, "int")]
    return _struct("bpf_perf_event_data", fields, kernel_writes=READ_ONLY_KERNEL)


def usdt_context(binary: str, provider: str, name: str,
                 machine: str | None = None) -> ContextType:
    """The context of ``@bpf.usdt(binary, provider, name)``: ``ctx.arg(n)`` are the probe's arguments.

    Read from the binary's notes when it is compiled: one ``arg<n>`` per
    argument of the probe, typed by its spec's size and sign (``-4@...`` is
    an ``i32``; ``u64``/``i64`` when sites disagree), decoded at run time by
    :func:`pyebpf.usdt_args.read_arg`; plus ``ctx.ip`` and ``ctx.sp``.  When
    the binary or probe cannot be read yet (a library found only through
    ``attach(pid=...)``), all twelve possible arguments are ``u64``, and
    reading one the probe lacks gives 0.
    """
    import os

    machine = machine or _machine()
    try:
        from ..symbols import find_binary

        path = os.path.realpath(find_binary(binary))
        st = os.stat(path)
        key: tuple[object, ...] = (path, st.st_mtime_ns, st.st_size)
    except Exception:  # not found here: the attach reports it, with the pid's view
        key = (binary,)
    return _usdt_context(key, provider, name, machine)


@cache
def _usdt_context(key: tuple[object, ...], provider: str, name: str,
                  machine: str) -> ContextType:
    from .. import sdt, usdt_args

    types: list[set[tuple[int, bool]]] | None = None
    if len(key) > 1:
        sites = [p for p in sdt.probes(str(key[0])) if (p.provider, p.name) == (provider, name)]
        for site in sites:
            try:
                args = [(a.size, a.signed) for a in site.arguments(machine)]
            except ValueError:  # reported at attach, naming the spec, if arguments are read
                args = [(8, False)] * len(site.args.split())
            if types is None:
                types = [set() for _ in args]
            types.extend(set() for _ in range(len(args) - len(types)))
            for i, t in enumerate(args):
                types[i].add(t)
    count = f"{len(types)} arguments" if types is not None else "arguments unknown when compiled"
    if types is None:
        types = [{(8, False)}] * sdt.MAX_ARGS
    fields = {}
    for i, seen in enumerate(types):
        ty = _int_for(*next(iter(seen))) if len(seen) == 1 else \
            (i64 if any(signed for _, signed in seen) else u64)
        fields[f"arg{i}"] = CtxField(f"arg{i}", 0, ty, "usdt")
    for f in _pt_regs_fields(machine):
        if f[0] in ("ip", "sp"):
            fields[f[0]] = CtxField(*f)
    return ContextType(f"usdt {provider}:{name} ({count})", fields,
                       arg_reader=usdt_args.read_arg)


# --------------------------------------------------------------------------- BTF-typed contexts


def _btf_int_type(btf: object, type_id: int) -> BPFType:
    """The type of an 8-byte BTF context slot: a trusted kernel-struct pointer when the
    parameter is a struct pointer (``ctx.task.tgid`` reads directly), else u64 / i64."""
    from .. import btf as _btf

    assert isinstance(btf, _btf.BTF)
    t = btf.resolved(type_id)
    if isinstance(t, _btf.Ptr) and t.type and isinstance(btf.resolved(t.type), _btf.Struct):
        from ..kernel import _type_of

        return _type_of(type_id)
    signed = isinstance(t, _btf.Int) and t.signed or isinstance(t, _btf.Enum) and t.signed
    return i64 if signed else u64


def _args_context(name: str, params: list[tuple[str, int]], btf: object,
                  ret_type: int | None) -> ContextType:
    n = len(params)
    fields = {"args": CtxField("args", 0, u64[max(n, 1)])}
    for i, (pname, ptype) in enumerate(params):
        if pname and pname not in fields:
            fields[pname] = CtxField(pname, 8 * i, _btf_int_type(btf, ptype))
        fields[f"arg{i}"] = CtxField(f"arg{i}", 8 * i, _btf_int_type(btf, ptype))
    if ret_type is not None:
        fields["ret"] = CtxField("ret", 8 * n, _btf_int_type(btf, ret_type) if ret_type else u64)
    return ContextType(name, fields, kernel_writes=READ_ONLY_KERNEL)


@cache
def tracing_context(kind: str, target: str) -> ContextType:
    """The context of a BTF-typed program: ``ctx.args[i]``, ``ctx.<param>``, ``ctx.arg(i)``.

    ``kind`` is ``"tp_btf"`` (the prototype behind ``btf_trace_<target>``,
    without its leading ``void *``), ``"fentry"``/``"fexit"``/``"fmod_ret"``
    (kernel function ``target``), or ``"lsm"`` (``bpf_lsm_<target>``).
    fexit, fmod_ret and LSM programs also get ``ctx.ret`` (the slot after
    the arguments).
    """
    from .. import btf as _btf

    vmlinux = _btf.BTF.kernel()
    try:
        if kind == "tp_btf":
            proto = vmlinux.func_proto(target, tracepoint=True)
            params = proto.params[1:]  # the first is the tracepoint's `void *__data`
            # btf_trace_<name> has no parameter names; the kernel's __bpf_trace_<name>
            # wrapper has the same parameters, named.
            try:
                named = vmlinux.func_proto(f"__bpf_trace_{target}").params[1:]
            except (KeyError, _btf.BTFError, LookupError):
                named = ()
            if len(named) == len(params):
                params = named
        else:
            fn = f"bpf_lsm_{target}" if kind == "lsm" else target
            proto = vmlinux.func_proto(fn)
            params = proto.params
    except (KeyError, _btf.BTFError, LookupError):
        what = {"tp_btf": "BTF tracepoint", "lsm": "LSM hook"}.get(kind, "kernel function")
        raise _btf.BTFError(f"no {what} {target!r} in the kernel's BTF") from None
    with_ret = kind in ("fexit", "fmod_ret", "lsm")
    return _args_context(f"{kind}/{target}", [(p.name, p.type) for p in params if p.type],
                         vmlinux, proto.return_type if with_ret else None)


@cache
def iter_context(target: str) -> ContextType:
    """``struct bpf_iter__<target>``: ``ctx.meta`` (the seq_file's ``bpf_iter_meta *``)
    and the iterated object (``ctx.task`` for ``iter/task``), each a u64 pointer."""
    from .. import btf as _btf

    vmlinux = _btf.BTF.kernel()
    try:
        st = vmlinux.find(f"bpf_iter__{target}", "struct")
    except (KeyError, _btf.BTFError, LookupError):
        raise _btf.BTFError(f"no BPF iterator {target!r} in the kernel's BTF "
                            f"(struct bpf_iter__{target} is missing)") from None
    from ..kernel import _type_of
    from ..types import PointerType

    fields = {}
    for m in vmlinux.members(st.id):
        # each member is wrapped in an anonymous union (__bpf_md_ptr)
        inner = vmlinux.members(m.type) if not m.name else ()
        for name, off, type_id in ([(m.name, 0, m.type)] if m.name else
                                   [(i.name, 0, i.type) for i in inner]):
            ty = _type_of(type_id)
            if isinstance(ty, PointerType) and name != "meta":
                # The iterated object is NULL on the final call: check it for None.
                ty = PointerType(ty.target, ty.kind, nullable=True)
            fields[name] = CtxField(name, m.byte_offset + off, ty)
    return ContextType(f"bpf_iter__{target}", fields, kernel_writes=READ_ONLY_KERNEL)


# --------------------------------------------------------------------------- socket contexts

# struct bpf_sock (include/uapi/linux/bpf.h): cgroup/sock_create, post_bind
BPF_SOCK = _struct(
    "bpf_sock",
    [
        ("bound_dev_if", 0, u32, "int"), ("family", 4, u32, "int"), ("type", 8, u32, "int"),
        ("protocol", 12, u32, "int"), ("mark", 16, u32, "int"), ("priority", 20, u32, "int"),
        ("src_ip4", 24, u32, "int"), ("src_ip6", 28, u32[4], "int"),
        ("src_port", 44, u32, "int"), ("dst_port", 48, u32, "int"),
        ("dst_ip4", 52, u32, "int"), ("dst_ip6", 56, u32[4], "int"),
        ("state", 72, u32, "int"), ("rx_queue_mapping", 76, i32, "int"),
    ],
    writable=("bound_dev_if", "mark", "priority"),
)

# struct bpf_sock_addr: cgroup/connect4/6, bind4/6, sendmsg4/6, ...
BPF_SOCK_ADDR = _struct(
    "bpf_sock_addr",
    [
        ("user_family", 0, u32, "int"), ("user_ip4", 4, u32, "int"),
        ("user_ip6", 8, u32[4], "int"), ("user_port", 24, u32, "int"),
        ("family", 28, u32, "int"), ("type", 32, u32, "int"), ("protocol", 36, u32, "int"),
        ("msg_src_ip4", 40, u32, "int"), ("msg_src_ip6", 44, u32[4], "int"),
    ],
    writable=("user_ip4", "user_ip6", "user_port", "msg_src_ip4", "msg_src_ip6"),
)

# struct bpf_sock_ops: sockops (the ``args``/``reply`` union starts at 4)
_SOCK_OPS_U32 = ["is_fullsock", "snd_cwnd", "srtt_us", "bpf_sock_ops_cb_flags", "state", "rtt_min", "snd_ssthresh", "rcv_nxt", "snd_nxt", "snd_una", "mss_cache", "ecn_flags", "rate_delivered", "rate_interval_us", "packets_out", "retrans_out", "total_retrans", "segs_in", "data_segs_in", "segs_out", "data_segs_out", "lost_out", "sacked_out", "sk_txhash"]
BPF_SOCK_OPS = _struct(
    "bpf_sock_ops",
    [
        ("op", 0, u32, "int"), ("args", 4, u32[4], "int"), ("reply", 4, u32, "int"),
        ("replylong", 4, u32[4], "int"), ("family", 20, u32, "int"),
        ("remote_ip4", 24, u32, "int"), ("local_ip4", 28, u32, "int"),
        ("remote_ip6", 32, u32[4], "int"), ("local_ip6", 48, u32[4], "int"),
        ("remote_port", 64, u32, "int"), ("local_port", 68, u32, "int"),
        *((name, 72 + 4 * i, u32, "int") for i, name in enumerate(_SOCK_OPS_U32)),
        ("bytes_received", 168, u64, "int"), ("bytes_acked", 176, u64, "int"),
        ("skb_len", 208, u32, "int"), ("skb_tcp_flags", 212, u32, "int"),
    ],
    writable=("reply", "replylong", "bpf_sock_ops_cb_flags"),
)

# struct sk_msg_md: sk_msg (data/data_end are 64-bit __bpf_md_ptr fields)
SK_MSG_MD = _struct(
    "sk_msg_md",
    [
        ("data", 0, u64, "packet64"), ("data_end", 8, u64, "packet_end64"),
        ("family", 16, u32, "int"), ("remote_ip4", 20, u32, "int"),
        ("local_ip4", 24, u32, "int"), ("remote_ip6", 28, u32[4], "int"),
        ("local_ip6", 44, u32[4], "int"), ("remote_port", 60, u32, "int"),
        ("local_port", 64, u32, "int"), ("size", 68, u32, "int"),
    ],
    packet=True,
)

# struct bpf_nf_ctx: netfilter (both members are kernel pointers)
NF_CTX = _struct("bpf_nf_ctx", [("state", 0, u64, "int"), ("skb", 8, u64, "int")])


# --------------------------------------------------------------------------- more hooks


def syscall_context(struct: Any = None) -> ContextType:
    """The context of ``@bpf.syscall(ctx=Args)``: the fields of the user's ``bpf.Struct``.

    A ``SEC("syscall")`` program's context is a pointer to memory the caller
    hands in (``prog.test_run(ctx=bytes(Args(...)))``, or ``bpf_sys_bpf``'s
    caller); every field is readable and writable.  Without a struct the
    program takes no context fields.
    """
    if struct is None:
        return ContextType("syscall (no ctx struct)")
    from ..types import StructType

    st = getattr(struct, "__bpf_type__", None)
    if not isinstance(st, StructType):
        raise TypeError(f"@bpf.syscall(ctx=...) takes a bpf.Struct subclass, not {struct!r}")
    return ContextType(f"syscall ctx {st.name}",
                       {f.name: CtxField(f.name, f.offset, f.type, "int", True) for f in st.fields})


# struct bpf_sk_lookup (include/uapi/linux/bpf.h): sk_lookup.  ``sk`` is the socket
# already selected (a pointer, 0 when none); remote_port is a __be16 followed by 16
# bits of padding, local_port a host-order __u32.
SK_LOOKUP = _struct(
    "bpf_sk_lookup",
    [
        ("sk", 0, u64, "int"), ("cookie", 0, u64, "int"),
        ("family", 8, u32, "int"), ("protocol", 12, u32, "int"),
        ("remote_ip4", 16, u32, "int"), ("remote_ip6", 20, u32[4], "int"),
        ("remote_port", 36, u16, "int"), ("local_ip4", 40, u32, "int"),
        ("local_ip6", 44, u32[4], "int"), ("local_port", 60, u32, "int"),
        ("ingress_ifindex", 64, u32, "int"),
    ],
)


class FlowKeys(Struct):
    """``struct bpf_flow_keys`` (include/uapi/linux/bpf.h): what a flow dissector fills in.

    Ports and addresses are in network byte order.  The IPv4 and IPv6
    addresses share memory (a union in C): ``ipv4_src``/``ipv4_dst`` are the
    first two words of ``ipv6_src``, in programs and here.
    """

    nhoff: u16
    thoff: u16
    addr_proto: u16
    is_frag: u8
    is_first_frag: u8
    is_encap: u8
    ip_proto: u8
    n_proto: u16
    sport: u16
    dport: u16
    ipv6_src: u32[4]  # type: ignore[valid-type]
    ipv6_dst: u32[4]  # type: ignore[valid-type]
    flags: u32
    flow_label: u32

    @property
    def ipv4_src(self) -> int:
        """The IPv4 source address (network byte order, as the program wrote it)."""
        return int(self.ipv6_src[0])

    @property
    def ipv4_dst(self) -> int:
        """The IPv4 destination address (network byte order)."""
        return int(self.ipv6_src[1])


# The union's IPv4 view, for programs: ``keys.ipv4_src`` reads and writes like a field.
FlowKeys.__bpf_type__.by_name["ipv4_src"] = Field("ipv4_src", u32, 16)  # type: ignore[attr-defined]
FlowKeys.__bpf_type__.by_name["ipv4_dst"] = Field("ipv4_dst", u32, 20)  # type: ignore[attr-defined]

# A flow dissector's __sk_buff: only data, data_end and flow_keys may be read
# (flow_dissector_is_valid_access); flow_keys is a __bpf_md_ptr to struct bpf_flow_keys.
FLOW_DISSECTOR_SKB = ContextType(
    "__sk_buff (flow dissector)",
    {
        "data": CtxField("data", 76, u32, "packet"),
        "data_end": CtxField("data_end", 80, u32, "packet_end"),
        "flow_keys": CtxField("flow_keys", 144, _pointer_to(FlowKeys.__bpf_type__), "int"),
    },
    packet_access=True,
)

# struct bpf_sysctl: cgroup/sysctl.  file_pos may be written (where a read or write starts).
BPF_SYSCTL = _struct("bpf_sysctl", [("write", 0, u32, "int"), ("file_pos", 4, u32, "int")],
                     writable=("file_pos",))

# struct bpf_sockopt: cgroup/getsockopt and cgroup/setsockopt.  optval/optval_end are
# __bpf_md_ptr packet-style pointers to the option's buffer (also ctx.data/ctx.data_end,
# so ctx.header(T, 0) reads it); sk is the socket (a pointer).
_SOCKOPT_FIELDS: list[tuple[str, int, BPFType, str]] = [
    ("sk", 0, u64, "int"),
    ("optval", 8, u64, "packet64"), ("optval_end", 16, u64, "packet_end64"),
    ("data", 8, u64, "packet64"), ("data_end", 16, u64, "packet_end64"),
    ("level", 24, i32, "int"), ("optname", 28, i32, "int"),
    ("optlen", 32, i32, "int"), ("retval", 36, i32, "int"),
]
# What each direction may write (cg_sockopt_is_valid_access): setsockopt may rewrite
# the level, name and length; getsockopt the length and the return value.
BPF_SOCKOPT_SET = _struct("bpf_sockopt", _SOCKOPT_FIELDS, packet=True,
                          writable=("level", "optname", "optlen"))
BPF_SOCKOPT_GET = _struct("bpf_sockopt", _SOCKOPT_FIELDS, packet=True,
                          writable=("optlen", "retval"))

# struct bpf_cgroup_dev_ctx: cgroup/dev.  access_type is (BPF_DEVCG_ACC_* << 16) |
# BPF_DEVCG_DEV_* (ACC: MKNOD 1, READ 2, WRITE 4; DEV: BLOCK 1, CHAR 2).
CGROUP_DEV_CTX = _struct("bpf_cgroup_dev_ctx", [("access_type", 0, u32, "int"),
                                                ("major", 4, u32, "int"),
                                                ("minor", 8, u32, "int")])

# struct sk_reuseport_md: sk_reuseport.  data/data_end cover the packet from the
# transport header on; sk / migrating_sk are socket pointers.
SK_REUSEPORT_MD = _struct(
    "sk_reuseport_md",
    [
        ("data", 0, u64, "packet64"), ("data_end", 8, u64, "packet_end64"),
        ("len", 16, u32, "int"), ("eth_protocol", 20, u32, "int"),
        ("ip_protocol", 24, u32, "int"), ("bind_inany", 28, u32, "int"),
        ("hash", 32, u32, "int"), ("sk", 40, u64, "int"), ("migrating_sk", 48, u64, "int"),
    ],
    packet=True,
)
