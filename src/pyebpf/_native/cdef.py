"""C declarations for the system calls pyebpf makes, declared once.

``union bpf_attr`` (UAPI ``include/uapi/linux/bpf.h``) is declared here as
one struct per command, with the kernel's field names, so each wrapper in
:mod:`pyebpf._native.syscalls` fills only the piece its command reads and
passes ``sizeof`` of that piece: the kernel accepts a shorter attr and
treats missing trailing fields as zero.  Pointers travel as ``uint64_t``
(``__aligned_u64`` in the UAPI).  cffi's ABI mode is used, so nothing is
compiled at install time; the parsed form is committed as ``_ffi.py``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ffi", "libc"]

CDEF = r"""
long syscall(long number, ...);
int ioctl(int fd, unsigned long request, ...);

/* BPF_MAP_CREATE */
struct bpf_attr_map_create {
    uint32_t map_type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    uint32_t inner_map_fd;
    uint32_t numa_node;
    char     map_name[16];
    uint32_t map_ifindex;
    uint32_t btf_fd;
    uint32_t btf_key_type_id;
    uint32_t btf_value_type_id;
    uint32_t btf_vmlinux_value_type_id;
    uint64_t map_extra;
    int32_t  value_type_btf_obj_fd;
    int32_t  map_token_fd;
};

/* BPF_MAP_*_ELEM, BPF_MAP_GET_NEXT_KEY, BPF_MAP_FREEZE */
struct bpf_attr_map_elem {
    uint32_t map_fd;
    uint64_t key;
    union {
        uint64_t value;
        uint64_t next_key;
    };
    uint64_t flags;
};

/* BPF_MAP_*_BATCH */
struct bpf_attr_batch {
    uint64_t in_batch;
    uint64_t out_batch;
    uint64_t keys;
    uint64_t values;
    uint32_t count;
    uint32_t map_fd;
    uint64_t elem_flags;
    uint64_t flags;
};

/* BPF_PROG_LOAD */
struct bpf_attr_prog_load {
    uint32_t prog_type;
    uint32_t insn_cnt;
    uint64_t insns;
    uint64_t license;
    uint32_t log_level;
    uint32_t log_size;
    uint64_t log_buf;
    uint32_t kern_version;
    uint32_t prog_flags;
    char     prog_name[16];
    uint32_t prog_ifindex;
    uint32_t expected_attach_type;
    uint32_t prog_btf_fd;
    uint32_t func_info_rec_size;
    uint64_t func_info;
    uint32_t func_info_cnt;
    uint32_t line_info_rec_size;
    uint64_t line_info;
    uint32_t line_info_cnt;
    uint32_t attach_btf_id;
    union {
        uint32_t attach_prog_fd;
        uint32_t attach_btf_obj_fd;
    };
    uint32_t core_relo_cnt;
    uint64_t fd_array;
    uint64_t core_relos;
    uint32_t core_relo_rec_size;
    uint32_t log_true_size;
    int32_t  prog_token_fd;
};

/* BPF_OBJ_PIN, BPF_OBJ_GET */
struct bpf_attr_obj {
    uint64_t pathname;
    uint32_t bpf_fd;
    uint32_t file_flags;
    int32_t  path_fd;
};

/* BPF_PROG_ATTACH, BPF_PROG_DETACH */
struct bpf_attr_prog_attach {
    union {
        uint32_t target_fd;
        uint32_t target_ifindex;
    };
    uint32_t attach_bpf_fd;
    uint32_t attach_type;
    uint32_t attach_flags;
    uint32_t replace_bpf_fd;
    union {
        uint32_t relative_fd;
        uint32_t relative_id;
    };
    uint64_t expected_revision;
};

/* BPF_PROG_TEST_RUN */
struct bpf_attr_test_run {
    uint32_t prog_fd;
    uint32_t retval;
    uint32_t data_size_in;
    uint32_t data_size_out;
    uint64_t data_in;
    uint64_t data_out;
    uint32_t repeat;
    uint32_t duration;
    uint32_t ctx_size_in;
    uint32_t ctx_size_out;
    uint64_t ctx_in;
    uint64_t ctx_out;
    uint32_t flags;
    uint32_t cpu;
    uint32_t batch_size;
};

/* BPF_*_GET_NEXT_ID, BPF_*_GET_FD_BY_ID */
struct bpf_attr_get_id {
    union {
        uint32_t start_id;
        uint32_t prog_id;
        uint32_t map_id;
        uint32_t btf_id;
        uint32_t link_id;
    };
    uint32_t next_id;
    uint32_t open_flags;
};

