// CO-RE relocations against a hand-declared slice of task_struct.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

struct task_struct___old {
	int no_such_field;
} __attribute__((preserve_access_index));

__u64 out[4];

SEC("raw_tp/sys_enter")
int core_prog(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();

	out[0] = BPF_CORE_READ(task, pid);
	out[1] = BPF_CORE_READ(task, real_parent, tgid);
	out[2] = bpf_core_field_exists(((struct task_struct___old *)task)->no_such_field);
	out[3] = bpf_core_type_size(struct task_struct);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
