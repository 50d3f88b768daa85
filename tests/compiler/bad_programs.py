"""Programs pyebpf must refuse: each marks the line the error must point at with `# ERR`.

The test (test_errors.py) compiles each, and checks the reported file:line
and message.  Nothing here is ever loaded.
"""
# ruff: noqa
# fmt: off

import pyebpf as bpf
from pyebpf import u8, u32, u64, i32, char, net

counts = bpf.HashMap(u32, u64, max_entries=16)


class Pair(bpf.Struct):
    a: u32
    b: u32


pairs = bpf.HashMap(u32, Pair, max_entries=16)
LIMIT = 10


@bpf.xdp
def uses_list(ctx) -> int:
    xs = [1, 2, 3]  # ERR lists
    return 0


@bpf.xdp
def uses_dict(ctx) -> int:
    d = {1: 2}  # ERR dicts
    return 0


@bpf.xdp
def uses_float(ctx) -> int:
    x = 1.5  # ERR floating point
    return 0


@bpf.xdp
def uses_str(ctx) -> int:
    s = "hello"  # ERR str values
    return 0


@bpf.xdp
def uses_fstring(ctx) -> int:
    x = 1
    bpf.trace_printk(f"x={x}")  # ERR f-string
    return 0


@bpf.xdp
def true_division(ctx) -> int:
    x = ctx.ingress_ifindex / 2  # ERR gives a float
    return 0


@bpf.xdp
def power(ctx) -> int:
    x = ctx.ingress_ifindex ** 2  # ERR `**` is not supported
    return 0


@bpf.xdp
def uses_try(ctx) -> int:
    try:  # ERR no exceptions
        x = 1
    except Exception:
        x = 2
    return 0


@bpf.xdp
def uses_raise(ctx) -> int:
    raise ValueError("no")  # ERR no exceptions


@bpf.xdp
def uses_with(ctx) -> int:
    with open("x"):  # ERR context managers
        pass
    return 0


@bpf.xdp
def uses_lambda(ctx) -> int:
    f = lambda v: v  # ERR lambda
    return 0


@bpf.xdp
def undefined_name(ctx) -> int:
    return no_such_thing + 1  # ERR is not defined


@bpf.xdp
def mixed_signedness(ctx) -> int:
    a = u32(ctx.ingress_ifindex)
    b = i32(ctx.rx_queue_index)
    if a < b:  # ERR mixes signed and unsigned
        return 1
    return 0


@bpf.xdp
def unchecked_lookup(ctx) -> int:
    p = pairs.lookup(1)
    return p.a  # ERR may be None


@bpf.xdp
def unchecked_lookup_after_wrong_check(ctx) -> int:
    p = pairs.lookup(1)
    if p is None:
        x = 1
    return p.b  # ERR may be None


@bpf.xdp
def packet_read_without_bounds_check(ctx) -> int:
    data = ctx.data
    return data[12]  # ERR without a bounds check


@bpf.xdp
def loops_over_map(ctx) -> int:
    for k in counts:  # ERR only `for x in range
        pass
    return 0


@bpf.xdp
def rebinds_global(ctx) -> int:
    global LIMIT  # ERR `Global` statements
    return 0


@bpf.xdp
def nested_def(ctx) -> int:
    def inner():  # ERR @bpf.func
        return 1
    return 0


@bpf.xdp
def calls_print(ctx) -> int:
    print("hi")  # ERR not available in eBPF
    return 0


@bpf.xdp
def reads_map_item(ctx) -> int:
    return counts[1]  # ERR m.get(key, default)


@bpf.xdp
def helper_arity(ctx) -> int:
    return bpf.ktime_get_ns(1)  # ERR takes 0 argument


@bpf.xdp
def unknown_ctx_field(ctx) -> int:
    return ctx.no_such_field  # ERR has no field `no_such_field`


@bpf.xdp
def unknown_struct_field(ctx) -> int:
    p = Pair(a=1)
    return p.c  # ERR has no field `c`