/* BPF_OBJ_GET_INFO_BY_FD */
struct bpf_attr_info {
    uint32_t bpf_fd;
    uint32_t info_len;
    uint64_t info;
};

/* BPF_RAW_TRACEPOINT_OPEN */
struct bpf_attr_raw_tp {
    uint64_t name;
    uint32_t prog_fd;
    uint64_t cookie;
};

/* BPF_BTF_LOAD */
struct bpf_attr_btf_load {
    uint64_t btf;
    uint64_t btf_log_buf;
    uint32_t btf_size;
    uint32_t btf_log_size;
    uint32_t btf_log_level;
    uint32_t btf_log_true_size;
    uint32_t btf_flags;
    int32_t  btf_token_fd;
};

/* BPF_LINK_CREATE */
struct bpf_attr_link_create {
    union {
        uint32_t prog_fd;
        uint32_t map_fd;
    };
    union {
        uint32_t target_fd;
        uint32_t target_ifindex;
    };
    uint32_t attach_type;
    uint32_t flags;
    union {
        uint32_t target_btf_id;
        struct {
            uint64_t iter_info;
            uint32_t iter_info_len;
        };
        struct {
            uint64_t bpf_cookie;
        } perf_event;
        struct {
            uint32_t flags;
            uint32_t cnt;
            uint64_t syms;
            uint64_t addrs;
            uint64_t cookies;
        } kprobe_multi;
        struct {
            uint32_t target_btf_id;
            uint64_t cookie;
        } tracing;
        struct {
            uint32_t pf;
            uint32_t hooknum;
            int32_t  priority;
            uint32_t flags;
        } netfilter;
        struct {
            union {
                uint32_t relative_fd;
                uint32_t relative_id;
            };
            uint64_t expected_revision;
        } tcx;
        struct {
            uint64_t path;
            uint64_t offsets;
            uint64_t ref_ctr_offsets;
            uint64_t cookies;
            uint32_t cnt;
            uint32_t flags;
            uint32_t pid;
        } uprobe_multi;
        struct {
            union {
                uint32_t relative_fd;
                uint32_t relative_id;
            };
            uint64_t expected_revision;
        } netkit;
    };
};

/* BPF_LINK_UPDATE */
struct bpf_attr_link_update {
    uint32_t link_fd;
    union {
        uint32_t new_prog_fd;
        uint32_t new_map_fd;
    };
    uint32_t flags;
    union {
        uint32_t old_prog_fd;
        uint32_t old_map_fd;
    };
};

/* BPF_LINK_DETACH */
struct bpf_attr_link_detach {
    uint32_t link_fd;
};

/* BPF_ENABLE_STATS */
struct bpf_attr_enable_stats {
    uint32_t type;
};

/* BPF_ITER_CREATE */
struct bpf_attr_iter_create {
    uint32_t link_fd;
    uint32_t flags;
};

struct bpf_prog_info {
    uint32_t type;
    uint32_t id;
    uint8_t  tag[8];
    uint32_t jited_prog_len;
    uint32_t xlated_prog_len;
    uint64_t jited_prog_insns;
    uint64_t xlated_prog_insns;
    uint64_t load_time;
    uint32_t created_by_uid;
    uint32_t nr_map_ids;
    uint64_t map_ids;
    char     name[16];
    uint32_t ifindex;
    uint32_t gpl_compatible:1;
    uint32_t :31;
    uint64_t netns_dev;
    uint64_t netns_ino;
    uint32_t nr_jited_ksyms;
    uint32_t nr_jited_func_lens;
    uint64_t jited_ksyms;
    uint64_t jited_func_lens;
    uint32_t btf_id;
    uint32_t func_info_rec_size;
    uint64_t func_info;
    uint32_t nr_func_info;
    uint32_t nr_line_info;
    uint64_t line_info;
    uint64_t jited_line_info;
    uint32_t nr_jited_line_info;
    uint32_t line_info_rec_size;
    uint32_t jited_line_info_rec_size;
    uint32_t nr_prog_tags;
    uint64_t prog_tags;
    uint64_t run_time_ns;
    uint64_t run_cnt;
    uint64_t recursion_misses;
    uint32_t verified_insns;
    uint32_t attach_btf_obj_id;
    uint32_t attach_btf_id;
};

