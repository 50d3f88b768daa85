"""Feature probes without privileges: cpu_version must not raise."""

import errno
import os

from pyebpf import features
from pyebpf._native import syscalls as sc
from pyebpf.constants import ProgramType


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


def test_helper_available_without_rights_is_unknown_and_asks_nothing(monkeypatch):
    asked = []
    monkeypatch.setattr(features, "_privileged", lambda: False)
    monkeypatch.setattr(features, "_helper_probe", lambda *a: asked.append(a) or False)
    monkeypatch.setattr(features, "_helper_answers", {})
    assert features.helper_available(ProgramType.XDP, 0, 124) is None
    assert asked == []


def test_helper_record_survives_a_torn_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PYEBPF_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PYEBPF_CACHE", "1")
    record = features._boot_record("helpers")
    record.write_text('{"6/37/0/124": fal')  # a writer died half-way
    assert features._recorded_helpers() == {}
    features._remember_helper("6/37/0/124", False)
    features._remember_helper("3/0/0/124", True)  # merged, not overwritten
    assert features._recorded_helpers() == {"6/37/0/124": False, "3/0/0/124": True}
    record.write_text('{"6/37/0/124": "no", "3/0/0/124": true}')  # not ours: ignored
    assert features._recorded_helpers() == {"3/0/0/124": True}


def test_program_kind_names_the_decorator():
    assert features.program_kind(ProgramType.SCHED_CLS) == "tc"
    assert features.program_kind(ProgramType.KPROBE) == "kprobe/uprobe"
    assert features.program_kind(ProgramType.LWT_IN) == "lwt_in"
