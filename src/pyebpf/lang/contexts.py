"""The context a program receives, per hook: its fields, offsets and types.

A :class:`ContextType` lists the fields a program may read as ``ctx.<name>``.
Offsets of the UAPI structs (``struct xdp_md``, ``struct __sk_buff``,
``struct bpf_raw_tracepoint_args``) are fixed by the kernel ABI; tracepoint
contexts are built from the running kernel's tracefs ``format`` file.

Field kinds:

- ``"int"``: an integer (or array of integers, indexed with constants);
- ``"packet"`` / ``"packet_end"``: a u32 the verifier turns into a packet
  pointer (``data``, ``data_end``, ``data_meta``);
- ``"data_loc"``: a tracepoint ``__data_loc`` field; reading it gives a
  pointer to the variable-length data (a string, usually).
"""

from __future__ import annotations

from functools import cache

from .._record import Record, factory, record
from ..types import BPFType, IntType, i8, i16, i32, i64, u8, u16, u32, u64

__all__ = ["CtxField", "ContextType", "XDP_MD", "SK_BUFF", "RAW_TRACEPOINT_ARGS",
           "tracepoint_context"]


@record
class CtxField(Record):
    name: str
    offset: int
    type: BPFType
    kind: str = "int"
    writable: bool = False


@record
class ContextType(Record):
    """What ``ctx`` is inside one kind of program."""

    name: str
    fields: dict[str, CtxField] = factory(dict)
    packet_access: bool = False  # ctx.header() / ctx.data are allowed

    def field(self, name: str) -> CtxField | None:
        return self.fields.get(name)


def _struct(name: str, spec: list[tuple[str, int, BPFType, str]], *, packet: bool = False,
            writable: tuple[str, ...] = ()) -> ContextType:
    return ContextType(
        name,
        {n: CtxField(n, off, t, kind, n in writable) for n, off, t, kind in spec},
        packet,
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
    return ContextType(f"trace_event_raw_{name}", fields)