@bpf.xdp
def retyped_local(ctx) -> int:
    x = u32(1)
    x = Pair(a=1)  # ERR cannot convert
    return 0


@bpf.xdp
def generator(ctx) -> int:
    yield 1  # ERR generators


@bpf.xdp
def while_else(ctx) -> int:
    i = 0
    while i < 3:  # ERR while ... else
        i += 1
    else:
        i = 0
    return 0


@bpf.xdp
def tuple_unpack(ctx) -> int:
    a, b = 1, 2  # ERR tuple unpacking
    return 0


@bpf.xdp
def index_out_of_range(ctx) -> int:
    buf: u8[4]
    return buf[4]  # ERR out of range


@bpf.xdp
def literal_too_wide_for_division(ctx) -> int:
    x = u8(ctx.ingress_ifindex)
    return x // 300  # ERR does not fit in u8


@bpf.xdp
def two_params(ctx, extra) -> int:  # ERR takes one parameter
    return 0


@bpf.xdp
def is_on_int(ctx) -> int:
    x = 1
    if x is None:  # ERR only pointers
        return 1
    return 0


@bpf.xdp
def header_unchecked(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)
    return eth.proto  # ERR may be None


@bpf.socket_filter
def socket_filter_packet_access(ctx) -> int:
    eth = ctx.header(net.EthHdr, 0)  # ERR no direct packet access
    return 0


@bpf.xdp
def unreachable(ctx) -> int:
    return 0
    x = 1  # ERR unreachable code


def recurse(n):
    return recurse(n - 1)  # ERR calls itself


@bpf.xdp
def uses_recursion(ctx) -> int:
    return recurse(3)  # ERR-AT recurse


@bpf.func
def unannotated(x) -> u32:  # ERR needs a type
    return x


@bpf.xdp
def calls_unannotated(ctx) -> int:
    return unannotated(1)  # ERR-AT unannotated


def six(a, b, c, d, e, f):  # ERR at most 5
    return a


@bpf.xdp
def calls_six(ctx) -> int:
    return six(1, 2, 3, 4, 5, 6)  # ERR-AT six


LIMITS = bpf.Const(u32[2], [1, 2])
ORIGIN = bpf.Const(Pair)
scratch = bpf.Global(u32[2])


@bpf.xdp
def stores_into_const_element(ctx) -> int:
    LIMITS[0] = 5  # ERR `LIMITS` is a bpf.Const
    return 0


@bpf.xdp
def adds_to_const_field(ctx) -> int:
    ORIGIN.value.a += 1  # ERR `ORIGIN` is a bpf.Const
    return 0


@bpf.xdp
def copies_into_const(ctx) -> int:
    p = Pair(a=1)
    ORIGIN.value = p  # ERR `ORIGIN` is a bpf.Const
    return 0


@bpf.xdp
def atomic_on_const(ctx) -> int:
    bpf.atomic_add(LIMITS[1], 1)  # ERR `LIMITS` is a bpf.Const
    return 0


@bpf.xdp
def atomic_at_variable_index(ctx) -> int:
    bpf.atomic_add(scratch[ctx.rx_queue_index], 1)  # ERR atomics need a constant index
    return 0


class Other(bpf.Struct):
    a: u32


def two_structs(x):
    if x:
        return Pair(a=1)
    return Other(a=2)  # ERR gives a Other, but two_structs() returns a Pair (line


@bpf.xdp
def returns_two_struct_types(ctx) -> int:
    p = two_structs(ctx.rx_queue_index)  # ERR-AT two_structs
    return 0


def struct_then_int(x):
    if x:
        return Pair(a=1)
    return x  # ERR gives a u32, but struct_then_int() returns a Pair


@bpf.xdp
def returns_struct_and_int(ctx) -> int:
    p = struct_then_int(ctx.rx_queue_index)  # ERR-AT struct_then_int
    return 0


def int_then_struct(x):
    if x:
        return x
    return Pair(a=1)  # ERR gives a Pair, but int_then_struct() returns a u32


@bpf.xdp
def returns_int_and_struct(ctx) -> int:
    return int_then_struct(ctx.rx_queue_index)  # ERR-AT int_then_struct


