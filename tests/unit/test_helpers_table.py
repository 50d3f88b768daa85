"""The helper table: generated from the UAPI header, current, and compatible with what came before."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

import pyebpf as bpf
from pyebpf.lang.helpers import HELPERS, Helper, by_name

ROOT = Path(__file__).resolve().parents[2]
HEADER = Path("/usr/include/linux/bpf.h")
needs_header = pytest.mark.skipif(not HEADER.exists(), reason="needs linux-libc-dev's bpf.h")
ARG_KINDS = {"u64", "u32", "i32", "i64", "ctx", "map", "ptr", "buf", "size"}
RETURN_KINDS = {"u64", "i64", "i32", "u32", "void", "ptr"}


def _generator():
    spec = importlib.util.spec_from_file_location("gen_helpers", ROOT / "scripts" / "gen_helpers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_helpers"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _header_ids(text: str) -> dict[str, int]:
    """The FN mapper, read independently of the generator: FN(name) or FN(name, id, ##ctx)."""
    block = re.search(r"#define ___?BPF_FUNC_MAPPER\(FN[^)]*\)\s*\\\n((?:.*\\\n)*)", text)
    assert block is not None
    ids = {}
    for pos, m in enumerate(re.finditer(r"FN\((\w+)(?:, (\d+))?", block[1])):
        ids[m[1]] = int(m[2]) if m[2] else pos
    del ids["unspec"]
    return ids


@needs_header
def test_every_helper_of_the_header_has_its_id() -> None:
    ids = _header_ids(HEADER.read_text())
    assert len(ids) >= 209  # UAPI 6.1 lists ids 1..209
    for name, id_ in ids.items():
        assert name in HELPERS, name
        assert HELPERS[name].id == id_, name


def test_helpers_newer_than_6_1_are_in_the_supplement() -> None:
    assert HELPERS["ktime_get_tai_ns"].id == 208
    assert HELPERS["user_ringbuf_drain"].id == 209
    assert HELPERS["cgrp_storage_get"].id == 210
    assert HELPERS["cgrp_storage_delete"].id == 211
    assert max(h.id for h in HELPERS.values()) == 211
    assert sorted(h.id for h in HELPERS.values()) == list(range(1, 212))  # no gaps, no duplicates


@needs_header
def test_generated_table_is_current(tmp_path: Path) -> None:
    out = tmp_path / "table.py"
    assert _generator().main([str(HEADER), "-o", str(out)]) == 0
    committed = (ROOT / "src" / "pyebpf" / "lang" / "_helper_table.py").read_text()
    assert out.read_text() == committed, "rerun scripts/gen_helpers.py"


def test_generator_reads_the_numbered_mapper_of_newer_headers() -> None:
    header = """
 * Start of BPF helper function descriptions:
 *
 * u64 bpf_ktime_get_ns(void)
 * \tDescription
 * \t\tReturn the **time** since boot. More text.
 * \tReturn
 * \t\tCurrent *ktime*.
 *
 * long bpf_xdp_load_bytes(struct xdp_buff *xdp_md, u32 offset, void *buf, u32 len)
 * \tDescription
 * \t\tLoad bytes.
 *
 * long bpf_store(const void *from, u32 len, struct iphdr *iph, u32 iph_len)
 * \tDescription
 * \t\tStore.
 */
#define ___BPF_FUNC_MAPPER(FN, ctx...)\t\\
\tFN(unspec, 0, ##ctx)\t\\
\tFN(ktime_get_ns, 5, ##ctx)\t\\
\tFN(xdp_load_bytes, 189, ##ctx)\t\\
\tFN(store, 300, ##ctx)\t\\
\t/* */
"""
    entries = {e.name: e for e in _generator().build(header)}
    assert (entries["ktime_get_ns"].id, entries["ktime_get_ns"].args) == (5, "")
    assert entries["ktime_get_ns"].doc == "Return the time since boot."
    assert entries["xdp_load_bytes"].args == "ctx u32 buf size"
    assert entries["store"].args == "ptr u32 ptr u32"  # read-only pointers keep explicit lengths
    assert entries["cgrp_storage_delete"].id == 211  # the supplement fills in what is missing


@pytest.mark.parametrize(("name", "id_", "args", "returns"), [
    ("map_lookup_elem", 1, "map ptr", "ptr"),
    ("get_current_comm", 16, "buf size", "i64"),
    ("skb_load_bytes", 26, "ctx u32 buf size", "i64"),
    ("csum_diff", 28, "ptr u32 ptr u32 u32", "i64"),
    ("set_hash_invalid", 41, "ctx", "void"),
    ("probe_write_user", 36, "ptr ptr u32", "i64"),  # const source: explicit length
    ("xdp_adjust_tail", 65, "ctx i32", "i64"),
    ("perf_event_output", 25, "ctx map u64 buf size", "i64"),
    ("setsockopt", 49, "ptr i32 i32 buf size", "i64"),
    ("strtol", 105, "ptr u64 u64 ptr", "i64"),
    ("get_ns_current_pid_tgid", 120, "u64 u64 buf size", "i64"),
    ("ringbuf_output", 130, "map buf size u64", "i64"),
    ("inode_storage_delete", 146, "map ptr", "i32"),
    ("loop", 181, "u32 ptr ptr u64", "i64"),
    ("tcp_raw_gen_syncookie_ipv4", 204, "ptr ptr u32", "i64"),  # packet headers read in place
    ("cgrp_storage_get", 210, "map ptr ptr u64", "ptr"),
])
def test_signatures_checked_by_hand(name: str, id_: int, args: str, returns: str) -> None:
    h = HELPERS[name]
    assert (h.id, " ".join(h.args), h.returns) == (id_, args, returns)


# The table as it was before it was generated: programs, tests and docs call
# these with exactly these arguments.
BEFORE = """
    map_lookup_elem: map ptr -> ptr
    map_update_elem: map ptr ptr u64 -> i64
    map_delete_elem: map ptr -> i64
    probe_read: buf size ptr -> i64
    ktime_get_ns:  -> u64
    get_prandom_u32:  -> u32
    get_smp_processor_id:  -> u32
    skb_store_bytes: ctx u32 buf size u64 -> i64
    l3_csum_replace: ctx u32 u64 u64 u64 -> i64
    l4_csum_replace: ctx u32 u64 u64 u64 -> i64
    tail_call: ctx map u32 -> i64
    clone_redirect: ctx u32 u64 -> i64
    get_current_pid_tgid:  -> u64
    get_current_uid_gid:  -> u64
    get_current_comm: buf size -> i64
    get_cgroup_classid: ctx -> u32
    skb_vlan_push: ctx u32 u32 -> i64
    skb_vlan_pop: ctx -> i64
    get_route_realm: ctx -> u32
    redirect: u32 u64 -> i64
    perf_event_output: ctx map u64 buf size -> i64
    skb_load_bytes: ctx u32 buf size -> i64
    get_stackid: ctx map u64 -> i64
    csum_diff: ptr u32 ptr u32 u32 -> i64
    skb_change_proto: ctx u32 u64 -> i64
    skb_change_type: ctx u32 -> i64
    get_hash_recalc: ctx -> u32
    get_current_task:  -> u64
    current_task_under_cgroup: map u32 -> i64
    skb_change_tail: ctx u32 u64 -> i64
    skb_pull_data: ctx u32 -> i64
    csum_update: ctx u32 -> i64
    set_hash_invalid: ctx -> i64
    get_numa_node_id:  -> i64
    skb_change_head: ctx u32 u64 -> i64
    xdp_adjust_head: ctx i32 -> i64
    probe_read_str: buf size ptr -> i64
    get_socket_cookie: ctx -> u64
    get_socket_uid: ctx -> u32
    set_hash: ctx u32 -> i64
    skb_adjust_room: ctx i32 u32 u64 -> i64
    redirect_map: map u64 u64 -> i64
    sk_redirect_map: ctx map u32 u64 -> i64
    sock_map_update: ctx map ptr u64 -> i64
    xdp_adjust_meta: ctx i32 -> i64
    perf_event_read_value: map u64 buf size -> i64
    get_current_cgroup_id:  -> u64
    skb_cgroup_id: ctx -> u64
    xdp_adjust_tail: ctx i32 -> i64
    fib_lookup: ctx buf size u32 -> i64
    sock_hash_update: ctx map ptr u64 -> i64
    msg_redirect_hash: ctx map ptr u64 -> i64
    sk_redirect_hash: ctx map ptr u64 -> i64
    get_local_storage: map u64 -> ptr
    send_signal: u32 -> i64
    skb_output: ctx map u64 buf size -> i64
    probe_read_user: buf size ptr -> i64
    probe_read_kernel: buf size ptr -> i64
    probe_read_user_str: buf size ptr -> i64
    probe_read_kernel_str: buf size ptr -> i64
    send_signal_thread: u32 -> i64
    jiffies64:  -> u64
    get_ns_current_pid_tgid: u64 u64 buf size -> i64
    get_current_ancestor_cgroup_id: i32 -> u64
    ktime_get_boot_ns:  -> u64
    ringbuf_output: map buf size u64 -> i64
    ringbuf_reserve: map u64 u64 -> ptr
    ringbuf_submit: ptr u64 -> void
    ringbuf_discard: ptr u64 -> void
    ringbuf_query: map u64 -> u64
    skc_lookup_tcp: ctx buf size u64 u64 -> ptr
    get_task_stack: ptr buf size u64 -> i64
    d_path: ptr buf size -> i64
    snprintf: buf size ptr ptr u32 -> i64
    get_current_task_btf:  -> u64
    ktime_get_coarse_ns:  -> u64
    get_func_ip: ctx -> u64
    get_attach_cookie: ctx -> u64
    task_pt_regs: ptr -> u64
    loop: u32 ptr ptr u64 -> i64
    ktime_get_tai_ns:  -> u64
"""


def test_earlier_entries_keep_their_python_signature() -> None:
    for line in BEFORE.strip().splitlines():
        name, rest = line.strip().split(": ")
        args, returns = rest.split(" -> ")
        h = HELPERS[name]
        assert " ".join(h.args) == args, name
        if name == "set_hash_invalid":  # void in the header: R0 is unreadable after it
            assert h.returns == "void"
        else:
            assert h.returns == returns, name


def test_kinds_are_known_and_fit_a_helper_call() -> None:
    for h in HELPERS.values():
        assert set(h.args) <= ARG_KINDS, h.name
        assert h.returns in RETURN_KINDS, h.name
        assert len(h.args) <= 5, h.name  # BPF calls pass at most 5 registers
        assert not h.name.startswith("bpf_")
        for i, kind in enumerate(h.args):  # "size" always follows a "buf"
            assert (kind == "size") == (i > 0 and h.args[i - 1] == "buf"), h.name
        assert h.c_proto.split("(")[0].endswith("bpf_" + h.name), h.name


def test_helpers_are_reachable_from_the_package_with_docs() -> None:
    assert bpf.cgrp_storage_get is HELPERS["cgrp_storage_get"]
    assert isinstance(bpf.get_current_comm, Helper)
    assert by_name("sk_lookup_tcp") is HELPERS["sk_lookup_tcp"]
    assert by_name("no_such_helper") is None
    assert not isinstance(bpf.trace_printk, Helper)  # the intrinsic takes the format literal
    doc = bpf.get_current_comm.__doc__
    assert doc.startswith("bpf_get_current_comm (helper #16; buf) -> i64: ")
    assert "C: long bpf_get_current_comm(void *buf, u32 size_of_buf)" in doc