struct bpf_map_info {
    uint32_t type;
    uint32_t id;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    char     name[16];
    uint32_t ifindex;
    uint32_t btf_vmlinux_value_type_id;
    uint64_t netns_dev;
    uint64_t netns_ino;
    uint32_t btf_id;
    uint32_t btf_key_type_id;
    uint32_t btf_value_type_id;
    uint32_t btf_vmlinux_id;
    uint64_t map_extra;
};

struct bpf_btf_info {
    uint64_t btf;
    uint32_t btf_size;
    uint32_t id;
    uint64_t name;
    uint32_t name_len;
    uint32_t kernel_btf;
};

struct bpf_link_info {
    uint32_t type;
    uint32_t id;
    uint32_t prog_id;
    union {
        struct {
            uint64_t tp_name;
            uint32_t tp_name_len;
        } raw_tracepoint;
        struct {
            uint32_t attach_type;
            uint32_t target_obj_id;
            uint32_t target_btf_id;
        } tracing;
        struct {
            uint64_t cgroup_id;
            uint32_t attach_type;
        } cgroup;
        struct {
            uint32_t netns_ino;
            uint32_t attach_type;
        } netns;
        struct {
            uint32_t ifindex;
        } xdp;
        struct {
            uint32_t map_id;
        } struct_ops;
        struct {
            uint32_t pf;
            uint32_t hooknum;
            int32_t  priority;
            uint32_t flags;
        } netfilter;
        struct {
            uint32_t ifindex;
            uint32_t attach_type;
        } tcx;
        struct {
            uint32_t ifindex;
            uint32_t attach_type;
        } netkit;
        struct {
            uint32_t type;
        } perf_event;
        uint64_t _union_space[8];
    };
};

/* struct bpf_insn is 8 bytes: code, dst_reg:4 src_reg:4, off, imm. */

struct perf_event_attr {
    uint32_t type;
    uint32_t size;
    uint64_t config;
    union {
        uint64_t sample_period;
        uint64_t sample_freq;
    };
    uint64_t sample_type;
    uint64_t read_format;
    uint64_t flags;          /* the UAPI's bitfield word: disabled:1, inherit:1, ... */
    union {
        uint32_t wakeup_events;
        uint32_t wakeup_watermark;
    };
    uint32_t bp_type;
    union {
        uint64_t bp_addr;
        uint64_t kprobe_func;
        uint64_t uprobe_path;
        uint64_t config1;
    };
    union {
        uint64_t bp_len;
        uint64_t kprobe_addr;
        uint64_t probe_offset;
        uint64_t config2;
    };
    uint64_t branch_sample_type;
    uint64_t sample_regs_user;
    uint32_t sample_stack_user;
    int32_t  clockid;
    uint64_t sample_regs_intr;
    uint32_t aux_watermark;
    uint16_t sample_max_stack;
    uint16_t __reserved_2;
    uint32_t aux_sample_size;
    uint32_t aux_action;
    uint64_t sig_data;
    uint64_t config3;
};
"""



def _build_ffi() -> Any:
    import cffi

    built = cffi.FFI()
    built.cdef(CDEF)
    return built


def generate(path: str) -> None:
    """Write the pre-parsed declarations (cffi out-of-line ABI mode) to ``path``.

    Parsing CDEF with pycparser costs over 100 ms at every import; the
    generated module (``_ffi.py``, committed) skips it.  Run
    ``python -m pyebpf._native.cdef`` after changing CDEF; a test checks
    the committed file is current.
    """
    import os
    import tempfile

    builder = _build_ffi()
    builder.set_source("pyebpf._native._ffi", None)
    with tempfile.TemporaryDirectory() as tmp:
        builder.emit_python_code(os.path.join(tmp, "_ffi.py"))
        with open(os.path.join(tmp, "_ffi.py")) as f:
            text = f.read()
    with open(path, "w") as f:
        f.write(f"# Generated by pyebpf._native.cdef.generate from CDEF: {_digest()}\n" + text)


def _digest() -> str:
    from .._digest import sha256

    return sha256(CDEF.encode()).hexdigest()[:16]


def _load_ffi() -> Any:
    """The pre-parsed declarations when they match CDEF, else parse CDEF now."""
    if _current():
        from ._ffi import ffi as pre_parsed

        return pre_parsed
    return _build_ffi()


def _current() -> bool:
    import os

    path = os.path.join(os.path.dirname(__file__), "_ffi.py")
    try:
        with open(path) as f:
            return f.readline().strip().endswith(_digest())
    except OSError:
        return False


ffi = _load_ffi()
libc = ffi.dlopen(None)

if __name__ == "__main__":
    import os

    generate(os.path.join(os.path.dirname(__file__), "_ffi.py"))
