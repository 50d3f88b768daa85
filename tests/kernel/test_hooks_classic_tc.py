"""Classic TC (clsact qdisc + direct-action cls_bpf filter over rtnetlink) on a veth pair.

Every test works on the ``veth0`` ends of a fresh ``VethPair``: nothing on
the host's own interfaces is touched.
"""

from __future__ import annotations

import subprocess

import pytest

import pyebpf as bpf
from pyebpf import features, netlink, u64
from pyebpf.links import in_netns

from .netns import VethPair
from .udp_match import tc_udp_to

PORT = 4545
counts = bpf.ArrayMap(u64, max_entries=4)


def reset() -> None:
    if not counts.loaded:
        counts.create()
    for i in range(4):
        counts[i] = 0




@bpf.tc(direction="ingress")
def count_in(ctx) -> int:
    if tc_udp_to(ctx, PORT):
        counts.increment(0)
    return bpf.TC_ACT_OK


@bpf.tc(direction="ingress")
def drop_in(ctx) -> int:
    if tc_udp_to(ctx, PORT):
        counts.increment(1)
        return bpf.TC_ACT_SHOT
    return bpf.TC_ACT_OK


@bpf.tc(direction="egress")
def count_out(ctx) -> int:
    if tc_udp_to(ctx, PORT):
        counts.increment(2)
    return bpf.TC_ACT_OK


def filters(pair: VethPair, netns: str, direction: str) -> list[netlink.TcFilter]:
    index = pair.ifindex(netns)
    with in_netns(netns):
        sock = netlink.RouteSocket()
    with sock:
        return netlink.list_bpf_filters(sock, index, netlink.tc_parent(direction))


def qdiscs(netns: str) -> str:
    return subprocess.run(["tc", "-n", netns, "qdisc", "show", "dev", "veth0"],
                          capture_output=True, text=True).stdout


def test_classic_ingress_counts_drops_and_detaches() -> None:
    reset()
    with VethPair() as pair:
        with count_in.attach(mode="classic", netns=pair.ns_b, ifname=pair.ifname) as link:
            assert link.kind == "tc-classic-ingress" and "clsact" in qdiscs(pair.ns_b)
            [f] = filters(pair, pair.ns_b, "ingress")
            assert f.prog_id == count_in.id and f.direct_action and f.name == "count_in"
            assert f.protocol == 0x0003  # ETH_P_ALL
            assert pair.send_udp(5, PORT) == 5
            assert counts[0] == 5
        # detached: the filter and the qdisc it brought are gone, traffic is not counted
        assert filters(pair, pair.ns_b, "ingress") == [] and "clsact" not in qdiscs(pair.ns_b)
        assert pair.send_udp(2, PORT) == 2 and counts[0] == 5
        with drop_in.attach(mode="classic", netns=pair.ns_b, ifname=pair.ifname):
            assert pair.send_udp(4, PORT, timeout=0.5) == 0  # TC_ACT_SHOT is enforced
        assert counts[1] == 4
        assert pair.send_udp(3, PORT) == 3 and counts[1] == 4
    count_in.close()
    drop_in.close()


def test_classic_update_swaps_the_program_in_place() -> None:
    reset()
    with VethPair() as pair:
        with count_in.attach(mode="classic", netns=pair.ns_b, ifname=pair.ifname,
                             priority=7, handle=3) as link:
            assert pair.send_udp(3, PORT) == 3
            link.update(drop_in)
            [f] = filters(pair, pair.ns_b, "ingress")
            assert (f.handle, f.priority, f.prog_id) == (3, 7, drop_in.id)
            assert pair.send_udp(2, PORT, timeout=0.5) == 0
        assert (counts[0], counts[1]) == (3, 2)
        assert filters(pair, pair.ns_b, "ingress") == []
    count_in.close()
    drop_in.close()


def test_classic_egress_and_an_existing_qdisc_is_left_alone() -> None:
    reset()
    with VethPair() as pair:
        subprocess.run(["tc", "-n", pair.ns_a, "qdisc", "add", "dev", "veth0", "clsact"],
                       check=True)
        with count_out.attach(mode="classic", netns=pair.ns_a, ifname=pair.ifname):
            assert pair.send_udp(6, PORT) == 6
        assert counts[2] == 6
        # the qdisc was there before: detaching removed only the filter
        assert filters(pair, pair.ns_a, "egress") == [] and "clsact" in qdiscs(pair.ns_a)
    count_out.close()


def test_tc_attach_falls_back_to_classic_without_tcx(monkeypatch: pytest.MonkeyPatch) -> None:
    reset()
    monkeypatch.setattr(features, "has_tcx", lambda: False)
    with VethPair() as pair:
        with count_in.attach(netns=pair.ns_b, ifname=pair.ifname) as link:
            assert link.kind == "tc-classic-ingress"
            assert pair.send_udp(2, PORT) == 2
        assert counts[0] == 2
    count_in.close()


def test_tc_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="TC mode must be"):
        count_in.attach(mode="legacy", ifname="lo")
    count_in.close()


@bpf.xdp
def not_tc(ctx) -> int:
    return bpf.XDP_PASS


def test_classic_errors_name_the_problem_and_leave_nothing_behind() -> None:
    from pyebpf.links import attach_tc_classic

    with VethPair() as pair:
        with pytest.raises(bpf.AttachError, match="no network interface 'nope'"):
            attach_tc_classic(count_in, ifname="nope", netns=pair.ns_b)
        with pytest.raises(bpf.AttachError, match=r"adding a cls_bpf filter .*sched_cls"):
            attach_tc_classic(not_tc, ifname=pair.ifname, netns=pair.ns_b)
        # the qdisc created for the refused filter was removed again
        assert "clsact" not in qdiscs(pair.ns_b)
    count_in.close()
    not_tc.close()


def test_tcx_probe_sees_this_kernel() -> None:
    # Linux 6.6+ has tcx links: the probe's ifindex-0 link gets ENODEV, not EINVAL.
    assert features.has_tcx() == (features.kernel_version() >= (6, 6, 0))
