"""Bloom filter membership from user space (BPF_MAP_LOOKUP_ELEM with the value, no key)."""

import pytest

from pyebpf import maps as M
from pyebpf.types import u32, u64


def test_bloom_filter_membership():
    m = M.BloomFilterMap(u64, 1000, name="t_bloom").create()
    try:
        assert 77 not in m
        m.push(77)
        m.push(1 << 40)
        assert 77 in m and (1 << 40) in m
        misses = sum(1 for v in range(1000, 1100) if v in m)
        assert misses < 20  # false positives are possible, not many at this load
        assert "x" not in m
    finally:
        m.close()


def test_bloom_filter_wrong_value_size_is_not_a_member():
    m = M.BloomFilterMap(u32, 10, name="t_bloom2").create()
    try:
        m.push(5)
        assert 5 in m
        assert -1 not in m
        with pytest.raises(M.MapTypeError):
            m.push("no")
    finally:
        m.close()
