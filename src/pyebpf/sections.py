"""ELF section names -> program type, expected attach type and attach target.

pyebpf follows libbpf's section naming convention (``SEC("xdp")``,
``SEC("tracepoint/syscalls/sys_enter_execve")``, ...), so the same table
serves objects from pyebpf's compiler and from clang.  A name in the table
either matches exactly (``"xdp"``) or, when it ends with ``+``, also takes a
target after a slash (``"kprobe/do_unlinkat"``; the bare ``"kprobe"`` is
accepted and leaves the target for the caller).

Functions in ``.text`` are subprograms: they are only ever linked into
entry programs.
"""

from __future__ import annotations

from pyebpf._record import Record, record
from pyebpf.constants import BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS, AttachType, ProgramType
from pyebpf.errors import ELFError

__all__ = ["SectionInfo", "classify", "is_subprogram_section", "SUBPROGRAM_SECTION"]

SUBPROGRAM_SECTION = ".text"


@record
class SectionInfo(Record):
    """What a section name says about the program in it.

    ``kind`` is the table entry that matched without its ``+`` (``"kretprobe"``,
    ``"cgroup/connect4"``): attach code dispatches on it.  ``attach_type`` is
    ``None`` when the program type has no expected attach type.
    ``attach_to`` is the target after the slash (``"do_unlinkat"``,
    ``"syscalls/sys_enter_execve"``, ``"/bin/bash:readline"``).
    ``btf_target`` says the target is a kernel BTF name the loader resolves
    to ``attach_btf_id`` (fentry, tp_btf, lsm, iter, ...).
    """

    section: str
    kind: str
    prog_type: ProgramType
    attach_type: AttachType | None
    attach_to: str = ""
    sleepable: bool = False
    btf_target: bool = False
    prog_flags: int = 0
    is_subprogram: bool = False

    @property
    def expected_attach_type(self) -> int:
        """``attach_type`` as the number ``BPF_PROG_LOAD`` wants (0 when there is none)."""
        return int(self.attach_type) if self.attach_type is not None else 0


P = ProgramType
A = AttachType
SLEEPABLE, BTF, FRAGS = 1, 2, 4

