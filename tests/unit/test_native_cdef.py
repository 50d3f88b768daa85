"""Struct layouts match the UAPI (offsets the kernel reads at)."""

from pyebpf._native.cdef import ffi


def off(struct: str, field: str) -> int:
    return ffi.offsetof(f"struct {struct}", field)


def test_prog_load_layout():
    assert off("bpf_attr_prog_load", "prog_name") == 48
    assert off("bpf_attr_prog_load", "func_info") == 80
    assert off("bpf_attr_prog_load", "fd_array") == 120
    assert off("bpf_attr_prog_load", "log_true_size") == 140


def test_other_attr_layouts():
    assert off("bpf_attr_map_create", "map_name") == 28
    assert off("bpf_attr_map_create", "map_extra") == 64
    assert off("bpf_attr_map_elem", "key") == 8
    assert off("bpf_attr_batch", "map_fd") == 36
    assert off("bpf_attr_test_run", "ctx_in") == 48
    assert off("bpf_attr_link_create", "target_btf_id") == 16
    assert off("bpf_attr_btf_load", "btf_log_true_size") == 28


def test_info_layouts():
    assert off("bpf_prog_info", "netns_dev") == 88
    assert off("bpf_prog_info", "run_time_ns") == 192
    assert off("bpf_prog_info", "verified_insns") == 216
    assert off("bpf_map_info", "btf_id") == 64
    assert off("bpf_map_info", "map_extra") == 80
    assert ffi.sizeof("struct perf_event_attr") == 136
    assert off("perf_event_attr", "config1") == 56


def test_committed_pre_parsed_declarations_are_current(tmp_path) -> None:
    from pyebpf._native import cdef

    out = tmp_path / "_ffi.py"
    cdef.generate(str(out))
    committed = cdef.__file__.replace("cdef.py", "_ffi.py")
    with open(committed) as f:
        assert f.read() == out.read_text(), "run: python -m pyebpf._native.cdef"
    assert cdef._current()
