"""Section names -> program types (libbpf's convention)."""

import pytest

from pyebpf.constants import BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS, AttachType, ProgramType
from pyebpf.errors import ELFError
from pyebpf.sections import classify, is_subprogram_section

P, A = ProgramType, AttachType


@pytest.mark.parametrize(
    ("section", "prog_type", "attach_type", "target"),
    [
        ("socket", P.SOCKET_FILTER, None, ""),
        ("xdp", P.XDP, A.XDP, ""),
        ("tc", P.SCHED_CLS, None, ""),
        ("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, ""),
        ("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, ""),
        ("classifier", P.SCHED_CLS, None, ""),
        ("action", P.SCHED_ACT, None, ""),
        ("tracepoint/syscalls/sys_enter_execve", P.TRACEPOINT, None, "syscalls/sys_enter_execve"),
        ("tp/sched/sched_process_exec", P.TRACEPOINT, None, "sched/sched_process_exec"),
        ("raw_tracepoint/sched_switch", P.RAW_TRACEPOINT, None, "sched_switch"),
        ("raw_tp/sys_enter", P.RAW_TRACEPOINT, None, "sys_enter"),
        ("tp_btf/sched_process_exec", P.TRACING, A.TRACE_RAW_TP, "sched_process_exec"),
        ("kprobe/do_unlinkat", P.KPROBE, None, "do_unlinkat"),
        ("kretprobe/do_unlinkat", P.KPROBE, None, "do_unlinkat"),
        ("uprobe//bin/bash:readline", P.KPROBE, None, "/bin/bash:readline"),
        ("uretprobe/libc.so.6:malloc", P.KPROBE, None, "libc.so.6:malloc"),
        ("uprobe.multi", P.KPROBE, A.TRACE_UPROBE_MULTI, ""),
        ("usdt", P.KPROBE, None, ""),
        ("fentry/do_unlinkat", P.TRACING, A.TRACE_FENTRY, "do_unlinkat"),
        ("fexit/do_unlinkat", P.TRACING, A.TRACE_FEXIT, "do_unlinkat"),
        ("fmod_ret/bpf_modify_return_test", P.TRACING, A.MODIFY_RETURN, "bpf_modify_return_test"),
        ("lsm/file_open", P.LSM, A.LSM_MAC, "file_open"),
        ("lsm_cgroup/socket_bind", P.LSM, A.LSM_CGROUP, "socket_bind"),
        ("iter/task", P.TRACING, A.TRACE_ITER, "task"),
        ("perf_event", P.PERF_EVENT, None, ""),
        ("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, ""),
        ("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, ""),
        ("cgroup/skb", P.CGROUP_SKB, None, ""),
        ("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, ""),
        ("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, ""),
        ("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, ""),
        ("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, ""),
        ("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, ""),
        ("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, ""),
        ("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, ""),
        ("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, ""),
        ("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, ""),
        ("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, ""),
        ("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, ""),
        ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, ""),
        ("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, ""),
        ("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, ""),
        ("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, ""),
        ("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, ""),
        ("sk_skb", P.SK_SKB, None, ""),
        ("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, ""),
        ("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, ""),
        ("netfilter", P.NETFILTER, A.NETFILTER, ""),
        ("struct_ops/bpfp_ca_init", P.STRUCT_OPS, None, "bpfp_ca_init"),
        ("lwt_seg6local", P.LWT_SEG6LOCAL, None, ""),
        ("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, ""),
    ],
)
def test_classify(section, prog_type, attach_type, target):
    info = classify(section)
    assert (info.prog_type, info.attach_type, info.attach_to) == (prog_type, attach_type, target)
    assert not info.is_subprogram


def test_kind_tells_entry_from_return_probes():
    assert classify("kprobe/f").kind == "kprobe"
    assert classify("kretprobe/f").kind == "kretprobe"
    assert classify("uretprobe/x:f").kind == "uretprobe"


def test_sleepable_and_flags():
    assert classify("lsm.s/file_open").sleepable
    assert classify("iter.s/task").prog_flags == BPF_F_SLEEPABLE
    assert classify("syscall").sleepable
    assert not classify("lsm/file_open").sleepable
    assert classify("xdp.frags").prog_flags == BPF_F_XDP_HAS_FRAGS
    assert classify("xdp").prog_flags == 0


def test_btf_targets():
    for sec in ("fentry/f", "tp_btf/t", "lsm/h", "iter/task"):
        assert classify(sec).btf_target, sec
    for sec in ("kprobe/f", "tracepoint/a/b", "xdp"):
        assert not classify(sec).btf_target, sec


def test_expected_attach_type_number():
    assert classify("cgroup_skb/ingress").expected_attach_type == 0
    assert classify("tcx/egress").expected_attach_type == 47
    assert classify("kprobe/f").expected_attach_type == 0


def test_text_is_subprogram():
    assert is_subprogram_section(".text")
    assert classify(".text").is_subprogram


@pytest.mark.parametrize("bad", ["xdp2", "kprobex/f", "cgroup/nope", "", "socketx"])
def test_unknown_section_is_an_elf_error(bad):
    with pytest.raises(ELFError, match="unknown program section"):
        classify(bad)
