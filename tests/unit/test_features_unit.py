"""Feature probes without privileges: cpu_version must not raise."""

import errno
import os

from pyebpf import features
from pyebpf._native import syscalls as sc


def test_cpu_version_falls_back_to_v3_without_rights():
    features.cpu_version.cache_clear()
    try:
        with sc.replaced_funnel(lambda cmd, attr, size: -errno.EPERM):
            assert features.cpu_version() == "v3"
    finally:
        features.cpu_version.cache_clear()


def test_cpu_version_walks_down_the_probes():
    dummy = os.open(os.devnull, os.O_RDONLY)  # the "program fd" the probe will close
    answers = iter([-errno.EINVAL] * 2 + [dummy])  # v4 fails (fast + logged retry), v3 loads

    def funnel(cmd, attr, size):
        return next(answers, 0)

    features.cpu_version.cache_clear()
    try:
        with sc.replaced_funnel(funnel):
            assert features.cpu_version() == "v3"
    finally:
        features.cpu_version.cache_clear()


def test_kernel_version_parses_release(monkeypatch):
    monkeypatch.setattr(features, "kernel_release", lambda: "6.18.44-fc-v857")
    assert features.kernel_version() == (6, 18, 44)
    monkeypatch.setattr(features, "kernel_release", lambda: "weird")
    assert features.kernel_version() == (0, 0, 0)
