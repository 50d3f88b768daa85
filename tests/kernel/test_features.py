"""Feature probes against this machine's kernel (KERNEL.md lists what it has)."""

from __future__ import annotations

import pytest

from pyebpf import features
from pyebpf.constants import AttachType, MapType, ProgramType
from pyebpf.errors import NotSupportedError


def test_cpu_version_is_v4_on_6_18():
    assert features.kernel_version() >= (6, 6, 0)
    assert features.cpu_version() == "v4"


@pytest.mark.parametrize("map_type", [
    MapType.HASH, MapType.ARRAY, MapType.LRU_HASH, MapType.LPM_TRIE, MapType.RINGBUF,
    MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER, MapType.ARRAY_OF_MAPS,
    MapType.HASH_OF_MAPS, MapType.TASK_STORAGE, MapType.SK_STORAGE, MapType.ARENA,
    MapType.USER_RINGBUF, MapType.STACK_TRACE, MapType.CGRP_STORAGE, MapType.STRUCT_OPS,
])
def test_map_types_present(map_type):
    assert features.has_map_type(map_type)


@pytest.mark.parametrize("prog_type", [
    ProgramType.SOCKET_FILTER, ProgramType.XDP, ProgramType.SCHED_CLS, ProgramType.TRACEPOINT,
    ProgramType.SYSCALL, ProgramType.NETFILTER, ProgramType.CGROUP_SOCK_ADDR,
    ProgramType.CGROUP_SOCKOPT, ProgramType.SK_LOOKUP, ProgramType.TRACING, ProgramType.LSM,
])
def test_prog_types_present(prog_type):
    assert features.has_prog_type(prog_type)


def test_unknown_prog_type_is_absent():
    assert features.has_prog_type.__wrapped__(200) is False


def test_helpers():
    assert features.has_helper(ProgramType.SCHED_CLS, 1)  # map_lookup_elem
    assert not features.has_helper(ProgramType.XDP, 99_999)
    # bpf_probe_write_user (36) is refused under integrity lockdown (KERNEL.md)
    assert not features.has_helper(ProgramType.SOCKET_FILTER, 36)


def test_attach_types_and_batch_ops():
    assert features.has_attach_type(ProgramType.SCHED_CLS, AttachType.TCX_INGRESS) in (True, False)
    assert features.has_attach_type(ProgramType.CGROUP_SKB, AttachType.CGROUP_INET_EGRESS)
    assert not features.has_attach_type(ProgramType.CGROUP_SOCK_ADDR, AttachType.XDP)
    assert features.has_batch_ops()


def test_require():
    features.require("hash maps", features.has_map_type(MapType.HASH), since="3.19")
    with pytest.raises(NotSupportedError) as exc:
        features.require("teleportation", False, since="9.9")
    assert exc.value.feature == "teleportation" and exc.value.since == "9.9"
    assert features.kernel_release() in str(exc.value)


def test_cpu_version_is_remembered_per_boot(tmp_path, monkeypatch):
    monkeypatch.setenv("PYEBPF_CACHE_DIR", str(tmp_path))
    features.cpu_version.cache_clear()
    try:
        probed = features.cpu_version()
        (record,) = tmp_path.glob("cpu-*")
        assert record.read_text() == probed
        # A new process reads the record instead of probing: simulate one.
        features.cpu_version.cache_clear()
        record.write_text("v2")
        assert features.cpu_version() == "v2"
        # Garbage is ignored and the kernel probed again.
        features.cpu_version.cache_clear()
        record.write_text("nonsense")
        assert features.cpu_version() == probed
    finally:
        features.cpu_version.cache_clear()
