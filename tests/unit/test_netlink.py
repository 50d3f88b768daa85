"""rtnetlink packing and parsing (no kernel): byte layouts checked against the UAPI structs."""

from __future__ import annotations

import struct

from pyebpf import netlink


def test_rtattr_pads_and_terminates() -> None:
    assert netlink.rtattr(netlink.TCA_KIND, "bpf") == struct.pack("=HH", 8, 1) + b"bpf\0"
    assert netlink.rtattr(netlink.TCA_KIND, "clsact") == struct.pack("=HH", 11, 1) + b"clsact\0\0"
    assert netlink.rtattr(netlink.TCA_BPF_FD, 5) == struct.pack("=HHI", 8, 6, 5)


def test_tcmsg_layout_and_clsact_handles() -> None:
    msg = netlink.tcmsg(7, 0xFFFF0000, netlink.TC_H_CLSACT, 0x10003)
    assert len(msg) == 20  # sizeof(struct tcmsg)
    assert struct.unpack("=BBHiIII", msg) == (0, 0, 0, 7, 0xFFFF0000, 0xFFFFFFF1, 0x10003)
    assert netlink.tc_parent("ingress") == 0xFFFFFFF2
    assert netlink.tc_parent("egress") == 0xFFFFFFF3


def test_filter_info_is_priority_and_network_order_protocol() -> None:
    assert netlink._filter_info(1) == 0x00010300  # TC_H_MAKE(1 << 16, htons(ETH_P_ALL))


def test_messages_and_nested_attrs_round_trip() -> None:
    options = netlink.rtattr(netlink.TCA_BPF_NAME, "prog") + netlink.rtattr(
        netlink.TCA_BPF_ID, 42) + netlink.rtattr(netlink.TCA_BPF_FLAGS, 1)
    body = (netlink.tcmsg(3, 1, netlink.tc_parent("ingress"), netlink._filter_info(5))
            + netlink.rtattr(netlink.TCA_KIND, "bpf") + netlink.rtattr(netlink.TCA_OPTIONS,
                                                                        options))
    data = netlink.nlmsg(netlink.RTM_NEWTFILTER, 0, 9, body) * 2
    msgs = list(netlink.parse_messages(data))
    assert [(t, s) for t, _f, s, _b in msgs] == [(netlink.RTM_NEWTFILTER, 9)] * 2
    f = netlink.parse_filter(msgs[0][3])
    assert f == netlink.TcFilter(3, 0xFFFFFFF2, 1, 5, 0x0003, "prog", 42, True)
    # the chain head of a dump (no handle) and other classifiers are skipped
    assert netlink.parse_filter(netlink.tcmsg(3, 0, 0) + netlink.rtattr(1, "bpf")) is None
    assert netlink.parse_filter(netlink.tcmsg(3, 1, 0) + netlink.rtattr(1, "u32")) is None


def test_error_with_extended_ack_message() -> None:
    request_header = netlink.nlmsg(netlink.RTM_NEWTFILTER, 5, 1, b"")
    payload = (struct.pack("=i", -22) + request_header
               + netlink.rtattr(netlink.NLMSGERR_ATTR_MSG, "Invalid handle"))
    flags = netlink.NLM_F_CAPPED | netlink.NLM_F_ACK_TLVS
    assert netlink.parse_error(flags, payload) == (22, "Invalid handle")
    assert netlink.parse_error(0, struct.pack("=i", 0) + request_header) == (0, "")
    assert netlink.parse_error(0, struct.pack("=i", -17) + request_header) == (17, "")


def test_truncated_input_stops_cleanly() -> None:
    assert netlink.parse_attrs(b"\x40\x00\x01\x00abc") == {}
    assert list(netlink.parse_messages(b"\xff\x00\x00\x00" + bytes(12))) == []
