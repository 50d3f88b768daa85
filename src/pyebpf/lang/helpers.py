"""Kernel helpers callable from programs: one table entry per helper.

Each :class:`Helper` has the kernel's id (``enum bpf_func_id`` in
``include/uapi/linux/bpf.h``), the Python-side argument list and a return
type.  Argument kinds:

- ``"u64" "u32" "i32" "i64"``: an integer, converted to that type;
- ``"ctx"``: the program's context (pass ``ctx``);
- ``"map"``: a map declared at module level;
- ``"ptr"``: a pointer (a context/map/packet pointer, or an integer address);
- ``"buf"``: a local array or struct; its address is passed and its size
  fills the helper's next (implicit) ``"size"`` argument;
- ``"size"``: implicit, never written by the user.

Inside programs the helpers are called as ``bpf.<name>(...)``, e.g.
``bpf.get_current_pid_tgid()`` or ``bpf.get_current_comm(comm)`` where
``comm: char[16]`` is a local.  Outside programs, calling one raises.
"""

from __future__ import annotations

from typing import Any

from .._record import Record, record

__all__ = ["Helper", "HELPERS", "by_name"]


@record
class Helper(Record):
    name: str
    id: int
    args: tuple[str, ...]
    returns: str = "u64"  # "u64" "i64" "i32" "u32" "void" "ptr"
    doc: str = ""

    @property  # type: ignore[misc]
    def __doc__(self) -> str:  # type: ignore[override]
        """What ``help(bpf.<helper>)`` shows: the kernel helper, its id and arguments."""
        args = ", ".join(self.user_args) or "no arguments"
        return f"bpf_{self.name} (helper #{self.id}; {args}) -> {self.returns}: {self.doc}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"bpf.{self.name}() runs only inside an eBPF program "
            "(a function decorated with @bpf.xdp, @bpf.tracepoint, ...)"
        )

    @property
    def user_args(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if a != "size")


def _h(name: str, id: int, args: str = "", returns: str = "u64", doc: str = "") -> Helper:
    return Helper(name, id, tuple(a for a in args.split() if a), returns, doc)