# name (``+`` = takes an optional "/target"), program type, expected attach type, flags
_TABLE: tuple[tuple[str, ProgramType, AttachType | None, int], ...] = (
    ("socket", P.SOCKET_FILTER, None, 0),
    ("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE, 0),
    ("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT, 0),
    ("kprobe+", P.KPROBE, None, 0),
    ("kretprobe+", P.KPROBE, None, 0),
    ("uprobe+", P.KPROBE, None, 0),
    ("uprobe.s+", P.KPROBE, None, SLEEPABLE),
    ("uretprobe+", P.KPROBE, None, 0),
    ("uretprobe.s+", P.KPROBE, None, SLEEPABLE),
    ("kprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, 0),
    ("kretprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI, 0),
    ("kprobe.session+", P.KPROBE, A.TRACE_KPROBE_SESSION, 0),
    ("uprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, 0),
    ("uretprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI, 0),
    ("uprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, SLEEPABLE),
    ("uretprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, SLEEPABLE),
    ("uprobe.session+", P.KPROBE, A.TRACE_UPROBE_SESSION, 0),
    ("ksyscall+", P.KPROBE, None, 0),
    ("kretsyscall+", P.KPROBE, None, 0),
    ("usdt+", P.KPROBE, None, 0),
    ("usdt.s+", P.KPROBE, None, SLEEPABLE),
    ("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS, 0),
    ("tc/egress", P.SCHED_CLS, A.TCX_EGRESS, 0),
    ("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS, 0),
    ("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS, 0),
    ("tc", P.SCHED_CLS, None, 0),
    ("classifier", P.SCHED_CLS, None, 0),
    ("action", P.SCHED_ACT, None, 0),
    ("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY, 0),
    ("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER, 0),
    ("tracepoint+", P.TRACEPOINT, None, 0),
    ("tp+", P.TRACEPOINT, None, 0),
    ("raw_tracepoint+", P.RAW_TRACEPOINT, None, 0),
    ("raw_tp+", P.RAW_TRACEPOINT, None, 0),
    ("raw_tracepoint.w+", P.RAW_TRACEPOINT_WRITABLE, None, 0),
    ("raw_tp.w+", P.RAW_TRACEPOINT_WRITABLE, None, 0),
    ("tp_btf+", P.TRACING, A.TRACE_RAW_TP, BTF),
    ("fentry+", P.TRACING, A.TRACE_FENTRY, BTF),
    ("fmod_ret+", P.TRACING, A.MODIFY_RETURN, BTF),
    ("fexit+", P.TRACING, A.TRACE_FEXIT, BTF),
    ("fentry.s+", P.TRACING, A.TRACE_FENTRY, BTF | SLEEPABLE),
    ("fmod_ret.s+", P.TRACING, A.MODIFY_RETURN, BTF | SLEEPABLE),
    ("fexit.s+", P.TRACING, A.TRACE_FEXIT, BTF | SLEEPABLE),
    ("freplace+", P.EXT, None, BTF),
    ("lsm+", P.LSM, A.LSM_MAC, BTF),
    ("lsm.s+", P.LSM, A.LSM_MAC, BTF | SLEEPABLE),
    ("lsm_cgroup+", P.LSM, A.LSM_CGROUP, BTF),
    ("iter+", P.TRACING, A.TRACE_ITER, BTF),
    ("iter.s+", P.TRACING, A.TRACE_ITER, BTF | SLEEPABLE),
    ("syscall", P.SYSCALL, None, SLEEPABLE),
    ("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, FRAGS),
    ("xdp/devmap", P.XDP, A.XDP_DEVMAP, 0),
    ("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, FRAGS),
    ("xdp/cpumap", P.XDP, A.XDP_CPUMAP, 0),
    ("xdp.frags", P.XDP, A.XDP, FRAGS),
    ("xdp", P.XDP, A.XDP, 0),
    ("perf_event", P.PERF_EVENT, None, 0),
    ("lwt_in", P.LWT_IN, None, 0),
    ("lwt_out", P.LWT_OUT, None, 0),
    ("lwt_xmit", P.LWT_XMIT, None, 0),
    ("lwt_seg6local", P.LWT_SEG6LOCAL, None, 0),
    ("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS, 0),
    ("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER, 0),
    ("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT, 0),
    ("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT, 0),
    ("sk_skb", P.SK_SKB, None, 0),
    ("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT, 0),
    ("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2, 0),
    ("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR, 0),
    ("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS, 0),
    ("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS, 0),
    ("cgroup/skb", P.CGROUP_SKB, None, 0),
    ("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, 0),
    ("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE, 0),
    ("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE, 0),
    ("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND, 0),
    ("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND, 0),
    ("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND, 0),
    ("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND, 0),
    ("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT, 0),
    ("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT, 0),
    ("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT, 0),
    ("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG, 0),
    ("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG, 0),
    ("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG, 0),
    ("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG, 0),
    ("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG, 0),
    ("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG, 0),
    ("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME, 0),
    ("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME, 0),
    ("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME, 0),
    ("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME, 0),
    ("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME, 0),
    ("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME, 0),
    ("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL, 0),
    ("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT, 0),
    ("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT, 0),
    ("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE, 0),
    ("struct_ops+", P.STRUCT_OPS, None, 0),
    ("struct_ops.s+", P.STRUCT_OPS, None, SLEEPABLE),
    ("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP, 0),
    ("netfilter", P.NETFILTER, A.NETFILTER, 0),
)

_EXACT = {name: row for row in _TABLE if not (name := row[0]).endswith("+")}
_PREFIX = {row[0][:-1]: row for row in _TABLE if row[0].endswith("+")}


def is_subprogram_section(section: str) -> bool:
    """True for ``.text``, where subprograms (BPF-to-BPF call targets) live."""
    return section == SUBPROGRAM_SECTION


def _info(section: str, row: tuple[str, ProgramType, AttachType | None, int],
          target: str) -> SectionInfo:
    name, prog_type, attach_type, flags = row
    return SectionInfo(
        section=section,
        kind=name.rstrip("+"),
        prog_type=prog_type,
        attach_type=attach_type,
        attach_to=target,
        sleepable=bool(flags & SLEEPABLE),
        btf_target=bool(flags & BTF),
        prog_flags=(BPF_F_SLEEPABLE if flags & SLEEPABLE else 0)
        | (BPF_F_XDP_HAS_FRAGS if flags & FRAGS else 0),
    )


def classify(section: str) -> SectionInfo:
    """Describe the program in ``section``; raises :class:`ELFError` for an unknown name.

    >>> classify("kprobe/do_unlinkat").attach_to
    'do_unlinkat'
    >>> classify("xdp").prog_type
    <ProgramType.XDP: 6>
    """
    if is_subprogram_section(section):
        return SectionInfo(section, "subprogram", ProgramType.UNSPEC, None, is_subprogram=True)
    row = _EXACT.get(section)
    if row is not None:
        return _info(section, row, "")
    prefix, _, target = section.partition("/")
    row = _PREFIX.get(prefix)
    if row is not None:
        return _info(section, row, target)
    known = ", ".join(sorted({r[0].rstrip("+") for r in _TABLE}))
    raise ELFError(f"unknown program section {section!r}; known sections: {known}")