def bare_then_struct(x):
    if x:
        return  # ERR gives no value, but bare_then_struct() returns a Pair
    return Pair(a=1)


@bpf.xdp
def returns_nothing_and_struct(ctx) -> int:
    bare_then_struct(ctx.rx_queue_index)  # ERR-AT bare_then_struct
    return 0


def annotated_pair(x) -> Pair:
    return u8[4]()  # ERR gives a u8[4], but annotated_pair() returns a Pair


@bpf.xdp
def breaks_its_annotation(ctx) -> int:
    annotated_pair(1)  # ERR-AT annotated_pair
    return 0


def may_fall_off(x):
    if x:
        return Pair(a=1)
    x += 1  # ERR can end here without returning a Pair


@bpf.xdp
def struct_function_falls_off(ctx) -> int:
    may_fall_off(ctx.rx_queue_index)  # ERR-AT may_fall_off
    return 0


def new_pair(x):
    return Pair(a=x)


@bpf.xdp
def writes_a_result(ctx) -> int:
    new_pair(ctx.rx_queue_index).b = 2  # ERR result is a temporary value
    return 0


@bpf.func
def func_returns_struct(x: u32) -> Pair:  # ERR BPF calls return an integer
    return Pair(a=x)


@bpf.xdp
def calls_func_returning_struct(ctx) -> int:
    p = func_returns_struct(1)  # ERR-AT func_returns_struct
    return 0


def two_args(a, b):
    return a + b


@bpf.xdp
def too_few_arguments(ctx) -> int:
    return two_args(1)  # ERR takes 2 argument


@bpf.func
def takes_pair(p: Pair) -> u32:
    return p.a


@bpf.func(linkage="global")
def global_takes_pair(p: Pair) -> u32:
    return p.a


PAIR_CONST = bpf.Const(Pair)
other_values = bpf.HashMap(u32, Other, max_entries=4)


@bpf.xdp
def passes_unchecked_lookup(ctx) -> int:
    p = pairs.lookup(0)
    return takes_pair(p)  # ERR `p` may be None


@bpf.xdp
def passes_wrong_struct(ctx) -> int:
    o = other_values.lookup(0)
    if o is None:
        return 0
    return takes_pair(o)  # ERR takes a Pair by reference, not a *Other


@bpf.xdp
def passes_an_integer_for_a_struct(ctx) -> int:
    return takes_pair(ctx.rx_queue_index)  # ERR takes a Pair by reference, not a u32


@bpf.xdp
def passes_unchecked_packet(ctx) -> int:
    return takes_pair(ctx.data)  # ERR bounds-check it first


@bpf.xdp
def passes_const_to_global(ctx) -> int:
    return global_takes_pair(PAIR_CONST)  # ERR this memory is read-only


@bpf.func
def takes_cb(cb: u32[5]) -> u32:
    return cb[0]


@bpf.tc
def passes_ctx_field(ctx) -> int:
    return takes_cb(ctx.cb)  # ERR context field cannot be passed by reference


@bpf.func
def two_contexts(a, b) -> u32:  # ERR `b` of @bpf.func two_contexts() needs a type
    return 0


@bpf.xdp
def calls_two_contexts(ctx) -> int:
    return two_contexts(ctx, ctx)  # ERR-AT two_contexts


@bpf.func
def wants_ctx(c, x: u32) -> u32:
    return x


@bpf.xdp
def passes_number_for_ctx(ctx) -> int:
    return wants_ctx(ctx, 1) + wants_ctx(1, ctx)  # ERR takes the program's context


@bpf.tp_btf("sched_switch")
def stores_to_a_btf_argument(ctx) -> int:
    ctx.next.prio = 1  # ERR may only read kernel structs
    return 0


@bpf.kprobe("do_nanosleep")
def stores_through_a_plain_address(ctx) -> int:
    task = bpf.kernel.task_struct(bpf.get_current_task())
    task.prio += 1  # ERR plain address, read with bpf_probe_read_kernel
    return 0