_TABLE = [
    _h("map_lookup_elem", 1, "map ptr", "ptr", "pointer to the value for a key, or None"),
    _h("map_update_elem", 2, "map ptr ptr u64", "i64", "insert or update; 0 on success"),
    _h("map_delete_elem", 3, "map ptr", "i64", "delete a key; 0 on success"),
    _h("probe_read", 4, "buf size ptr", "i64", "read kernel memory (legacy)"),
    _h("ktime_get_ns", 5, "", "u64", "monotonic clock, ns"),
    _h("get_prandom_u32", 7, "", "u32", "a pseudo-random u32"),
    _h("get_smp_processor_id", 8, "", "u32", "the current CPU"),
    _h("skb_store_bytes", 9, "ctx u32 buf size u64", "i64", "write bytes into the packet"),
    _h("l3_csum_replace", 10, "ctx u32 u64 u64 u64", "i64", "fix an L3 checksum"),
    _h("l4_csum_replace", 11, "ctx u32 u64 u64 u64", "i64", "fix an L4 checksum"),
    _h("tail_call", 12, "ctx map u32", "i64", "jump to a program in a ProgArray"),
    _h("clone_redirect", 13, "ctx u32 u64", "i64", "clone the skb to another interface"),
    _h("get_current_pid_tgid", 14, "", "u64", "tgid << 32 | pid of the current task"),
    _h("get_current_uid_gid", 15, "", "u64", "gid << 32 | uid of the current task"),
    _h("get_current_comm", 16, "buf size", "i64", "the current task's comm"),
    _h("get_cgroup_classid", 17, "ctx", "u32", "net_cls class id"),
    _h("skb_vlan_push", 18, "ctx u32 u32", "i64", "push a VLAN tag"),
    _h("skb_vlan_pop", 19, "ctx", "i64", "pop a VLAN tag"),
    _h("get_route_realm", 24, "ctx", "u32", "the route realm"),
    _h("redirect", 23, "u32 u64", "i64", "redirect the packet to an interface"),
    _h("perf_event_output", 25, "ctx map u64 buf size", "i64", "emit a perf event sample"),
    _h("skb_load_bytes", 26, "ctx u32 buf size", "i64", "copy packet bytes to a buffer"),
    _h("get_stackid", 27, "ctx map u64", "i64", "stack id in a StackTraceMap"),
    _h("csum_diff", 28, "ptr u32 ptr u32 u32", "i64", "checksum difference"),
    _h("skb_change_proto", 31, "ctx u32 u64", "i64", "change the skb protocol"),
    _h("skb_change_type", 32, "ctx u32", "i64", "change the packet type"),
    _h("get_hash_recalc", 34, "ctx", "u32", "the packet hash"),
    _h("get_current_task", 35, "", "u64", "address of the current task_struct"),
    _h("current_task_under_cgroup", 37, "map u32", "i64", "is current in the cgroup"),
    _h("skb_change_tail", 38, "ctx u32 u64", "i64", "resize the packet"),
    _h("skb_pull_data", 39, "ctx u32", "i64", "make bytes directly readable"),
    _h("csum_update", 40, "ctx u32", "i64", "update the checksum"),
    _h("set_hash_invalid", 41, "ctx", "i64", "invalidate the hash"),
    _h("get_numa_node_id", 42, "", "i64", "the current NUMA node"),
    _h("skb_change_head", 43, "ctx u32 u64", "i64", "grow headroom"),
    _h("xdp_adjust_head", 44, "ctx i32", "i64", "move xdp data start"),
    _h("probe_read_str", 45, "buf size ptr", "i64", "read a kernel string (legacy)"),
    _h("get_socket_cookie", 46, "ctx", "u64", "the socket cookie"),
    _h("get_socket_uid", 47, "ctx", "u32", "the socket owner's uid"),
    _h("set_hash", 48, "ctx u32", "i64", "set the packet hash"),
    _h("skb_adjust_room", 50, "ctx i32 u32 u64", "i64", "grow or shrink room"),
    _h("redirect_map", 51, "map u64 u64", "i64", "redirect through a devmap/cpumap/xskmap"),
    _h("sk_redirect_map", 52, "ctx map u32 u64", "i64", "redirect to a socket in a sockmap"),
    _h("sock_map_update", 53, "ctx map ptr u64", "i64", "insert the socket in a sockmap"),
    _h("xdp_adjust_meta", 54, "ctx i32", "i64", "move xdp metadata start"),
    _h("perf_event_read_value", 55, "map u64 buf size", "i64", "read a perf counter"),
    _h("get_current_cgroup_id", 80, "", "u64", "the current task's cgroup v2 id"),
    _h("skb_cgroup_id", 79, "ctx", "u64", "the skb's cgroup v2 id"),
    _h("xdp_adjust_tail", 65, "ctx i32", "i64", "move xdp data end"),
    _h("fib_lookup", 69, "ctx buf size u32", "i64", "route lookup"),
    _h("sock_hash_update", 70, "ctx map ptr u64", "i64", "insert the socket in a sockhash"),
    _h("msg_redirect_hash", 71, "ctx map ptr u64", "i64", "redirect an sk_msg"),
    _h("sk_redirect_hash", 72, "ctx map ptr u64", "i64", "redirect an skb to a socket"),
    _h("get_local_storage", 81, "map u64", "ptr", "cgroup local storage"),
    _h("send_signal", 109, "u32", "i64", "signal the current process"),
    _h("skb_output", 111, "ctx map u64 buf size", "i64", "emit an skb perf event"),
    _h("probe_read_user", 112, "buf size ptr", "i64", "read user memory"),
    _h("probe_read_kernel", 113, "buf size ptr", "i64", "read kernel memory"),
    _h("probe_read_user_str", 114, "buf size ptr", "i64", "read a user string"),
    _h("probe_read_kernel_str", 115, "buf size ptr", "i64", "read a kernel string"),
    _h("send_signal_thread", 117, "u32", "i64", "signal the current thread"),
    _h("jiffies64", 118, "", "u64", "jiffies"),
    _h("get_ns_current_pid_tgid", 120, "u64 u64 buf size", "i64", "pid/tgid in a pid namespace"),
    _h("get_current_ancestor_cgroup_id", 123, "i32", "u64", "ancestor cgroup id"),
    _h("ktime_get_boot_ns", 125, "", "u64", "boot clock, ns"),
    _h("ringbuf_output", 130, "map buf size u64", "i64", "copy data into a ring buffer"),
    _h("ringbuf_reserve", 131, "map u64 u64", "ptr", "reserve ring buffer space"),
    _h("ringbuf_submit", 132, "ptr u64", "void", "submit a reservation"),
    _h("ringbuf_discard", 133, "ptr u64", "void", "discard a reservation"),
    _h("ringbuf_query", 134, "map u64", "u64", "ring buffer state"),
    _h("skc_lookup_tcp", 99, "ctx buf size u64 u64", "ptr", "look up a TCP socket"),
    _h("get_task_stack", 141, "ptr buf size u64", "i64", "a task's stack"),
    _h("d_path", 147, "ptr buf size", "i64", "path of a struct path"),
    _h("snprintf", 165, "buf size ptr ptr u32", "i64", "format into a buffer"),
    _h("get_current_task_btf", 158, "", "u64", "the current task (BTF pointer)"),
    _h("ktime_get_coarse_ns", 160, "", "u64", "coarse monotonic clock, ns"),
    _h("get_func_ip", 173, "ctx", "u64", "address of the traced function"),
    _h("get_attach_cookie", 174, "ctx", "u64", "the link's cookie"),
    _h("task_pt_regs", 175, "ptr", "u64", "a task's registers"),
    _h("loop", 181, "u32 ptr ptr u64", "i64", "call a callback N times"),
    _h("ktime_get_tai_ns", 208, "", "u64", "TAI clock, ns"),
]

HELPERS: dict[str, Helper] = {h.name: h for h in _TABLE}


def by_name(name: str) -> Helper | None:
    return HELPERS.get(name)
